//! Prometheus metrics, rendered in the text exposition format at `/metrics`: requests and
//! latency by route and status, decisions by outcome, writer batch sizes, commit time and queue
//! depth, whether the database takes writes, requests the HTTP parser refused, and the served
//! model version. Names start with `riskloop_`; durations are `_seconds`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 512.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, buckets: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; buckets.len()];
        }
        for (c, &b) in self.counts.iter_mut().zip(buckets) {
            if value <= b {
                *c += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, buckets: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (c, b) in self.counts.iter().zip(buckets) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Requests to one route: counts by method and status (a handful, so a list), and latency.
#[derive(Debug, Default)]
struct RouteStats {
    counts: Vec<(String, u16, u64)>,
    latency: Histogram,
}

#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<String, RouteStats>>,
    decisions: Mutex<BTreeMap<String, u64>>,
    batches: Mutex<(Histogram, Histogram)>,
    queue_depth: AtomicU64,
    database_down: AtomicBool,
    model: Mutex<Option<String>>,
}

impl Metrics {
    /// Called for every request, so it allocates only for a route, method or status not yet
    /// seen.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        if !routes.contains_key(route) {
            routes.insert(route.to_owned(), RouteStats::default());
        }
        let Some(stats) = routes.get_mut(route) else {
            return;
        };
        match stats
            .counts
            .iter_mut()
            .find(|(m, s, _)| m == method && *s == status)
        {
            Some((_, _, n)) => *n += 1,
            None => stats.counts.push((method.to_owned(), status, 1)),
        }
        stats
            .latency
            .observe(&LATENCY_BUCKETS, elapsed.as_secs_f64());
    }

    pub fn decision(&self, kind: &str) {
        if let Ok(mut m) = self.decisions.lock() {
            match m.get_mut(kind) {
                Some(n) => *n += 1,
                None => {
                    m.insert(kind.to_owned(), 1);
                }
            }
        }
    }

    pub fn writer_batch(&self, size: usize, commit: Duration) {
        if let Ok(mut b) = self.batches.lock() {
            b.0.observe(&BATCH_BUCKETS, size as f64);
            b.1.observe(&LATENCY_BUCKETS, commit.as_secs_f64());
        }
    }

    pub fn queue_depth(&self, depth: usize) {
        self.queue_depth.store(depth as u64, Ordering::Relaxed);
    }

    pub fn store_up(&self, up: bool) {
        self.database_down.store(!up, Ordering::Relaxed);
    }

    pub fn model(&self, version: &str) {
        if let Ok(mut m) = self.model.lock() {
            *m = Some(version.to_owned());
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP riskloop_http_requests_total HTTP requests by route, method and status.\n# TYPE riskloop_http_requests_total counter\n");
        let routes = self.routes.lock();
        if let Ok(m) = &routes {
            for (route, stats) in m.iter() {
                let mut counts: Vec<_> = stats.counts.iter().collect();
                counts.sort();
                for (method, status, n) in counts {
                    let _ = writeln!(
                        out,
                        "riskloop_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        out.push_str("# HELP riskloop_http_request_duration_seconds Time to answer, by route.\n# TYPE riskloop_http_request_duration_seconds histogram\n");
        if let Ok(m) = &routes {
            for (route, RouteStats { latency: h, .. }) in m.iter() {
                h.render(
                    &mut out,
                    "riskloop_http_request_duration_seconds",
                    &format!("route=\"{route}\""),
                    &LATENCY_BUCKETS,
                );
            }
        }
        drop(routes);
        out.push_str("# HELP riskloop_decisions_total Decisions committed, by outcome.\n# TYPE riskloop_decisions_total counter\n");
        if let Ok(m) = self.decisions.lock() {
            for (kind, n) in m.iter() {
                let _ = writeln!(out, "riskloop_decisions_total{{decision=\"{kind}\"}} {n}");
            }
        }
        if let Ok(b) = self.batches.lock() {
            out.push_str("# HELP riskloop_writer_batch_size Decisions per group commit.\n# TYPE riskloop_writer_batch_size histogram\n");
            b.0.render(&mut out, "riskloop_writer_batch_size", "", &BATCH_BUCKETS);
            out.push_str("# HELP riskloop_writer_commit_duration_seconds Time per group commit.\n# TYPE riskloop_writer_commit_duration_seconds histogram\n");
            b.1.render(
                &mut out,
                "riskloop_writer_commit_duration_seconds",
                "",
                &LATENCY_BUCKETS,
            );
        }
        let _ = writeln!(
            out,
            "# HELP riskloop_writer_queue_depth Decisions waiting for a commit.\n# TYPE riskloop_writer_queue_depth gauge\nriskloop_writer_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP riskloop_database_writable 1 while the database takes writes, 0 while decisions are refused because it does not.\n# TYPE riskloop_database_writable gauge\nriskloop_database_writable {}",
            u8::from(!self.database_down.load(Ordering::Relaxed))
        );
        let _ = writeln!(
            out,
            "# HELP riskloop_http_protocol_errors_total Requests the HTTP parser refused (400, 408, 431) or connections it dropped.\n# TYPE riskloop_http_protocol_errors_total counter\nriskloop_http_protocol_errors_total {}",
            crate::telemetry::protocol_errors::count()
        );
        let writes = riskloop_sqlite_vfs::write_counts();
        let _ = writeln!(
            out,
            "# HELP riskloop_sqlite_writes_total Writes to SQLite's WAL file by the decision writer (SQLite only): asked for by SQLite, and made to the OS, contiguous ones gathered into one.\n# TYPE riskloop_sqlite_writes_total counter\nriskloop_sqlite_writes_total{{stage=\"asked\"}} {}\nriskloop_sqlite_writes_total{{stage=\"made\"}} {}",
            writes.asked, writes.made
        );
        if let Ok(m) = self.model.lock()
            && let Some(v) = m.as_ref()
        {
            let _ = writeln!(
                out,
                "# HELP riskloop_model_info The served model version.\n# TYPE riskloop_model_info gauge\nriskloop_model_info{{version=\"{v}\"}} 1"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_labelled() {
        let m = Metrics::default();
        m.request("/v1/score", "POST", 200, Duration::from_micros(300));
        m.request("/v1/score", "POST", 200, Duration::from_millis(3));
        m.decision("approve");
        m.writer_batch(3, Duration::from_micros(800));
        m.model("v1");
        let text = m.render();
        assert!(text.contains(
            "riskloop_http_requests_total{route=\"/v1/score\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "riskloop_http_request_duration_seconds_bucket{route=\"/v1/score\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "riskloop_http_request_duration_seconds_bucket{route=\"/v1/score\",le=\"0.005\"} 2"
        ));
        assert!(text.contains("riskloop_decisions_total{decision=\"approve\"} 1"));
        assert!(text.contains("riskloop_writer_batch_size_bucket{le=\"4\"} 1"));
        assert!(text.contains("riskloop_model_info{version=\"v1\"} 1"));
    }
}
