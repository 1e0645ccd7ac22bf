//! Durable decision write-back with group commit: handlers queue their decisions and wait; a
//! writer (a thread on SQLite, see [`sqlite`]; tasks on PostgreSQL) takes everything queued (up
//! to a batch size; what queued while the previous batch committed) and commits it in one
//! transaction, then answers every waiting handler. What one handler submits together is
//! committed together: a batch request is stored whole or not at all, and a submission the
//! database refuses fails alone, not the others gathered with it. The queue is bounded: when
//! it is full the handler gets [`SubmitError::Full`] at once (503), never unbounded memory.
//! While the database refuses writes (a full disk, a lost server) submissions are refused at
//! once as well ([`health`]), until a probe finds it writable again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{NewDecision, Store, StoreError};
use crate::telemetry::metrics::Metrics;

pub mod health; // whether the database takes writes now; fail fast while it does not
mod once; // the same write, once, for tools and tests
pub mod postgres; // PostgreSQL's sink: one multi-row insert per batch, settled after a failure
mod reply; // answers to the HTTP workers, one message per worker and commit
mod sqlite; // SQLite's writer thread
pub(crate) mod sqlite_sink; // SQLite's SQL: batches, savepoints, checkpoints, probes
mod tasks; // PostgreSQL's writer tasks

pub use health::WriteHealth;

use reply::{Post, ReplyTo};

#[derive(Clone, Copy, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterSettings {
    /// Submissions waiting for a commit, at most (a batch request is one submission).
    pub queue: usize,
    /// Decisions per commit, at most; a larger single submission is still committed whole.
    pub max_batch: usize,
    /// How long a commit waits for more decisions when fewer than `max_batch` are queued.
    /// Unset (the default), it takes what is queued and waits for nothing, like PostgreSQL's
    /// own `commit_delay` of 0: under load the queue fills while the previous batch commits,
    /// and a wait adds to every request's latency, so with a fixed number of clients it costs
    /// throughput. Measured on SQLite: a 200 µs wait kept the writer out of its commits about
    /// 440 µs a cycle on a busy machine, as the woken thread also waits for a core, and took
    /// 7–19 % off the decisions/s at 64 connections (`bench/HISTORY.md`). Set, every commit
    /// waits that long (on PostgreSQL, tokio's timer rounds it up to a millisecond).
    pub linger_us: Option<u64>,
    /// Concurrent committing tasks on PostgreSQL; 0 picks 2: one gathers and inserts while the
    /// other waits for its commit to be flushed, and more tasks only split the same decisions
    /// into smaller batches (see `bench/HISTORY.md`). SQLite takes one writer, always.
    pub tasks: usize,
}

impl Default for WriterSettings {
    fn default() -> Self {
        Self {
            queue: 8192,
            max_batch: 512,
            linger_us: None,
            tasks: 0,
        }
    }
}

/// What became of one submitted decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Committed at this time.
    Committed(DateTime<Utc>),
    /// Not written: the same API key already stored this idempotency key.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the decision queue is full")]
    Full,
    #[error("the decision writer has stopped")]
    Closed,
    #[error("the database refused the decisions: {0}")]
    Refused(String),
    #[error("the decisions were not stored: committing them failed")]
    NotStored,
    #[error("the database refuses writes now ({0}); nothing was written")]
    Unavailable(String),
    #[error("committing the batch failed, and whether it was stored is unknown: {0}")]
    Store(String),
}

/// What the writer is asked to do.
#[derive(Debug)]
enum Job {
    /// Decisions to commit in one transaction, and where to send what became of each.
    Decisions(Vec<NewDecision>, ReplyTo),
    /// Find out whether the database takes a write now: answered with the fate of the commit
    /// it is gathered into, or, with nothing else queued, of a probe write of its own.
    Probe(ProbeReply),
}

type ProbeReply = oneshot::Sender<Result<(), String>>;

/// What became of a submission, and its records handed back: they are dropped by the handler,
/// on the thread that allocated them. Freed on the writer's thread, they cost the serial writer
/// the allocator's cross-thread frees, and the HTTP workers cache misses when that memory came
/// back to them.
type Reply = (Result<Vec<Written>, SubmitError>, Vec<NewDecision>);

#[derive(Clone, Debug)]
pub struct DecisionWriter {
    queue: mpsc::Sender<Job>,
    health: Arc<WriteHealth>,
}

/// A write this recent shows the database takes writes; older, readiness asks with a probe.
const FRESH: Duration = Duration::from_secs(2);
/// How long readiness waits for a probe: it answers within a second, whatever the database does.
const READY_PROBE_WAIT: Duration = Duration::from_millis(900);

/// Join this after the last [`DecisionWriter`] is dropped: it returns when the queue is flushed.
#[derive(Debug)]
pub struct WriterTasks {
    tasks: Vec<JoinHandle<()>>,
    thread: Option<oneshot::Receiver<()>>,
}

