//! SQLite's decision writer: one thread that owns a connection, gathers what is queued, commits
//! it in one transaction and answers every waiting handler. SQLite takes one writer at a time,
//! so this thread is the serial part of every decision; it does nothing but SQLite's work, and
//! checkpoints run on another thread (`store::sqlite_decisions::Checkpoints`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::{Job, SubmitError, Waiting, WriterSettings, answer_all, answers_after_failure, take};
use crate::metrics::Metrics;
use crate::store::sqlite_decisions::{self, Checkpoints};
use crate::store::{NewDecision, StoreError};

/// Starts the thread; the receiver it returns resolves once the queue is closed, drained and
/// committed.
pub(super) fn start(
    file: &Path,
    queue: mpsc::Receiver<Job>,
    settings: WriterSettings,
    metrics: Arc<Metrics>,
) -> Result<oneshot::Receiver<()>, StoreError> {
    let opening = |source| StoreError::WriterOpen {
        path: file.display().to_string(),
        source,
    };
    let conn = sqlite_decisions::open(file).map_err(opening)?;
    let checkpoints = Checkpoints::start(sqlite_decisions::open(file).map_err(opening)?)
        .map_err(StoreError::Thread)?;
    let (done, flushed) = oneshot::channel();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            run(&conn, queue, settings, &metrics, checkpoints);
            drop(conn);
            let _ = done.send(());
        })
        .map_err(StoreError::Thread)?;
    Ok(flushed)
}

fn run(
    conn: &rusqlite::Connection,
    mut queue: mpsc::Receiver<Job>,
    settings: WriterSettings,
    metrics: &Metrics,
    mut checkpoints: Checkpoints,
) {
    let linger = Duration::from_micros(settings.linger_us.unwrap_or(0));
    let mut decisions: Vec<NewDecision> = Vec::with_capacity(settings.max_batch);
    let mut replies: Vec<Waiting> = Vec::new();
    let mut sizes: Vec<usize> = Vec::new();
    while let Some(first) = queue.blocking_recv() {
        take(first, &mut decisions, &mut replies);
        if !linger.is_zero() && decisions.len() < settings.max_batch {
            std::thread::sleep(linger);
        }
        while decisions.len() < settings.max_batch {
            match queue.try_recv() {
                Ok(job) => take(job, &mut decisions, &mut replies),
                Err(_) => break,
            }
        }
        metrics.queue_depth(queue.len());
        sizes.clear();
        sizes.extend(replies.iter().map(|(_, n)| *n));
        let batch = decisions.len();
        let started = Instant::now();
        let written = sqlite_decisions::insert_batch(conn, &decisions, &sizes);
        metrics.writer_batch(batch, started.elapsed());
        match written {
            Ok(written) => {
                let answers = written.into_iter().map(|answer| match answer {
                    Ok(w) => Ok(w.into_iter().map(super::written_as).collect()),
                    Err(err) => {
                        tracing::error!(error = %err, "decision submission refused");
                        Err(SubmitError::Refused(err.to_string()))
                    }
                });
                answer_all(&mut replies, &mut decisions, answers);
                checkpoints.committed(conn, batch);
            }
            Err(err) => {
                tracing::error!(error = %err, batch, "decision batch failed");
                // A failed COMMIT can still have reached the WAL: ask what is stored.
                let ids: Vec<&str> = decisions.iter().map(|d| d.id.as_str()).collect();
                let stored = sqlite_decisions::stored_at(conn, &ids).map_err(|e| e.to_string());
                let answers = answers_after_failure(&decisions, &sizes, stored, &err.to_string());
                answer_all(&mut replies, &mut decisions, answers);
            }
        }
    }
}
