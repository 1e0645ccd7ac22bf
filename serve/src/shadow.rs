//! Shadow scoring: when a challenger is attached, the model that did not decide a request (the
//! challenger, or the champion when the traffic split gave the request to the challenger)
//! decides it too, after the response, on a task of its own; what it made of it is stored in
//! batches for comparison. Shadow results are not the bank's decisions: under overload they
//! are dropped (and counted) rather than slow the responses.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::decision::policy::Policy;
use crate::decision::{self, ServedModel};
use crate::store::{ShadowScore, Store};

const QUEUE: usize = 65_536;
const BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// One stored decision to score again with another model.
#[derive(Debug)]
pub struct ShadowJob {
    pub decision_id: String,
    /// The application as stored (JSON text).
    pub input: String,
    pub model: Arc<ServedModel>,
    pub policy: Arc<Policy>,
}

/// The queue to the shadow task, and what it did.
#[derive(Debug)]
pub struct Shadow {
    tx: mpsc::Sender<ShadowJob>,
    pub dropped: Arc<AtomicU64>,
    pub stored: Arc<AtomicU64>,
}

impl Shadow {
    /// Starts the task that scores and stores; it ends when the `Shadow` is dropped.
    pub fn start(store: Store) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (dropped, stored) = (Arc::default(), Arc::default());
        let task = tokio::spawn(run(store, rx, Arc::clone(&dropped), Arc::clone(&stored)));
        (
            Self {
                tx,
                dropped,
                stored,
            },
            task,
        )
    }

    /// Queues `job` without waiting; a full queue drops it.
    pub fn submit(&self, job: ShadowJob) {
        if self.tx.try_send(job).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<ShadowJob>,
    dropped: Arc<AtomicU64>,
    stored: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut since = Instant::now();
    loop {
        let job = tokio::time::timeout(FLUSH_EVERY, rx.recv()).await;
        let closed = matches!(job, Ok(None));
        if let Ok(Some(job)) = job
            && let Some(score) = score(&job)
        {
            batch.push(score);
        }
        if !batch.is_empty() && (batch.len() >= BATCH || since.elapsed() >= FLUSH_EVERY || closed) {
            match store.insert_shadow_scores(&batch).await {
                Ok(()) => {
                    stored.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                Err(err) => {
                    tracing::warn!(error = %err, count = batch.len(), "shadow scores not stored");
                    dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
            }
            batch.clear();
            since = Instant::now();
        }
        if closed {
            return;
        }
    }
}

/// What `job.model` decides for the stored application; `None` if it cannot (logged).
fn score(job: &ShadowJob) -> Option<ShadowScore> {
    match decision::decide_stored(&job.model, &job.policy, &job.decision_id, &job.input) {
        Ok(decided) => {
            let r = decided.record;
            Some(ShadowScore {
                decision_id: job.decision_id.clone(),
                model_version: r.model_version,
                probability: r.probability,
                score: r.score,
                decision: r.decision,
                reasons: r.reasons.json().as_str().to_owned(),
            })
        }
        Err(err) => {
            tracing::debug!(decision = job.decision_id, error = %err, "shadow model cannot decide");
            None
        }
    }
}