impl WriterTasks {
    pub async fn flushed(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(thread) = self.thread {
            // Resolves, with an error, when the thread drops its end: it has finished.
            let _ = thread.await;
        }
    }
}

impl DecisionWriter {
    /// Starts the writer on `store`: on SQLite a thread with a connection of its own (the
    /// file must be there, migrated), on PostgreSQL tasks on the pool.
    pub fn start(
        store: &Store,
        settings: WriterSettings,
        metrics: &Arc<Metrics>,
    ) -> Result<(Self, WriterTasks), StoreError> {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let health = Arc::new(WriteHealth::default());
        let tasks = if let Some(file) = store.sqlite_file() {
            let thread = sqlite::start(&file, rx, settings, metrics.clone(), health.clone())?;
            WriterTasks {
                tasks: Vec::new(),
                thread: Some(thread),
            }
        } else {
            let rx = Arc::new(Mutex::new(rx));
            let tasks = if settings.tasks == 0 {
                2
            } else {
                settings.tasks
            };
            // Each task keeps a connection for itself when that leaves others for the requests.
            let hold = store.max_connections() as usize > tasks;
            let handles = (0..tasks)
                .map(|_| {
                    let sink = store.decision_sink(hold);
                    let (rx, metrics, health) = (rx.clone(), metrics.clone(), health.clone());
                    tokio::spawn(tasks::run(sink, rx, settings, metrics, health))
                })
                .collect();
            WriterTasks {
                tasks: handles,
                thread: None,
            }
        };
        Ok((Self { queue: tx, health }, tasks))
    }

    /// Queues `decisions` and waits until all of them are committed, in one transaction, or
    /// none is. The answer holds one entry per decision, in order. While the database refuses
    /// writes, nothing is queued: [`SubmitError::Unavailable`] at once.
    pub async fn submit(&self, decisions: Vec<NewDecision>) -> Result<Vec<Written>, SubmitError> {
        if self.health.is_down() {
            return Err(self.unavailable());
        }
        let (reply, answer) = ReplyTo::channel();
        self.queue
            .try_send(Job::Decisions(decisions, reply))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SubmitError::Full,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Closed,
            })?;
        let (written, records) = answer.await.map_err(|_| SubmitError::Closed)?;
        drop(records);
        written
    }

    /// Asks the writer whether the database takes a write now, waiting at most `within`.
    pub async fn probe(&self, within: Duration) -> Result<(), SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Job::Probe(reply))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SubmitError::Full,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Closed,
            })?;
        match tokio::time::timeout(within, answer).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(cause))) => Err(SubmitError::Unavailable(cause)),
            Ok(Err(_)) => Err(SubmitError::Closed),
            Err(_) => Err(SubmitError::Unavailable(format!(
                "no write was confirmed within {} ms",
                within.as_millis()
            ))),
        }
    }

    /// Whether a decision can be stored now, answered within a second: a recent write says
    /// so, a failing one says not; otherwise a probe asks the database.
    pub async fn ready(&self) -> Result<(), SubmitError> {
        if self.health.is_down() {
            return Err(self.unavailable());
        }
        if self.health.fresh(FRESH) {
            return Ok(());
        }
        self.probe(READY_PROBE_WAIT).await
    }

    pub fn health(&self) -> &WriteHealth {
        &self.health
    }

    fn unavailable(&self) -> SubmitError {
        SubmitError::Unavailable(
            self.health
                .failure()
                .unwrap_or_else(|| "the last write failed".into()),
        )
    }

    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

/// What one commit carries: the decisions of the submissions gathered, where to answer each,
/// and the probes that wait for its fate.
#[derive(Debug, Default)]
struct Gathered {
    decisions: Vec<NewDecision>,
    replies: Vec<Waiting>,
    probes: Vec<ProbeReply>,
}

impl Gathered {
    /// The one gathering rule, for both engines: the first job, then whatever is queued, up
    /// to `max_batch` decisions. With a linger set and room left, the caller waits that long
    /// between the two (on its thread or its task: the returned wait).
    fn begin(&mut self, first: Job, settings: &WriterSettings) -> Option<Duration> {
        self.take(first);
        let linger = Duration::from_micros(settings.linger_us.unwrap_or(0));
        (!linger.is_zero() && self.decisions.len() < settings.max_batch).then_some(linger)
    }

    /// Takes what is queued, up to `max_batch` decisions.
    fn fill(&mut self, queue: &mut mpsc::Receiver<Job>, max_batch: usize) {
        while self.decisions.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => self.take(job),
                Err(_) => break,
            }
        }
    }

    fn take(&mut self, job: Job) {
        match job {
            Job::Decisions(batch, reply) => {
                self.replies.push((reply, batch.len()));
                self.decisions.extend(batch);
            }
            Job::Probe(reply) => self.probes.push(reply),
        }
    }

    fn sizes(&self) -> Vec<usize> {
        self.replies.iter().map(|(_, n)| *n).collect()
    }

    /// Records whether the database took this write, and tells the waiting probes.
    fn settle_probes(&mut self, health: &WriteHealth, result: &Result<(), String>) {
        match result {
            Ok(()) => health.succeeded(),
            Err(cause) => health.failed(cause),
        }
        for probe in self.probes.drain(..) {
            let _ = probe.send(result.clone());
        }
    }
}

