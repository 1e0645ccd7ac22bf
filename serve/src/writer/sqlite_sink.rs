//! Writing decisions to SQLite on a connection of its own, driven from one thread (the decision
//! writer's, see `writer::sqlite`): each decision is one execution of a prepared statement, and
//! a batch of submissions is one transaction, one sync.
//!
//! Why not sqlx here: each of its SQLite connections runs on a worker thread of its own, so a
//! commit took two thread hand-offs and an async task on top of SQLite's own work, and every
//! value was copied into sqlx's argument buffer first. SQLite allows one writer at a time, so
//! this path is serial, and every microsecond on it was a microsecond of throughput.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, params};

use crate::store::chain::{Head, SQLITE_CHAIN, SQLITE_HEAD_SQL, decision_link};
use crate::store::{NewDecision, sqlite_refused_row};

/// `created_at` as SQLite's own default writes it (`strftime('%Y-%m-%dT%H:%M:%fZ','now')`):
/// every stored timestamp has this one shape, so text order is time order.
const SQLITE_TIME: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

const INSERT: &str = "INSERT INTO decisions (created_at, id, application_id, api_key_id, \
    idempotency_key, request_sha256, input, model_version, policy_version, policy_sha256, \
    probability, score, decision, reasons, latency_us, chain, chain_seq, chain_hash) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
    ON CONFLICT (api_key_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING";

/// What became of one submission (the decisions a handler submitted together) in a batch: for
/// each decision its commit time, or `None` for an idempotent repeat; or the database refused
/// one of its rows, and none of them is stored.
pub(crate) type SubmissionWritten = Result<Vec<Option<DateTime<Utc>>>, rusqlite::Error>;

/// Opens a connection for writing decisions, with the settings of the pool's (WAL, a sync per
/// commit, foreign keys checked). It never checkpoints on its own: see [`Checkpoints`]. Its
/// writes go through [`riskloop_sqlite_vfs`], which hands a commit's WAL frames, and a
/// checkpoint's pages, to the OS in one write instead of one or two per page.
pub(crate) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = riskloop_sqlite_vfs::open(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Waits this long for the pool's writes (keys, reviews, outcomes) to release the lock.
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// A failure after which a commit's fate cannot be told from this process: its WAL frames were
/// all written but the sync failed, so they may be on disk and be found by the next open.
pub(crate) fn fate_unknown(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_IOERR_FSYNC
            || e.extended_code == rusqlite::ffi::SQLITE_IOERR_DIR_FSYNC)
}

/// One small write, committed and synced like a decision: whether the database takes writes
/// now (readiness, and recovery after a failure). It rewrites the one row of `write_probes`.
pub(crate) fn probe(conn: &Connection) -> rusqlite::Result<()> {
    let stamp = Utc::now().format(SQLITE_TIME).to_string();
    conn.prepare_cached(
        "INSERT INTO write_probes (id, probed_at) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at",
    )?
    .execute([stamp])?;
    Ok(())
}

/// Writes `decisions`, split into submissions of the given sizes, in one transaction. A
/// submission is stored whole or not at all: one whose row the database refuses is rolled back
/// alone (a single-row one by SQLite itself, a larger one to its savepoint), and the others
/// are committed. A decision whose `(api_key_id, idempotency_key)` is already stored, or
/// repeated earlier in the batch, is skipped. `Err` is a failure of the database, not of a
/// row: then nothing is known to be committed (see [`stored_at`]).
pub(crate) fn insert_batch(
    conn: &Connection,
    decisions: &[NewDecision],
    submissions: &[usize],
) -> rusqlite::Result<Vec<SubmissionWritten>> {
    let now = Utc::now();
    let stamp = now.format(SQLITE_TIME).to_string();
    // What the column holds, read back: millisecond precision.
    let created = DateTime::parse_from_rfc3339(&stamp).map_or(now, |t| t.with_timezone(&Utc));
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let written =
        insert_submissions(conn, decisions, submissions, &stamp, created).and_then(|written| {
            conn.prepare_cached("COMMIT")?.execute([])?;
            Ok(written)
        });
    if written.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    written
}

fn insert_submissions(
    conn: &Connection,
    decisions: &[NewDecision],
    submissions: &[usize],
    stamp: &str,
    created: DateTime<Utc>,
) -> rusqlite::Result<Vec<SubmissionWritten>> {
    let mut insert = conn.prepare_cached(INSERT)?;
    // Read inside the write transaction: no other writer can move the chain meanwhile, and a
    // restart, or a commit whose fate was unknown, leaves nothing to recover.
    let mut head: Option<Head> = conn
        .prepare_cached(SQLITE_HEAD_SQL)?
        .query_row([SQLITE_CHAIN], |row| {
            Ok(Head {
                seq: row.get(0)?,
                hash: row.get(1)?,
            })
        })
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let mut rows = decisions;
    let mut written = Vec::with_capacity(submissions.len());
    for &n in submissions {
        let (own, rest) = rows.split_at(n);
        rows = rest;
        // One statement fails atomically; several need a savepoint to be undone together.
        let guarded = own.len() > 1;
        let head_before = head.clone();
        if guarded {
            conn.prepare_cached("SAVEPOINT submission")?.execute([])?;
        }
        let mut out = Vec::with_capacity(own.len());
        let mut refused = None;
        for d in own {
            let seq = head.as_ref().map_or(1, |h| h.seq + 1);
            let hash = decision_link(head.as_ref(), seq, created, d);
            let inserted = insert.execute(params![
                stamp,
                d.id,
                d.application_id,
                d.api_key_id,
                d.idempotency_key,
                d.request_sha256,
                d.input.as_str(),
                d.model_version,
                d.policy_version,
                d.policy_sha256,
                d.probability,
                d.score,
                d.decision.as_str(),
                d.reasons.json().as_str(),
                d.latency_us,
                SQLITE_CHAIN,
                seq,
                hash,
            ]);
            match inserted {
                Ok(n) => {
                    if n == 1 {
                        head = Some(Head { seq, hash });
                    }
                    out.push((n == 1).then_some(created));
                }
                Err(err) if sqlite_refused_row(&err) => {
                    refused = Some(err);
                    break;
                }
                Err(err) => return Err(err),
            }
        }
        if guarded {
            if refused.is_some() {
                conn.prepare_cached("ROLLBACK TO submission")?.execute([])?;
                head = head_before;
            }
            conn.prepare_cached("RELEASE submission")?.execute([])?;
        }
        written.push(refused.map_or(Ok(out), Err));
    }
    Ok(written)
}

/// When each of these decisions was committed; those not stored are absent.
pub(crate) fn stored_at(
    conn: &Connection,
    ids: &[&str],
) -> rusqlite::Result<HashMap<String, DateTime<Utc>>> {
    let mut stmt = conn.prepare_cached("SELECT created_at FROM decisions WHERE id = ?1")?;
    let mut stored = HashMap::new();
    for id in ids {
        let at: Option<String> = stmt
            .query_row([id], |row| row.get(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        if let Some(at) = at {
            let at = DateTime::parse_from_rfc3339(&at).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?;
            stored.insert((*id).to_owned(), at.with_timezone(&Utc));
        }
    }
    Ok(stored)
}

/// Checkpoints, kept off the writer's thread. The writer's connection never checkpoints on its
/// own (`wal_autocheckpoint=0`): a checkpoint copies every page a second time, from the WAL
/// into the database file, and syncs that file, which would double the serial work per
/// decision. Instead the writer nudges a checkpointing thread as the WAL grows; that thread
/// copies pages while the writer goes on appending. Under steady load the checkpointer never
/// quite catches up, and the WAL can only start over once every frame in it has been copied,
/// so after [`Checkpoints::RESTART_AFTER`] decisions the writer finishes the copy itself, which
/// by then leaves little to do; its next transaction then writes the WAL from the start again.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    nudge: std::sync::mpsc::SyncSender<()>,
    since_nudge: usize,
    since_restart: usize,
}

impl Checkpoints {
    /// Decisions between nudges. A decision adds about 1.1 pages to the WAL (two rows fill a
    /// page, and each commit writes the last, partly filled pages of the table and its indexes
    /// again), so this is about 280 KB. Small on purpose: each checkpoint ends with a sync of
    /// the database file, and the writer's WAL syncs wait behind it at the disk. With 256
    /// (1 MB) the writer was seen asleep 12.6 ms in one sync while the checkpointer slept
    /// 34 ms in one pass, and the p99 at 13,000 decisions/s over 256 connections passed 10 ms
    /// in 5 of 9 runs; with 64, in 1 of 9. The price: about 2 µs more of the checkpointer's
    /// CPU per decision (`bench/HISTORY.md`, 2026-12-04, fifth session).
    const NUDGE_EVERY: usize = 64;
    /// Decisions after which the writer completes a checkpoint itself: a WAL of about 18 MB.
    const RESTART_AFTER: usize = 4096;

    /// Starts the checkpointing thread on `conn`, a connection of its own ([`open`]) to `file`;
    /// the thread ends when this is dropped. After a failed checkpoint it opens a new one.
    pub(crate) fn start(file: &Path, conn: Connection) -> std::io::Result<Self> {
        let (nudge, nudged) = std::sync::mpsc::sync_channel::<()>(1);
        let file = file.to_owned();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut conn = Some(conn);
                while nudged.recv().is_ok() {
                    let opened = match conn.take() {
                        Some(conn) => Ok(conn),
                        None => open(&file),
                    };
                    match opened.and_then(|c| checkpoint(&c).map(|_| c)) {
                        Ok(c) => conn = Some(c),
                        Err(err) => tracing::warn!(error = %err,
                            "background WAL checkpoint failed; its connection is closed"),
                    }
                }
            })?;
        Ok(Self {
            nudge,
            since_nudge: 0,
            since_restart: 0,
        })
    }

    /// After a commit of `written` decisions on the writer's connection `conn`. An error is
    /// the writer's own checkpoint failing: the caller no longer trusts `conn`.
    pub(crate) fn committed(&mut self, conn: &Connection, written: usize) -> rusqlite::Result<()> {
        self.since_nudge += written;
        self.since_restart += written;
        if self.since_nudge >= Self::NUDGE_EVERY {
            self.since_nudge = 0;
            // Full: a checkpoint is already asked for, and will see these pages too.
            let _ = self.nudge.try_send(());
        }
        // Not copied whole (busy: the background one is running, or a reader holds old pages):
        // next time.
        if self.since_restart >= Self::RESTART_AFTER && checkpoint(conn)? {
            self.since_restart = 0;
        }
        Ok(())
    }
}

