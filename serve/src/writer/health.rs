//! Whether a decision can be stored now, as the writer last found out: a commit or a probe that
//! succeeded, or one that failed. While writes fail, submissions are refused at once (503 with
//! `Retry-After`) instead of each waiting on a database that is down; the server probes the
//! database every second until a write succeeds again (`DecisionWriter::probe`), and `/readyz`
//! answers from here.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct WriteHealth {
    /// Read on every submission; the rest only when the state changes or readiness is asked.
    down: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last_success: Option<Instant>,
    /// Since when writes fail, and the first failure's cause.
    failing: Option<(Instant, String)>,
}

impl WriteHealth {
    /// A write (a commit or a probe) reached the database.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        state.last_success = Some(Instant::now());
        if let Some((since, _)) = state.failing.take() {
            self.down.store(false, Ordering::Release);
            tracing::info!(
                after_seconds = since.elapsed().as_secs_f64(),
                "the database takes writes again: decisions are accepted"
            );
        }
    }

    /// A write failed for a cause other than the row itself (a full disk, a lost connection).
    pub fn failed(&self, error: &str) {
        let mut state = self.lock();
        if state.failing.is_none() {
            tracing::error!(
                error,
                "the database refuses writes: decisions are refused with 503 until a probe succeeds"
            );
            state.failing = Some((Instant::now(), error.to_owned()));
            self.down.store(true, Ordering::Release);
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Whether a write succeeded within `window` and none failed since.
    pub fn fresh(&self, window: Duration) -> bool {
        let state = self.lock();
        state.failing.is_none() && state.last_success.is_some_and(|at| at.elapsed() <= window)
    }

    /// Why writes fail, while they do.
    pub fn failure(&self) -> Option<String> {
        self.lock().failing.as_ref().map(|(_, cause)| cause.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_holds_until_the_next_success() {
        let health = WriteHealth::default();
        assert!(!health.is_down());
        assert!(
            !health.fresh(Duration::from_secs(60)),
            "nothing written yet"
        );
        health.succeeded();
        assert!(health.fresh(Duration::from_secs(60)));
        health.failed("disk full");
        health.failed("disk still full");
        assert!(health.is_down());
        assert!(!health.fresh(Duration::from_secs(60)));
        assert_eq!(health.failure().as_deref(), Some("disk full"));
        health.succeeded();
        assert!(!health.is_down());
        assert_eq!(health.failure(), None);
        assert!(health.fresh(Duration::from_secs(60)));
    }
}
