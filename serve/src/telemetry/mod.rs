//! What the service tells its operators: logs (one subscriber, set up here, writing to stderr
//! or to a sink a test provides), Prometheus metrics, and the HTTP parser's refusals counted
//! instead of logged.

pub mod metrics; // Prometheus metrics
pub mod protocol_errors; // the HTTP parser's refusals, counted, not logged one by one

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
    let _ = subscriber(sink, ansi).try_init();
}

/// The subscriber [`init`] installs, for a caller (a test) that installs it for a scope only.
pub fn subscriber<W>(sink: W, ansi: bool) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_env("RISKLOOP_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(sink)
        .with_ansi(ansi);
    tracing_subscriber::registry()
        .with(filter)
        .with(log)
        .with(protocol_errors::CountLayer)
}
