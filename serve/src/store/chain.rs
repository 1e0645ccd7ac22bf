//! Tamper evidence: hash chains over every record riskloop keeps.
//!
//! Decisions: each writer keeps a chain of its own (`decisions.chain`), and every decision it
//! commits carries its place in it (`chain_seq`) and SHA-256 over the previous link's hash and
//! the row's columns (`chain_hash`). SQLite has one writer at a time, so one chain (`sqlite`),
//! whose head is read inside each batch's write transaction; on PostgreSQL every writer task
//! starts a chain of its own and keeps its head, read again from the database after a commit
//! whose fate it could not tell.
//!
//! Reviews, outcomes, model events, the audit log and policies: one chain, the `ledger`, one
//! link per row, appended in the row's own transaction; the link hashes the row as read back
//! from the database. `riskloop audit verify` ([`Store::verify_chains`]) walks every chain.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::types::Json;

use super::decisions::{Row as DecisionRow, columns as decision_columns};
use super::{NewDecision, Result, Store, on_pool};

/// The chain of SQLite's decision writer.
pub(crate) const SQLITE_CHAIN: &str = "sqlite";

/// SQLite's head: the chained row written last (no index on the chain there, see migration 24).
pub(crate) const SQLITE_HEAD_SQL: &str = "SELECT chain_seq, chain_hash FROM decisions \
     WHERE chain = $1 ORDER BY rowid DESC LIMIT 1";

/// The last link of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub seq: i64,
    pub hash: String,
}

/// A PostgreSQL writer's chain: its name, and its head when known (`None` until read from the
/// database, again after a failed commit).
#[derive(Debug)]
pub(crate) struct Chain {
    pub name: String,
    pub head: Option<Option<Head>>,
}

impl Chain {
    /// A new chain, named so that no other writer can have it.
    pub(crate) fn fresh() -> Self {
        Self {
            name: format!("pg-{}", crate::uuid7::new()),
            head: None,
        }
    }
}

/// A PostgreSQL writer's head, along the `(chain, chain_seq)` index.
pub(crate) const HEAD_SQL: &str = "SELECT chain_seq, chain_hash FROM decisions \
     WHERE chain = $1 ORDER BY chain_seq DESC LIMIT 1";

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn optional(h: &mut Sha256, text: Option<&str>) {
    match text {
        Some(text) => field(h, text.as_bytes()),
        None => h.update(u64::MAX.to_le_bytes()),
    }
}

/// The link of decision `d`, committed at `created_at`, at place `seq` after `prev`: SHA-256
/// over the previous hash and every column, each length-prefixed.
pub(crate) fn decision_link(
    prev: Option<&Head>,
    seq: i64,
    created_at: DateTime<Utc>,
    d: &NewDecision,
) -> String {
    let mut h = Sha256::new();
    optional(&mut h, prev.map(|p| p.hash.as_str()));
    h.update(seq.to_le_bytes());
    h.update(created_at.timestamp_micros().to_le_bytes());
    field(&mut h, d.id.as_bytes());
    optional(&mut h, d.application_id.as_deref());
    h.update(d.api_key_id.to_le_bytes());
    optional(&mut h, d.idempotency_key.as_deref());
    field(&mut h, d.request_sha256.as_bytes());
    field(&mut h, d.input.as_str().as_bytes());
    field(&mut h, d.model_version.as_bytes());
    field(&mut h, d.policy_version.as_bytes());
    field(&mut h, d.policy_sha256.as_bytes());
    h.update(d.probability.to_bits().to_le_bytes());
    h.update(d.score.to_le_bytes());
    field(&mut h, d.decision.as_str().as_bytes());
    field(&mut h, d.reasons.json().as_str().as_bytes());
    h.update(d.latency_us.to_le_bytes());
    crate::digest::hex(&h.finalize())
}

/// The link after `prev` for a ledger row of `source` whose columns read back as `canonical`.
fn ledger_link(prev: Option<&str>, seq: i64, source: &str, key: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    optional(&mut h, prev);
    h.update(seq.to_le_bytes());
    field(&mut h, source.as_bytes());
    field(&mut h, key.as_bytes());
    field(&mut h, canonical.as_bytes());
    crate::digest::hex(&h.finalize())
}

