//! Progress on long steps: a spinner that names the step and its elapsed time (silent when not
//! a terminal), and a heartbeat for steps that run inside one call and could print nothing else.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub(crate) fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Runs `work`, calling `beat` with the time elapsed every `every` until it is done: a step that
/// can take minutes inside one call (a migration rebuilding a table) still says it is alive.
pub(crate) async fn with_heartbeat<T>(
    work: impl std::future::Future<Output = T>,
    every: Duration,
    mut beat: impl FnMut(Duration),
) -> T {
    let started = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval_at(started + every, every);
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticks.tick() => beat(started.elapsed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_long_step_beats_until_it_is_done_and_a_short_one_never() {
        let every = Duration::from_millis(100);
        let mut beats = Vec::new();
        let done = with_heartbeat(
            async {
                tokio::time::sleep(Duration::from_millis(350)).await;
                7
            },
            every,
            |elapsed| beats.push(elapsed),
        )
        .await;
        assert_eq!(done, 7);
        // Three on time; a loaded machine can only delay them.
        assert!(beats.len() >= 2, "{beats:?}");
        for (i, at) in beats.iter().enumerate() {
            assert!(*at >= every * (i as u32 + 1), "{beats:?}");
        }
        let mut beats = 0;
        assert_eq!(with_heartbeat(async { 8 }, every, |_| beats += 1).await, 8);
        assert_eq!(beats, 0);
    }
}