/// A passive checkpoint: it copies what it can without waiting for anyone. True when the WAL
/// was copied whole, so the next transaction starts it over.
fn checkpoint(conn: &Connection) -> rusqlite::Result<bool> {
    let (busy, log, copied): (i64, i64, i64) = conn
        .prepare_cached("PRAGMA wal_checkpoint(PASSIVE)")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    tracing::trace!(busy, log, copied, "WAL checkpoint");
    Ok(busy == 0 && log == copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer's own checkpoints alone (no background thread draining the nudges) keep the
    /// WAL from growing past what [`Checkpoints::RESTART_AFTER`] rows write.
    #[test]
    fn the_writer_starts_the_wal_over_after_restart_after_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (x BLOB NOT NULL);")
            .unwrap();
        let conn = open(&path).unwrap();
        // Nudges go nowhere: only the writer checkpoints.
        let (nudge, _nudged) = std::sync::mpsc::sync_channel(1);
        let mut checkpoints = Checkpoints {
            nudge,
            since_nudge: 0,
            since_restart: 0,
        };
        let row = vec![7u8; 1000];
        let wal = path.with_extension("db-wal");
        let mut largest = 0;
        for _ in 0..(3 * Checkpoints::RESTART_AFTER / 64) {
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            for _ in 0..64 {
                conn.execute("INSERT INTO t (x) VALUES (?1)", [&row])
                    .unwrap();
            }
            conn.execute_batch("COMMIT").unwrap();
            checkpoints.committed(&conn, 64).unwrap();
            largest = largest.max(std::fs::metadata(&wal).unwrap().len());
        }
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows as usize, 3 * Checkpoints::RESTART_AFTER / 64 * 64);
        // RESTART_AFTER rows of 1 KB take about 4 MB of pages; three times that without restarts.
        let bound = 2 * (Checkpoints::RESTART_AFTER as u64) * 1100;
        assert!(
            largest < bound,
            "the WAL reached {largest} bytes (bound {bound})"
        );
    }
}