/// The tables the ledger covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Review,
    Outcome,
    ModelEvent,
    Audit,
    Policy,
}

impl Source {
    const ALL: [Self; 5] = [
        Self::Review,
        Self::Outcome,
        Self::ModelEvent,
        Self::Audit,
        Self::Policy,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Review => "review",
            Self::Outcome => "outcome",
            Self::ModelEvent => "model_event",
            Self::Audit => "audit",
            Self::Policy => "policy",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The table, and the key that names a row of it.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Self::Review => ("reviews", "id"),
            Self::Outcome => ("outcomes", "id"),
            Self::ModelEvent => ("model_events", "id"),
            Self::Audit => ("audit_log", "id"),
            Self::Policy => ("policies", "sha256"),
        }
    }
}

/// JSON with every object's keys in order, whatever order the engine gave them back in.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut pairs: Vec<_> = map.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

fn micros(t: DateTime<Utc>) -> serde_json::Value {
    t.timestamp_micros().into()
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = sqlx::Result<T>> + Send + 'a>>;

/// What the ledger needs of a connection, on either engine.
pub(crate) trait LedgerConn: Send {
    /// The row of `source` named `key`, as the ledger hashes it: its columns as a JSON array.
    fn canonical<'a>(&'a mut self, source: Source, key: &'a str) -> Boxed<'a, Option<String>>;
    /// Serialises appends until the transaction ends (SQLite's write lock already does).
    fn lock_ledger(&mut self) -> Boxed<'_, ()>;
    fn ledger_head(&mut self) -> Boxed<'_, Option<(i64, String)>>;
    fn ledger_insert<'a>(&'a mut self, row: (i64, &'a str, &'a str, &'a str)) -> Boxed<'a, ()>;
    /// Inserts a model event (version, event, actor, detail) and gives its id; the caller links
    /// it (`store::models`).
    fn model_event<'a>(
        &'a mut self,
        e: (&'a str, &'a str, &'a str, &'a serde_json::Value),
    ) -> Boxed<'a, i64>;
}

macro_rules! ledger_conn {
    ($conn:ty, $lock:expr) => {
        impl LedgerConn for $conn {
            fn canonical<'a>(
                &'a mut self,
                source: Source,
                key: &'a str,
            ) -> Boxed<'a, Option<String>> {
                Box::pin(async move {
                    let json = match source {
                        Source::Review => {
                            const SQL: &str = "SELECT id, decision_id, api_key_id, decision, \
                                 note, created_at FROM reviews WHERE id = $1";
                            let row: Option<(i64, String, i64, String, String, DateTime<Utc>)> =
                                sqlx::query_as(SQL)
                                    .bind(key.parse::<i64>().unwrap_or(-1))
                                    .fetch_optional(&mut *self)
                                    .await?;
                            row.map(|r| serde_json::json!([r.0, r.1, r.2, r.3, r.4, micros(r.5)]))
                        }
                        Source::Outcome => {
                            const SQL: &str = "SELECT id, decision_id, outcome, observed_at, \
                                 api_key_id, once, created_at FROM outcomes WHERE id = $1";
                            #[allow(clippy::type_complexity)]
                            let row: Option<(
                                i64,
                                String,
                                String,
                                DateTime<Utc>,
                                Option<i64>,
                                Option<i32>,
                                DateTime<Utc>,
                            )> = sqlx::query_as(SQL)
                                .bind(key.parse::<i64>().unwrap_or(-1))
                                .fetch_optional(&mut *self)
                                .await?;
                            row.map(|r| {
                                serde_json::json!([
                                    r.0,
                                    r.1,
                                    r.2,
                                    micros(r.3),
                                    r.4,
                                    r.5,
                                    micros(r.6)
                                ])
                            })
                        }
                        Source::ModelEvent | Source::Audit => {
                            let sql = if source == Source::Audit {
                                "SELECT id, actor, action, target, detail, created_at \
                                 FROM audit_log WHERE id = $1"
                            } else {
                                "SELECT id, model_version, event, actor, detail, created_at \
                                 FROM model_events WHERE id = $1"
                            };
                            #[allow(clippy::type_complexity)]
                            let row: Option<(
                                i64,
                                String,
                                String,
                                String,
                                Json<serde_json::Value>,
                                DateTime<Utc>,
                            )> = sqlx::query_as(sql)
                                .bind(key.parse::<i64>().unwrap_or(-1))
                                .fetch_optional(&mut *self)
                                .await?;
                            row.map(|r| {
                                serde_json::json!([r.0, r.1, r.2, r.3, sorted(r.4.0), micros(r.5)])
                            })
                        }
                        Source::Policy => {
                            const SQL: &str = "SELECT sha256, version, text, created_at \
                                 FROM policies WHERE sha256 = $1";
                            let row: Option<(String, String, String, DateTime<Utc>)> =
                                sqlx::query_as(SQL)
                                    .bind(key)
                                    .fetch_optional(&mut *self)
                                    .await?;
                            row.map(|r| serde_json::json!([r.0, r.1, r.2, micros(r.3)]))
                        }
                    };
                    Ok(json.map(|j| j.to_string()))
                })
            }

            fn lock_ledger(&mut self) -> Boxed<'_, ()> {
                Box::pin(async move {
                    if let Some(sql) = $lock {
                        sqlx::query(sql).execute(&mut *self).await?;
                    }
                    Ok(())
                })
            }

            fn ledger_head(&mut self) -> Boxed<'_, Option<(i64, String)>> {
                Box::pin(async move {
                    sqlx::query_as("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")
                        .fetch_optional(&mut *self)
                        .await
                })
            }

            fn ledger_insert<'a>(
                &'a mut self,
                row: (i64, &'a str, &'a str, &'a str),
            ) -> Boxed<'a, ()> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO ledger (seq, source, source_key, hash) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(row.0)
                    .bind(row.1)
                    .bind(row.2)
                    .bind(row.3)
                    .execute(&mut *self)
                    .await
                    .map(drop)
                })
            }

            fn model_event<'a>(
                &'a mut self,
                e: (&'a str, &'a str, &'a str, &'a serde_json::Value),
            ) -> Boxed<'a, i64> {
                Box::pin(async move {
                    sqlx::query_scalar(
                        "INSERT INTO model_events (model_version, event, actor, detail) \
                         VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(e.0)
                    .bind(e.1)
                    .bind(e.2)
                    .bind(Json(e.3))
                    .fetch_one(&mut *self)
                    .await
                })
            }
        }
    };
}