/// Answers every waiting submission, in order, handing each back its records (see [`Reply`]),
/// in one message per HTTP worker (see [`reply`]).
pub(crate) fn answer_all(
    replies: &mut Vec<Waiting>,
    decisions: &mut Vec<NewDecision>,
    answers: impl IntoIterator<Item = Result<Vec<Written>, SubmitError>>,
) {
    let mut records = decisions.drain(..);
    let mut post = Post::default();
    for ((reply, n), answer) in replies.drain(..).zip(answers) {
        post.add(reply, (answer, records.by_ref().take(n).collect()));
    }
    post.send();
}

/// What to answer each submission of a batch whose commit failed, given what the database
/// holds of it afterwards (`stored`: each stored decision's commit time). A batch is one
/// transaction, stored whole or not at all; a submission is answered with an error only when
/// its decisions are known not to be stored (safe to retry), or when even that cannot be told.
pub(crate) fn answers_after_failure(
    decisions: &[NewDecision],
    sizes: &[usize],
    stored: Result<HashMap<String, DateTime<Utc>>, String>,
    failure: &str,
) -> Vec<Result<Vec<Written>, SubmitError>> {
    let stored = match stored {
        Ok(stored) => stored,
        Err(err) => {
            tracing::error!(error = %err, batch = decisions.len(),
                "cannot tell whether the failed decision batch was stored");
            return sizes
                .iter()
                .map(|_| Err(SubmitError::Store(failure.to_owned())))
                .collect();
        }
    };
    if stored.is_empty() {
        return sizes.iter().map(|_| Err(SubmitError::NotStored)).collect();
    }
    tracing::warn!(
        batch = decisions.len(),
        "the failed decision batch was committed after all"
    );
    let mut rows = decisions;
    sizes
        .iter()
        .map(|&n| {
            let (own, rest) = rows.split_at(n);
            rows = rest;
            // In a committed batch, a keyed decision not stored was an idempotent repeat.
            let written: Option<Vec<Written>> = own
                .iter()
                .map(|d| match stored.get(&d.id) {
                    Some(at) => Some(Written::Committed(*at)),
                    None => d.idempotency_key.is_some().then_some(Written::Duplicate),
                })
                .collect();
            written.ok_or_else(|| SubmitError::Store(failure.to_owned()))
        })
        .collect()
}

fn written_as(committed: Option<DateTime<Utc>>) -> Written {
    committed.map_or(Written::Duplicate, Written::Committed)
}

type Waiting = (ReplyTo, usize);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DecisionKind, JsonText, Reasons};

    fn record(id: &str) -> NewDecision {
        NewDecision {
            id: id.to_owned(),
            application_id: None,
            api_key_id: 1,
            idempotency_key: None,
            request_sha256: String::new(),
            input: JsonText::encode(&serde_json::json!({})).unwrap(),
            model_version: "m".into(),
            policy_version: "p".into(),
            policy_sha256: String::new(),
            probability: 0.5,
            score: 600,
            decision: DecisionKind::Review,
            reasons: Reasons::new::<String>(&[]).unwrap(),
            latency_us: 0,
        }
    }

    /// Each submission of a batch gets its own answer and its own records back, in the order
    /// they were gathered, and the batch is left empty for the next one.
    #[test]
    fn answer_all_hands_each_submission_its_answer_and_records() {
        let mut decisions: Vec<NewDecision> = ["a", "b", "c", "d"].map(record).into();
        let mut replies = Vec::new();
        let mut receivers = Vec::new();
        for n in [2, 1, 1] {
            let (tx, rx) = ReplyTo::channel();
            replies.push((tx, n));
            receivers.push(rx);
        }
        let at = Utc::now();
        let answers = vec![
            Ok(vec![Written::Committed(at), Written::Duplicate]),
            Err(SubmitError::NotStored),
            Ok(vec![Written::Committed(at)]),
        ];
        answer_all(&mut replies, &mut decisions, answers);
        assert!(decisions.is_empty() && replies.is_empty());
        let got: Vec<_> = receivers
            .into_iter()
            .map(|mut rx| {
                let (answer, records) = rx.try_recv().unwrap();
                let ids: Vec<String> = records.into_iter().map(|d| d.id).collect();
                (answer, ids)
            })
            .collect();
        assert_eq!(
            got[0].0.as_ref().unwrap(),
            &[Written::Committed(at), Written::Duplicate]
        );
        assert_eq!(got[0].1, ["a", "b"]);
        assert!(matches!(got[1].0, Err(SubmitError::NotStored)));
        assert_eq!(got[1].1, ["c"]);
        assert_eq!(got[2].0.as_ref().unwrap(), &[Written::Committed(at)]);
        assert_eq!(got[2].1, ["d"]);
    }
}
