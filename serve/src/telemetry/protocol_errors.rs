//! Requests the HTTP parser refuses itself (malformed, head too large, head too slow) and
//! connections it drops. actix logs each as an ERROR line from its dispatcher, so any client
//! could flood the log with junk bytes. Those lines are counted instead
//! (`riskloop_http_protocol_errors_total`) and summed up in one WARN line a minute at most.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

static COUNT: AtomicU64 = AtomicU64::new(0);

/// Where actix's HTTP/1 dispatcher logs what a client did wrong.
const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// Protocol errors seen since the process started.
pub fn count() -> u64 {
    COUNT.load(Ordering::Relaxed)
}

/// An event that is one client's protocol error: the log layer leaves it out.
fn is_protocol_error(meta: &Metadata<'_>) -> bool {
    *meta.level() == Level::ERROR && meta.target() == DISPATCHER
}

/// Counts protocol errors and keeps them from every layer of the subscriber (its
/// `event_enabled` says no for them), so none reaches the log. A global filter rather than a
/// per-layer one: tracing-subscriber's per-layer filtering cost about 4,000 instructions on
/// every request (`bench/instructions.sh`).
#[derive(Debug, Default)]
pub struct CountLayer;

impl<S: Subscriber> Layer<S> for CountLayer {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        if is_protocol_error(event.metadata()) {
            COUNT.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// Logs, once a minute when there were any, how many protocol errors the last minute saw.
pub async fn report_every_minute() {
    let mut reported = count();
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = count();
        if now > reported {
            tracing::warn!(
                requests = now - reported,
                "the HTTP parser refused requests or dropped connections in the last minute \
                 (malformed or oversized heads, slow clients, resets)"
            );
        }
        reported = now;
    }
}
