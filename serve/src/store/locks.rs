//! Named leases over the database: one holder at a time, for a while. A lease is taken when it
//! is free or expired, renewed by its holder while the work runs, and released at the end; a
//! holder that dies without releasing leaves it to expire.

use chrono::{TimeDelta, Utc};

use super::{Result, Store, on_pool};

impl Store {
    /// Takes the lease `name` for `holder` until `ttl` from now, or renews it if `holder` has
    /// it. False when another holder's lease has not expired.
    pub async fn try_lock(&self, name: &str, holder: &str, ttl: TimeDelta) -> Result<bool> {
        const SQL: &str = "INSERT INTO locks (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE locks.expires_at < $4 OR locks.holder = excluded.holder";
        let now = Utc::now().timestamp_millis();
        let until = now + ttl.num_milliseconds();
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(name)
            .bind(holder)
            .bind(until)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Gives the lease back, if `holder` still has it.
    pub async fn unlock(&self, name: &str, holder: &str) -> Result<()> {
        const SQL: &str = "DELETE FROM locks WHERE name = $1 AND holder = $2";
        on_pool!(self, pool => sqlx::query(SQL).bind(name).bind(holder).execute(pool).await.map(|_| ()))?;
        Ok(())
    }
}
