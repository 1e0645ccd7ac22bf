//! How the store connects: the pool's size, and how long a request waits for a connection
//! (`[database]` in the configuration file).

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// Upper bound of the connection pool.
    pub max_connections: u32,
    /// How long a request waits for a PostgreSQL connection (a free one, or a new one while the
    /// server cannot be reached) before it is answered 503 `store_unavailable`.
    pub acquire_timeout_ms: u64,
}

impl DatabaseSettings {
    /// The defaults, with a pool of `max_connections`.
    pub fn pool(max_connections: u32) -> Self {
        Self {
            max_connections,
            ..Self::default()
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout_ms: 1000,
        }
    }
}
