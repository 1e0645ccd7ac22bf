//! SQLite's decision writer: one thread that owns a connection, gathers what is queued, commits
//! it in one transaction and answers every waiting handler. SQLite takes one writer at a time,
//! so this thread is the serial part of every decision; it does nothing but SQLite's work, and
//! checkpoints run on another thread (`store::sqlite_sink::Checkpoints`).
//!
//! After a failed commit (a full disk, an I/O error) the transaction is rolled back and the
//! connection is not trusted again: it is closed, and the next job opens a new one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::sqlite_sink::{self, Checkpoints};
use super::{Gathered, Job, SubmitError, WriteHealth, WriterSettings, answer_all};
use super::{answers_after_failure, written_as};
use crate::store::StoreError;
use crate::telemetry::metrics::Metrics;

/// Starts the thread; the receiver it returns resolves once the queue is closed, drained and
/// committed.
pub(super) fn start(
    file: &Path,
    queue: mpsc::Receiver<Job>,
    settings: WriterSettings,
    metrics: Arc<Metrics>,
    health: Arc<WriteHealth>,
) -> Result<oneshot::Receiver<()>, StoreError> {
    let conn = sqlite_sink::open(file).map_err(|source| StoreError::WriterOpen {
        path: file.display().to_string(),
        source,
    })?;
    let checkpointer = sqlite_sink::open(file).map_err(|source| StoreError::WriterOpen {
        path: file.display().to_string(),
        source,
    })?;
    let checkpoints = Checkpoints::start(file, checkpointer).map_err(StoreError::Thread)?;
    let (done, flushed) = oneshot::channel();
    let writer = Writer {
        file: file.to_owned(),
        conn: Some(conn),
        checkpoints,
        metrics,
        health,
    };
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            writer.run(queue, settings);
            let _ = done.send(());
        })
        .map_err(StoreError::Thread)?;
    Ok(flushed)
}

struct Writer {
    file: PathBuf,
    /// None after a failure, until the next job opens the file again.
    conn: Option<Connection>,
    checkpoints: Checkpoints,
    metrics: Arc<Metrics>,
    health: Arc<WriteHealth>,
}

impl Writer {
    fn run(mut self, mut queue: mpsc::Receiver<Job>, settings: WriterSettings) {
        let mut batch = Gathered {
            decisions: Vec::with_capacity(settings.max_batch),
            ..Gathered::default()
        };
        while let Some(first) = queue.blocking_recv() {
            if let Some(wait) = batch.begin(first, &settings) {
                std::thread::sleep(wait);
            }
            batch.fill(&mut queue, settings.max_batch);
            self.metrics.queue_depth(queue.len());
            self.commit(&mut batch);
        }
    }

    /// Commits the batch (or, holding only probes, a probe write) and answers everyone. After a
    /// failure the connection is closed, and a probe on a new one tells at once whether the
    /// database takes writes.
    fn commit(&mut self, batch: &mut Gathered) {
        let fate = if batch.decisions.is_empty() {
            self.probe()
        } else {
            self.write(batch).or_else(|_| {
                self.conn = None;
                self.probe()
            })
        };
        batch.settle_probes(&self.health, &fate);
    }

    /// A probe write; a connection it fails on is closed.
    fn probe(&mut self) -> Result<(), String> {
        let probed = connection(&mut self.conn, &self.file)
            .and_then(sqlite_sink::probe)
            .map_err(|e| e.to_string());
        if probed.is_err() {
            self.conn = None;
        }
        probed
    }

    /// Writes and answers the batch's decisions; `Err` when the connection is no longer to be
    /// trusted.
    fn write(&mut self, batch: &mut Gathered) -> Result<(), String> {
        let conn = match connection(&mut self.conn, &self.file) {
            Ok(conn) => conn,
            Err(err) => {
                let answers: Vec<_> = batch
                    .replies
                    .iter()
                    .map(|_| Err(SubmitError::NotStored))
                    .collect();
                answer_all(&mut batch.replies, &mut batch.decisions, answers);
                return Err(format!("cannot open the database for writing: {err}"));
            }
        };
        let sizes = batch.sizes();
        let size = batch.decisions.len();
        let started = Instant::now();
        let written = sqlite_sink::insert_batch(conn, &batch.decisions, &sizes);
        self.metrics.writer_batch(size, started.elapsed());
        match written {
            Ok(written) => {
                let answers = written.into_iter().map(|answer| match answer {
                    Ok(w) => Ok(w.into_iter().map(written_as).collect()),
                    Err(err) => {
                        tracing::error!(error = %err, "decision submission refused");
                        Err(SubmitError::Refused(err.to_string()))
                    }
                });
                answer_all(&mut batch.replies, &mut batch.decisions, answers);
                self.checkpoints.committed(conn, size).map_err(|err| {
                    tracing::warn!(error = %err, "WAL checkpoint failed; reopening the writer's connection");
                    err.to_string()
                })
            }
            Err(err) => {
                tracing::error!(error = %err, batch = size, "decision batch failed");
                // The transaction was rolled back; ask what is stored, in case the COMMIT
                // reached the WAL before failing. After a failed sync that cannot be told
                // from here: the frames may be on disk and come back on the next open.
                let stored = if sqlite_sink::fate_unknown(&err) {
                    Err(format!("the WAL's sync failed: {err}"))
                } else {
                    let ids: Vec<&str> = batch.decisions.iter().map(|d| d.id.as_str()).collect();
                    sqlite_sink::stored_at(conn, &ids).map_err(|e| e.to_string())
                };
                let failure = err.to_string();
                let answers = answers_after_failure(&batch.decisions, &sizes, stored, &failure);
                answer_all(&mut batch.replies, &mut batch.decisions, answers);
                Err(failure)
            }
        }
    }
}

/// The writer's connection, opened again after a failure closed it.
fn connection<'a>(
    conn: &'a mut Option<Connection>,
    file: &Path,
) -> rusqlite::Result<&'a Connection> {
    if conn.is_none() {
        *conn = Some(sqlite_sink::open(file)?);
        tracing::debug!("the decision writer reopened its database connection");
    }
    Ok(conn.as_ref().expect("opened above"))
}
