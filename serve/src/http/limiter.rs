//! Per-key rate limits: a token bucket per API key, filled at its role's rate (`[limits]`
//! `integration_per_second`, `analyst_per_second`, `admin_per_second`) and holding
//! `burst_seconds` of it. A request finding the bucket empty is refused with 429 and how long
//! until a token is there. Buckets are this server's own: with N replicas a key may send N times
//! its rate in all.

use std::collections::HashMap;
use std::sync::Mutex;
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
}
