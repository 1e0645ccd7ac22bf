//! Fresh databases for tests: a SQLite file in a temporary folder, or a new PostgreSQL database.
//!
//! PostgreSQL tests read `RISKLOOP_TEST_POSTGRES_URL`. When it is unset they print a notice and
//! pass, except under `CI=true`, where a skipped PostgreSQL test is a failure.

use riskloop_serve::store::Store;
use riskloop_serve::store::DatabaseSettings;
use secrecy::SecretString;

pub(crate) struct TestDb {
    pub(crate) store: Store,
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub(crate) async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("riskloop.db").display());
        let store = Store::connect(&SecretString::from(url.clone()), &DatabaseSettings::pool(4))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Self {
            store,
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A new, migrated database on the test server, or None (after a notice) when there is none.
    pub(crate) async fn postgres() -> Option<Self> {
        let db = Self::postgres_unmigrated().await?;
        db.store.migrate().await.unwrap();
        Some(db)
    }

    pub(crate) async fn postgres_unmigrated() -> Option<Self> {
        let admin_url = postgres_url()?;
        let name = format!("riskloop_test_{}", uuid::Uuid::now_v7().simple());
        admin_execute(&admin_url, &format!("CREATE DATABASE {name}")).await;
        let mut url = url::Url::parse(&admin_url).expect("RISKLOOP_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        let url = url.to_string();
        let store = Store::connect(&SecretString::from(url.clone()), &DatabaseSettings::pool(4))
            .await
            .unwrap();
        Some(Self {
            store,
            url,
            _dir: None,
            postgres: Some((admin_url, name)),
        })
    }

    /// Drops a PostgreSQL test database; SQLite files go with their temporary folder.
    pub(crate) async fn finish(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = self.postgres {
            admin_execute(
                &admin_url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }
}

/// The PostgreSQL server for tests, or None with a printed notice; never None under CI.
pub(crate) fn postgres_url() -> Option<String> {
    match std::env::var("RISKLOOP_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true but RISKLOOP_TEST_POSTGRES_URL is unset: PostgreSQL tests must run in CI"
            )
        }
        _ => {
            println!("notice: RISKLOOP_TEST_POSTGRES_URL is unset; skipping this PostgreSQL test");
            None
        }
    }
}

async fn admin_execute(admin_url: &str, sql: &str) {
    let admin = Store::connect(&SecretString::from(admin_url.to_owned()), &DatabaseSettings::pool(1))
        .await
        .unwrap_or_else(|e| panic!("cannot reach the PostgreSQL test server: {e}"));
    admin
        .execute_raw(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    admin.close().await;
}
