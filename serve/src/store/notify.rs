//! Registry changes told to every server at once: on PostgreSQL a promotion, rollback or
//! challenger change sends a notification that every replica listens for, and it follows the
//! registry without waiting for its next poll. The registry's tables stay the truth: a
//! notification sent while a listener was disconnected is lost, and the poll every second
//! catches up. SQLite has no other process to tell.

use std::time::Duration;

use super::{Result, Store};

/// The channel registry changes are sent on.
const CHANNEL: &str = "riskloop_registry";

impl Store {
    /// Tells every listening server that the registry changed (`what`: for its log).
    pub async fn notify_registry(&self, what: &str) -> Result<()> {
        if let Some(pool) = self.postgres_pool() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(what)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Calls `changed` for every registry notification, for as long as it runs, reconnecting
    /// after a lost connection (and calling `changed` then too: notifications may have been
    /// missed). Returns at once on SQLite.
    pub async fn listen_registry(&self, changed: impl Fn(&str)) {
        let Some(pool) = self.postgres_pool() else {
            return;
        };
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::debug!(error = %err, "cannot listen for registry changes yet");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(err) = listener.listen(CHANNEL).await {
                tracing::debug!(error = %err, "cannot listen for registry changes yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            changed("listening");
            loop {
                match listener.try_recv().await {
                    Ok(Some(note)) => changed(note.payload()),
                    // The connection was lost; the next call reconnects.
                    Ok(None) => changed("reconnected"),
                    Err(err) => {
                        tracing::debug!(error = %err, "registry listener lost its connection");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        }
    }
}
