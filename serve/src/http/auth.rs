//! Bearer API keys: the key's SHA-256 is looked up in `api_keys`, cached for a few seconds so a
//! revocation takes effect within [`CACHE_TTL`] without a database read per request. Use is
//! recorded in memory and flushed to `last_used_at` in batches. Roles per route: `integration`
//! scores and reports outcomes, `analyst` reads and reviews, `admin` may do all of it and manage
//! models.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::api_key::{Role, hash_key};
use crate::http::error::ApiError;
use crate::store::Store;

/// How long a looked-up key (or its absence) is trusted before the database is asked again.
pub const CACHE_TTL: Duration = Duration::from_secs(2);

/// The authenticated caller of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub key_id: i64,
    pub role: Role,
}

/// What a route needs of its caller.
#[derive(Clone, Copy, Debug)]
pub enum Permission {
    Score,
    Read,
    Review,
    ManageModels,
}

impl Caller {
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        let allowed = matches!(
            (self.role, permission),
            (Role::Admin, _)
                | (Role::Integration, Permission::Score)
                | (Role::Analyst, Permission::Read | Permission::Review)
        );
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                role: self.role.to_string(),
                action: match permission {
                    Permission::Score => "score applications or report outcomes",
                    Permission::Read => "read decisions",
                    Permission::Review => "review decisions",
                    Permission::ManageModels => "manage models",
                },
            })
        }
    }
}

#[derive(Debug, Default)]
pub struct Authenticator {
    cache: Mutex<HashMap<String, (Option<Caller>, Instant)>>,
    used: Mutex<HashMap<i64, DateTime<Utc>>>,
}

impl Authenticator {
    pub async fn authenticate(&self, store: &Store, key: &str) -> Result<Caller, ApiError> {
        let hash = hash_key(key);
        let cached = self.cache.lock().ok().and_then(|c| {
            c.get(&hash)
                .filter(|(_, at)| at.elapsed() < CACHE_TTL)
                .map(|e| e.0)
        });
        let caller = match cached {
            Some(caller) => caller,
            None => {
                let found = store.active_api_key_by_hash(&hash).await?.map(|k| Caller {
                    key_id: k.id,
                    role: k.role,
                });
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() > 10_000 {
                        cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
                    }
                    cache.insert(hash, (found, Instant::now()));
                }
                found
            }
        };
        let caller = caller.ok_or(ApiError::Unauthenticated)?;
        if let Ok(mut used) = self.used.lock() {
            used.insert(caller.key_id, Utc::now());
        }
        Ok(caller)
    }

    /// Writes the keys used since the last flush to `last_used_at`.
    pub async fn flush_usage(&self, store: &Store) {
        let used: Vec<(i64, DateTime<Utc>)> = match self.used.lock() {
            Ok(mut used) => used.drain().collect(),
            Err(_) => return,
        };
        if !used.is_empty()
            && let Err(err) = store.touch_api_keys(&used).await
        {
            // While the database is down this fails every second; the writer says so once.
            if err.is_unavailable() {
                tracing::debug!(error = %err, "recording API key use failed");
            } else {
                tracing::warn!(error = %err, "recording API key use failed");
            }
        }
    }
}