ledger_conn!(sqlx::SqliteConnection, None::<&str>);
// One key for the ledger's lock, held by a transaction until it ends: "rl-ledger" in ASCII.
ledger_conn!(
    sqlx::PgConnection,
    Some("SELECT pg_advisory_xact_lock(8245884128839722)")
);

/// Appends the link for the row of `source` named `key`, written earlier in the same
/// transaction (on SQLite that write holds the lock that keeps the chain's order).
pub(crate) async fn append<C: LedgerConn + ?Sized>(
    conn: &mut C,
    source: Source,
    key: &str,
) -> sqlx::Result<()> {
    conn.lock_ledger().await?;
    let canonical = conn
        .canonical(source, key)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let head = conn.ledger_head().await?;
    let seq = head.as_ref().map_or(1, |h| h.0 + 1);
    let hash = ledger_link(
        head.as_ref().map(|h| h.1.as_str()),
        seq,
        source.as_str(),
        key,
        &canonical,
    );
    conn.ledger_insert((seq, source.as_str(), key, &hash)).await
}

/// What `riskloop audit verify` found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChainReport {
    /// Every decision chain's name, length and head hash.
    pub chains: Vec<ChainHead>,
    pub decisions_linked: u64,
    /// Decisions stored before chaining began (migration 24); they carry no link.
    pub decisions_before_chaining: u64,
    pub ledger_links: u64,
    /// Records of the ledger's tables stored before it began.
    pub records_before_ledger: u64,
    /// Every broken link found, the first of each chain first.
    pub broken: Vec<BrokenLink>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChainHead {
    pub chain: String,
    pub length: i64,
    pub head: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BrokenLink {
    /// `decisions:<chain>` or `ledger`.
    pub chain: String,
    /// The link's place in its chain (0 for a row that should carry a link and does not).
    pub seq: i64,
    /// The row: a decision id, or `<source>:<key>`.
    pub row: String,
    pub problem: String,
}

impl ChainReport {
    pub fn intact(&self) -> bool {
        self.broken.is_empty()
    }
}

/// A decision row with its link.
#[derive(sqlx::FromRow)]
struct Linked {
    #[sqlx(flatten)]
    row: DecisionRow,
    chain: Option<String>,
    chain_seq: Option<i64>,
    chain_hash: Option<String>,
}

/// Reports at most this many broken links per chain: the first tells where tampering began.
const BROKEN_PER_CHAIN: usize = 20;

impl Store {
    /// Walks every chain: recomputes each decision's link from its row, each ledger link from
    /// the row it names, and finds rows that should carry a link and do not (a decision without
    /// one stored after the first one that has one; a record the ledger does not name, newer
    /// than the oldest one it does). `progress` is told how many decisions were checked.
    pub async fn verify_chains(&self, progress: &(dyn Fn(u64) + Sync)) -> Result<ChainReport> {
        use futures_util::TryStreamExt;
        const DECISIONS: &str = concat!(
            "SELECT ",
            decision_columns!(),
            ", chain, chain_seq, chain_hash FROM decisions WHERE chain IS NOT NULL \
             ORDER BY chain, chain_seq"
        );
        let mut report = ChainReport::default();
        let mut current: Option<(String, Option<Head>, usize)> = None;
        let mut checked = 0u64;
        let walked: Result<(), sqlx::Error> = on_pool!(self, pool => async {
            let mut rows = sqlx::query_as::<_, Linked>(DECISIONS).fetch(pool);
            while let Some(linked) = rows.try_next().await? {
                let (Some(chain), Some(seq), Some(hash)) =
                    (linked.chain.clone(), linked.chain_seq, linked.chain_hash.clone())
                else {
                    continue;
                };
                if current.as_ref().is_none_or(|c| c.0 != chain) {
                    if let Some(done) = current.take() {
                        report.chains.push(finished(done));
                    }
                    current = Some((chain.clone(), None, 0));
                }
                let (name, head, broken) = current.as_mut().expect("set above");
                let decision = crate::store::Decision::try_from(linked.row);
                let id = decision.as_ref().map_or_else(|_| "?".to_owned(), |d| d.record.id.clone());
                let expected_seq = head.as_ref().map_or(1, |h| h.seq + 1);
                let problem = match &decision {
                    Err(e) => Some(format!("the row cannot be read: {e}")),
                    Ok(_) if seq != expected_seq => Some(format!(
                        "link {seq} follows link {} (a decision is missing)",
                        expected_seq - 1
                    )),
                    Ok(d) if decision_link(head.as_ref(), seq, d.created_at, &d.record) != hash => {
                        Some("the row does not match its hash (it was changed)".into())
                    }
                    Ok(_) => None,
                };
                if let Some(problem) = problem {
                    if *broken < BROKEN_PER_CHAIN {
                        report.broken.push(BrokenLink {
                            chain: format!("decisions:{name}"),
                            seq,
                            row: id,
                            problem,
                        });
                    }
                    *broken += 1;
                }
                *head = Some(Head { seq, hash });
                report.decisions_linked += 1;
                checked += 1;
                if checked.is_multiple_of(100_000) {
                    progress(checked);
                }
            }
            Ok(())
        }.await);
        walked?;
        if let Some(done) = current.take() {
            report.chains.push(finished(done));
        }
        progress(checked);
        self.verify_unlinked_decisions(&mut report).await?;
        self.verify_ledger(&mut report).await?;
        Ok(report)
    }

    /// Decisions without a link: fine before chaining began, tampering after (a decision's id
    /// sorts by the time it was made).
    async fn verify_unlinked_decisions(&self, report: &mut ChainReport) -> Result<()> {
        let (before, after) = self
            .unlinked(
                "decisions t WHERE t.chain IS NULL",
                "t.id > (SELECT MIN(id) FROM decisions WHERE chain IS NOT NULL)",
                "t.id",
            )
            .await?;
        report.decisions_before_chaining += before;
        report.broken.extend(after.into_iter().map(|id| {
            BrokenLink {
                chain: "decisions".into(),
                seq: 0,
                row: id,
                problem: "a decision stored after chaining began carries no link \
                      (it was written behind riskloop's back)"
                    .into(),
            }
        }));
        Ok(())
    }

    /// Rows selected by `rows` (`<table> t WHERE <no link>`): how many are older than `after`
    /// allows (stored before chaining began), and the keys of the first of those that are not.
    async fn unlinked(&self, rows: &str, after: &str, key: &str) -> Result<(u64, Vec<String>)> {
        let all = format!("SELECT COUNT(*) FROM {rows}");
        let listed = format!(
            "SELECT CAST({key} AS TEXT) FROM {rows} AND {after} ORDER BY {key} \
             LIMIT {BROKEN_PER_CHAIN}"
        );
        let late = format!("SELECT COUNT(*) FROM {rows} AND {after}");
        let (all, late, listed): (i64, i64, Vec<String>) = on_pool!(self, pool => {
            let all = sqlx::query_scalar(sqlx::AssertSqlSafe(all)).fetch_one(pool).await?;
            let late = sqlx::query_scalar(sqlx::AssertSqlSafe(late)).fetch_one(pool).await?;
            let listed = sqlx::query_scalar(sqlx::AssertSqlSafe(listed)).fetch_all(pool).await?;
            (all, late, listed)
        });
        let mut keys = listed;
        if late > i64::try_from(keys.len()).unwrap_or(i64::MAX) {
            keys.push(format!("… and {} more", late - keys.len() as i64));
        }
        Ok((u64::try_from(all - late).unwrap_or(0), keys))
    }

    async fn verify_ledger(&self, report: &mut ChainReport) -> Result<()> {
        const LINKS: &str = "SELECT seq, source, source_key, hash FROM ledger ORDER BY seq";
        let walked: Result<(), sqlx::Error> = on_pool!(self, pool => async {
            let mut conn = pool.acquire().await?;
            let links: Vec<(i64, String, String, String)> =
                sqlx::query_as(LINKS).fetch_all(&mut *conn).await?;
            let mut prev: Option<String> = None;
            let mut broken = 0;
            for (seq, source, key, hash) in links {
                let expected = i64::try_from(report.ledger_links).unwrap_or(i64::MAX) + 1;
                let problem = if seq != expected {
                    Some(format!("link {seq} follows link {} (a link is missing)", expected - 1))
                } else if let Some(kind) = Source::parse(&source) {
                    match conn.canonical(kind, &key).await? {
                        None => Some("the record it names is gone".into()),
                        Some(canonical)
                            if ledger_link(prev.as_deref(), seq, &source, &key, &canonical)
                                != hash =>
                        {
                            Some("the record does not match its hash (it was changed)".into())
                        }
                        Some(_) => None,
                    }
                } else {
                    Some(format!("unknown source {source}"))
                };
                if let Some(problem) = problem {
                    if broken < BROKEN_PER_CHAIN {
                        report.broken.push(BrokenLink {
                            chain: "ledger".into(),
                            seq,
                            row: format!("{source}:{key}"),
                            problem,
                        });
                    }
                    broken += 1;
                }
                prev = Some(hash);
                report.ledger_links += 1;
            }
            Ok(())
        }.await);
        walked?;
        for source in Source::ALL {
            let (table, key) = source.table();
            let name = source.as_str();
            let linked = |t: &str| {
                format!(
                    "EXISTS (SELECT 1 FROM ledger l WHERE l.source = '{name}' \
                     AND l.source_key = CAST({t}.{key} AS TEXT))"
                )
            };
            let (before, after) = self
                .unlinked(
                    &format!("{table} t WHERE NOT {}", linked("t")),
                    &format!(
                        "t.created_at >= (SELECT MIN(f.created_at) FROM {table} f WHERE {})",
                        linked("f")
                    ),
                    &format!("t.{key}"),
                )
                .await?;
            report.records_before_ledger += before;
            report.broken.extend(after.into_iter().map(|key| {
                BrokenLink {
                    chain: "ledger".into(),
                    seq: 0,
                    row: format!("{name}:{key}"),
                    problem: "a record stored after the ledger began is not in it \
                          (it was written behind riskloop's back)"
                        .into(),
                }
            }));
        }
        Ok(())
    }
}

fn finished((chain, head, _): (String, Option<Head>, usize)) -> ChainHead {
    let (length, head) = head.map_or((0, String::new()), |h| (h.seq, h.hash));
    ChainHead {
        chain,
        length,
        head,
    }
}
