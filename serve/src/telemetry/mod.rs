//! What the service tells its operators: logs (one subscriber, set up here, writing to stderr
//! or to a sink a test provides), Prometheus metrics, and the HTTP parser's refusals counted
//! instead of logged.

pub mod metrics; // Prometheus metrics
pub mod protocol_errors; // the HTTP parser's refusals, counted, not logged one by one

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// The filter when neither `RISKLOOP_LOG` nor `RUST_LOG` says otherwise.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Installs the process's log subscriber: the `RISKLOOP_LOG` (or `RUST_LOG`) filter, lines
/// written to `sink` (with colours when `ansi`), and protocol errors counted instead.
pub fn init<W>(sink: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_env("RISKLOOP_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = subscriber(sink, ansi, filter).try_init();
}

/// The subscriber [`init`] installs, for a caller (a test) that installs it for a scope only.
pub fn subscriber<W>(
    sink: W,
    ansi: bool,
    filter: EnvFilter,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let log = tracing_subscriber::fmt::layer()
        .with_writer(sink)
        .with_ansi(ansi);
    tracing_subscriber::registry()
        .with(filter)
        .with(log)
        .with(protocol_errors::CountLayer)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A log sink a test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The subscriber `main` installs writes what the filter lets through to its sink, and
    /// counts the HTTP parser's errors instead of writing them.
    #[test]
    fn the_log_goes_to_its_sink_and_protocol_errors_are_counted_not_written() {
        let sink = Captured::default();
        let writer = sink.clone();
        let before = super::protocol_errors::count();
        tracing::subscriber::with_default(
            super::subscriber(
                move || writer.clone(),
                false,
                tracing_subscriber::EnvFilter::new(super::DEFAULT_FILTER),
            ),
            || {
                tracing::info!(target: "riskloop_serve::test", "served a decision");
                tracing::error!(target: "actix_http::h1::dispatcher", "stream error: junk");
                tracing::debug!(target: "riskloop_serve::test", "below the default filter");
            },
        );
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("served a decision"), "{text}");
        assert!(!text.contains("stream error"), "{text}");
        assert!(!text.contains("below the default filter"), "{text}");
        assert!(super::protocol_errors::count() > before);
    }
}
