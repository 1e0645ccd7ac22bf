//! Per-key rate limits: a token bucket per API key, filled at its role's rate (`[limits]`
//! `integration_per_second`, `analyst_per_second`, `admin_per_second`) and holding
//! `burst_seconds` of it. A request finding the bucket empty is refused with 429 and how long
//! until a token is there. Buckets are this server's own: with N replicas a key may send N times
//! its rate in all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::auth::Caller;
use super::state::Limits;
use crate::api_key::Role;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<i64, Bucket>>,
}

impl RateLimiter {
    /// Takes a token from the caller's bucket; `Err(wait)` when there is none.
    pub fn check(&self, limits: &Limits, caller: &Caller) -> Result<(), Duration> {
        let rate = match caller.role {
            Role::Integration => limits.integration_per_second,
            Role::Analyst => limits.analyst_per_second,
            Role::Admin => limits.admin_per_second,
        };
        if rate <= 0.0 {
            return Ok(());
        }
        let capacity = (rate * limits.burst_seconds).max(1.0);
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > 100_000 {
            // Keys idle long enough to be full again hold no state worth keeping.
            buckets.retain(|_, b| now.duration_since(b.at).as_secs_f64() * rate < capacity);
        }
        let bucket = buckets.entry(caller.key_id).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

/// Requests each key has in flight on this server.
#[derive(Debug, Default)]
pub struct InFlight {
    counts: Mutex<HashMap<i64, usize>>,
}

/// One request in flight; dropped with the request.
#[derive(Debug)]
pub struct InFlightGuard {
    counts: Arc<InFlight>,
    key_id: i64,
}

impl InFlight {
    /// Counts a request of `key_id` in, unless it already has `max` in flight (0: no limit).
    pub fn enter(self: &Arc<Self>, key_id: i64, max: usize) -> Option<InFlightGuard> {
        let mut counts = self.counts.lock().ok()?;
        let n = counts.entry(key_id).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(InFlightGuard {
            counts: self.clone(),
            key_id,
        })
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.counts.lock()
            && let Some(n) = counts.get_mut(&self.key_id)
        {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.key_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_its_burst_then_refills_at_its_rate() {
        let limits = Limits {
            analyst_per_second: 10.0,
            burst_seconds: 0.5,
            ..Limits::default()
        };
        let limiter = RateLimiter::default();
        let analyst = Caller {
            key_id: 1,
            role: Role::Analyst,
        };
        for _ in 0..5 {
            assert!(limiter.check(&limits, &analyst).is_ok());
        }
        let wait = limiter.check(&limits, &analyst).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // Another key has its own bucket.
        let other = Caller {
            key_id: 2,
            ..analyst
        };
        assert!(limiter.check(&limits, &other).is_ok());
        std::thread::sleep(wait + Duration::from_millis(5));
        assert!(limiter.check(&limits, &analyst).is_ok());
        // A rate of 0 is no limit.
        let unlimited = Limits {
            analyst_per_second: 0.0,
            ..limits
        };
        for _ in 0..1000 {
            assert!(limiter.check(&unlimited, &analyst).is_ok());
        }
    }

    #[test]
    fn a_key_holds_at_most_its_requests_in_flight_until_one_ends() {
        let in_flight = Arc::new(InFlight::default());
        let first = in_flight.enter(7, 2).unwrap();
        let _second = in_flight.enter(7, 2).unwrap();
        assert!(in_flight.enter(7, 2).is_none());
        assert!(in_flight.enter(8, 2).is_some(), "another key counts apart");
        drop(first);
        assert!(in_flight.enter(7, 2).is_some());
        assert!(in_flight.enter(7, 0).is_some(), "0 is no limit");
    }
}
