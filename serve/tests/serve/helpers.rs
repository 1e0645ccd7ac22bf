//! Fresh databases for tests: a SQLite file in a temporary folder, or a new PostgreSQL database.
//!
//! PostgreSQL tests read `RISKLOOP_TEST_POSTGRES_URL`. When it is unset they print a notice and
//! pass, except under `CI=true`, where a skipped PostgreSQL test is a failure.

use riskloop_serve::store::DatabaseSettings;
use riskloop_serve::store::Store;
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
        let mut db = Self::sqlite_at(dir.path()).await;
        db._dir = Some(dir);
        db
    }

    /// A new, migrated SQLite file `riskloop.db` in `dir`, which the caller keeps.
    pub(crate) async fn sqlite_at(dir: &std::path::Path) -> Self {
        let url = format!("sqlite://{}", dir.join("riskloop.db").display());
        let store = Store::connect(&SecretString::from(url.clone()), &DatabaseSettings::pool(4))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Self {
            store,
            url,
            _dir: None,
            postgres: None,
        }
    }

    /// The same PostgreSQL database through another address (a proxy of the test's).
    pub(crate) async fn postgres_through(mut self, host_port: &str) -> Self {
        self.store.close().await;
        self.url = self.url_through(host_port);
        self.store = Store::connect(
            &SecretString::from(self.url.clone()),
            &DatabaseSettings::pool(4),
        )
        .await
        .unwrap();
        self
    }

    /// This database's URL through another address (a proxy of the test's).
    pub(crate) fn url_through(&self, host_port: &str) -> String {
        let mut url = url::Url::parse(&self.url).unwrap();
        let (host, port) = host_port.split_once(':').unwrap();
        url.set_host(Some(host)).unwrap();
        url.set_port(Some(port.parse().unwrap())).unwrap();
        url.query_pairs_mut().append_pair("sslmode", "disable");
        url.to_string()
    }

    /// Where the PostgreSQL server is, as `host:port`: for a proxy in front of it.
    pub(crate) fn server_address(&self) -> String {
        let url = url::Url::parse(&self.url).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
    }

    /// The SQLite file's path; `None` on PostgreSQL.
    pub(crate) fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self.store.sqlite_file()
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

/// A small tmpfs mounted for one test, unmounted when dropped: a disk that really fills. Mounting
/// needs root, as CI runs; elsewhere [`Tmpfs::mount`] prints a notice and gives `None`, except
/// under `CI=true`, where it fails.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub(crate) fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but a tmpfs cannot be mounted: disk-full tests must run in CI (as root)"
            );
            println!("notice: cannot mount a tmpfs (not root?); skipping this disk-full test");
            return None;
        }
        Some(Self { dir })
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills the filesystem until a write fails; removing the returned file frees the space.
    pub(crate) fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let block = [0u8; 512];
        while file.write_all(&block).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a file still open somewhere must not leave the mount behind.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
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
    let admin = Store::connect(
        &SecretString::from(admin_url.to_owned()),
        &DatabaseSettings::pool(1),
    )
    .await
    .unwrap_or_else(|e| panic!("cannot reach the PostgreSQL test server: {e}"));
    admin
        .execute_raw(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    admin.close().await;
}

/// A TCP proxy to PostgreSQL that the test can cut: every connection through it is closed, and
/// new ones are closed at once, until it is restored. To the server, PostgreSQL is gone.
#[derive(Clone, Default)]
pub(crate) struct Outage {
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: std::sync::Arc<tokio::sync::Notify>,
}

impl Outage {
    pub(crate) async fn start(upstream: String) -> (Self, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let outage = Self::default();
        let spawned = outage.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if spawned.down.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = tokio::io::AsyncWriteExt::shutdown(&mut client).await;
                    continue;
                }
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let cut = spawned.cut.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        (outage, address)
    }

    pub(crate) fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub(crate) fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}
