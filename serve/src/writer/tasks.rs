//! PostgreSQL's writer: tasks on the pool, one gathering a batch while another waits for its
//! commit; each batch one multi-row insert through its sink (`postgres`). A refused row fails
//! only its submission; after another failure the database is asked what it holds (`settle`)
//! and probed at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Mutex, mpsc};

use super::postgres::DecisionSink;
use super::{
    Gathered, Job, SubmitError, Waiting, WriteHealth, WriterSettings, answer_all,
    answers_after_failure, written_as,
};
use crate::store::{NewDecision, StoreError};
use crate::telemetry::metrics::Metrics;

pub(super) async fn run(
    mut sink: DecisionSink,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    settings: WriterSettings,
    metrics: Arc<Metrics>,
    health: Arc<WriteHealth>,
) {
    let mut batch = Gathered {
        decisions: Vec::with_capacity(settings.max_batch),
        ..Gathered::default()
    };
    loop {
        {
            // One task gathers a batch at a time; the others commit meanwhile.
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            if let Some(wait) = batch.begin(first, &settings) {
                tokio::time::sleep(wait).await;
            }
            batch.fill(&mut rx, settings.max_batch);
            metrics.queue_depth(rx.len());
        }
        if batch.decisions.is_empty() {
            let probed = sink.probe().await.map_err(|e| e.to_string());
            batch.settle_probes(&health, &probed);
            continue;
        }
        commit(&mut sink, &mut batch, &metrics, &health).await;
    }
}

/// Commits a gathered batch on PostgreSQL and answers everyone waiting on it.
async fn commit(
    sink: &mut DecisionSink,
    batch: &mut Gathered,
    metrics: &Metrics,
    health: &WriteHealth,
) {
    let started = Instant::now();
    let result = sink.insert(&batch.decisions).await;
    metrics.writer_batch(batch.decisions.len(), started.elapsed());
    let Gathered {
        decisions, replies, ..
    } = batch;
    match result {
        Ok(written) => {
            let mut written = written.into_iter().map(written_as);
            let sizes: Vec<usize> = replies.iter().map(|(_, n)| *n).collect();
            let answers = sizes
                .iter()
                .map(|&n| Ok(written.by_ref().take(n).collect()));
            answer_all(replies, decisions, answers);
            batch.settle_probes(health, &Ok(()));
        }
        Err(err) if err.is_refused_row() && replies.len() > 1 => {
            // A batch gathers the submissions of many clients: one whose rows the database
            // refuses must not fail the others, so each is committed again on its own.
            tracing::warn!(error = %err, batch = decisions.len(), submissions = replies.len(),
                "decision batch refused a row; committing its submissions one by one");
            let mut rows = std::mem::take(decisions).into_iter();
            let mut failed = false;
            for (reply, n) in std::mem::take(replies) {
                let mut own: Vec<NewDecision> = rows.by_ref().take(n).collect();
                let started = Instant::now();
                let answer = sink.insert(&own).await;
                metrics.writer_batch(n, started.elapsed());
                match answer {
                    Ok(written) => {
                        let written = written.into_iter().map(written_as).collect();
                        reply.send_now((Ok(written), own));
                    }
                    Err(err) if err.is_refused_row() => {
                        tracing::error!(error = %err, batch = n, "decision submission refused");
                        reply.send_now((Err(SubmitError::Refused(err.to_string())), own));
                    }
                    Err(err) => {
                        tracing::error!(error = %err, batch = n, "decision submission failed");
                        failed = true;
                        let failure = err.to_string();
                        settle(sink, &mut own, &mut vec![(reply, n)], &err, &failure).await;
                    }
                }
            }
            let fate = if failed {
                probe_after_failure(sink).await
            } else {
                Ok(())
            };
            batch.settle_probes(health, &fate);
        }
        Err(err) if err.is_refused_row() => {
            tracing::error!(error = %err, batch = decisions.len(), "decision batch refused");
            let answers = replies
                .iter()
                .map(|_| Err(SubmitError::Refused(err.to_string())))
                .collect::<Vec<_>>();
            answer_all(replies, decisions, answers);
            // The database answered: it is up.
            batch.settle_probes(health, &Ok(()));
        }
        Err(err) => {
            tracing::error!(error = %err, batch = decisions.len(), "decision batch failed");
            let failure = err.to_string();
            settle(sink, decisions, replies, &err, &failure).await;
            let fate = probe_after_failure(sink).await;
            batch.settle_probes(health, &fate);
        }
    }
}

/// After a failed commit, whether the database takes writes, found out at once with a probe
/// (on a new connection): a connection lost once must not refuse every decision until the
/// next periodic probe, and a database that is down must refuse them at once.
async fn probe_after_failure(sink: &mut DecisionSink) -> Result<(), String> {
    sink.probe().await.map_err(|e| e.to_string())
}

/// After a failed commit: the batch may be stored all the same (the connection dropped while
/// COMMIT's answer was on its way back), so the database is asked (`DecisionSink::settle`),
/// unless the batch never reached it (no connection could be had).
async fn settle(
    sink: &mut DecisionSink,
    decisions: &mut Vec<NewDecision>,
    replies: &mut Vec<Waiting>,
    err: &StoreError,
    failure: &str,
) {
    let stored = if err.never_sent() {
        Ok(HashMap::new())
    } else {
        sink.settle(decisions).await.map_err(|e| e.to_string())
    };
    let sizes: Vec<usize> = replies.iter().map(|(_, n)| *n).collect();
    let answers = answers_after_failure(decisions, &sizes, stored, failure);
    answer_all(replies, decisions, answers);
}
