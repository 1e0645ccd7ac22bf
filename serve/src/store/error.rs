//! What can go wrong in the store, told apart the way callers need: a row refused (the
//! caller's fault: the same batch without it can be written), the database unavailable
//! (worth retrying later), nothing sent at all, and the rest.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL `{0}`: use sqlite://FILE or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to {target}: {source}")]
    Connect { target: String, source: sqlx::Error },
    #[error("migrating {target} failed: {source}")]
    Migrate {
        target: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    #[error("cannot tell whether a failed commit was stored: {0}")]
    Unsettled(String),
    /// No connection could be had: nothing was sent to the database.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("SQLite: {0}")]
    Sqlite(rusqlite::Error),
    #[error("cannot start a database thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot open the decision writer's connection to {path}: {source}")]
    WriterOpen {
        path: String,
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// A uniqueness or constraint violation, i.e. the caller's fault rather than the database's.
    pub(crate) fn from_write(err: sqlx::Error, what: impl FnOnce() -> String) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what()),
            _ => Self::Database(err),
        }
    }

    /// A write's error from the SQLite connection the decision writer uses.
    pub(crate) fn from_sqlite(err: rusqlite::Error) -> Self {
        if is_unique_violation(&err) {
            Self::Conflict("a decision with this id".into())
        } else {
            Self::Sqlite(err)
        }
    }

    /// The database refused a row it was given (a clash, a check, a missing reference, a value
    /// it cannot hold), as opposed to failing itself: the same statement without that row can
    /// succeed.
    pub fn is_refused_row(&self) -> bool {
        match self {
            Self::Conflict(_) => true,
            Self::Sqlite(err) => sqlite_refused_row(err),
            Self::Database(sqlx::Error::Database(db)) => {
                !matches!(db.kind(), sqlx::error::ErrorKind::Other)
                    // PostgreSQL's data exceptions (class 22): a value the column cannot hold.
                    || (db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some()
                        && db.code().is_some_and(|code| code.starts_with("22")))
            }
            _ => false,
        }
    }

    /// The request never reached the database: no connection could be had.
    pub fn never_sent(&self) -> bool {
        matches!(self, Self::Unavailable(_))
            || matches!(self, Self::Database(e) if matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed))
    }

    /// The database cannot be reached or cannot write now (a lost server, a full disk, a lock
    /// held too long), as opposed to refusing what it was given: worth retrying later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::Connect { .. } => true,
            Self::Database(err) => sqlx_unavailable(err),
            Self::Sqlite(err) | Self::WriterOpen { source: err, .. } => {
                err.sqlite_error_code().is_some_and(sqlite_unavailable)
            }
            _ => false,
        }
    }
}

/// A constraint the row breaks (a clashing id, a failed check, a missing reference): the same
/// batch without that row can be committed.
pub(crate) fn sqlite_refused_row(err: &rusqlite::Error) -> bool {
    err.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

/// A clash with a stored row's id or key, as opposed to another refusal.
fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// Errors of a database that is down or cannot write, as sqlx reports them.
fn sqlx_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                let code = db.code().and_then(|c| c.parse::<i32>().ok());
                return code.is_some_and(|c| sqlite_unavailable(rusqlite::ffi::Error::new(c).code));
            }
            // PostgreSQL: connection exceptions (08), insufficient resources such as a full
            // disk (53), an operator or crash shutdown (57P), a read-only standby (25006).
            db.code().is_some_and(|code| {
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P")
                    || code == "25006"
            })
        }
        _ => false,
    }
}

/// SQLite's codes for a database that cannot write now.
fn sqlite_unavailable(code: rusqlite::ErrorCode) -> bool {
    use rusqlite::ErrorCode as C;
    matches!(
        code,
        C::DiskFull
            | C::SystemIoFailure
            | C::DatabaseBusy
            | C::DatabaseLocked
            | C::CannotOpen
            | C::ReadOnly
            | C::OutOfMemory
    )
}
