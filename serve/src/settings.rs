//! Typed configuration: defaults, then an optional TOML file, then the environment.
//!
//! Precedence, lowest first: built-in defaults → `--config FILE` → `RISKLOOP_*` variables →
//! `DATABASE_URL` (the conventional name) unless `RISKLOOP_DATABASE_URL` is also set, which wins.
//! With no configuration at all, riskloop uses an embedded SQLite file under `./riskloop-data/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read configuration file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Env {
        name: String,
        value: String,
        reason: String,
    },
    #[error(
        "unknown environment variable {0} (known: RISKLOOP_DATABASE_URL, RISKLOOP_DATA_DIR, \
         RISKLOOP_LISTEN, RISKLOOP_POLICY, RISKLOOP_WORKERS, RISKLOOP_DATABASE_MAX_CONNECTIONS, \
         RISKLOOP_CONFIG, RISKLOOP_LOG)"
    )]
    UnknownEnv(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`. None: SQLite under `data_dir`.
    pub database_url: Option<SecretString>,
    /// Where the embedded database and other local state live.
    pub data_dir: PathBuf,
    /// Address the API listens on.
    pub listen: SocketAddr,
    pub database: crate::store::DatabaseSettings,
    /// The decision policy file; default `<data_dir>/policy.toml` (written with defaults if absent).
    pub policy: Option<PathBuf>,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    pub writer: crate::writer::WriterSettings,
    /// Request sizes, timeouts and connections (`[limits]`).
    pub limits: crate::http::Limits,
    /// Retraining from the stored decisions (`[retrain]`).
    pub retrain: crate::lifecycle::retrain::RetrainSettings,
    /// Drift monitoring of live traffic (`[monitoring]`).
    pub monitoring: crate::monitoring::MonitorSettings,
    /// HTTPS: certificate and key files (`[tls]`); absent, plain HTTP.
    pub tls: Option<crate::http::tls::TlsSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: None,
            data_dir: PathBuf::from("riskloop-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: crate::store::DatabaseSettings::default(),
            policy: None,
            workers: 0,
            writer: crate::writer::WriterSettings::default(),
            limits: crate::http::Limits::default(),
            retrain: crate::lifecycle::retrain::RetrainSettings::default(),
            monitoring: crate::monitoring::MonitorSettings::default(),
            tls: None,
        }
    }
}

/// Variables read elsewhere: by the command line (`RISKLOOP_CONFIG`, the file itself), and by
/// riskloop's tooling rather than a running riskloop.
const IGNORED_ENV_PREFIXES: &[&str] = &[
    "RISKLOOP_CONFIG",
    "RISKLOOP_TEST_",
    "RISKLOOP_BENCH_",
    "RISKLOOP_LOG",
];

impl Settings {
    /// Loads settings from the process environment and an optional file.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(file, std::env::vars())
    }

    /// Loads settings from an explicit environment, so tests need not touch the process's.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let mut settings = match file {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        let mut database_url = None;
        let mut riskloop_database_url = None;
        for (name, value) in env {
            match name.as_str() {
                "DATABASE_URL" => database_url = Some(value),
                "RISKLOOP_DATABASE_URL" => riskloop_database_url = Some(value),
                "RISKLOOP_DATA_DIR" => settings.data_dir = PathBuf::from(value),
                "RISKLOOP_LISTEN" => settings.listen = parse_env(&name, &value)?,
                "RISKLOOP_POLICY" => settings.policy = Some(PathBuf::from(value)),
                "RISKLOOP_WORKERS" => settings.workers = parse_env(&name, &value)?,
                "RISKLOOP_DATABASE_MAX_CONNECTIONS" => {
                    settings.database.max_connections = parse_env(&name, &value)?;
                }
                _ if name.starts_with("RISKLOOP_")
                    && !IGNORED_ENV_PREFIXES.iter().any(|p| name.starts_with(p)) =>
                {
                    return Err(SettingsError::UnknownEnv(name));
                }
                _ => {}
            }
        }
        if let Some(url) = riskloop_database_url.or(database_url) {
            settings.database_url = Some(SecretString::from(url));
        }
        if settings.database.max_connections == 0 {
            return Err(SettingsError::Env {
                name: "database.max_connections".into(),
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        settings
            .retrain
            .check()
            .map_err(|message| SettingsError::Parse {
                path: file.map_or_else(|| PathBuf::from("(defaults)"), Path::to_owned),
                message,
            })?;
        Ok(settings)
    }

    fn from_file(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// The policy file to serve with.
    pub fn policy_path(&self) -> PathBuf {
        self.policy
            .clone()
            .unwrap_or_else(|| self.data_dir.join("policy.toml"))
    }

    /// Where retrained challengers go: `retrain.models_dir`, or `<data_dir>/models`.
    pub fn models_dir(&self) -> PathBuf {
        self.retrain
            .models_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("models"))
    }

    /// The database to use: the configured URL, or the embedded SQLite file under `data_dir`.
    pub fn database_url(&self) -> SecretString {
        match &self.database_url {
            Some(url) => SecretString::from(url.expose_secret()),
            None => {
                let file = self.data_dir.join("riskloop.db");
                SecretString::from(format!("sqlite://{}", file.display()))
            }
        }
    }
}

fn parse_env<T>(name: &str, value: &str) -> Result<T, SettingsError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| SettingsError::Env {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_use_an_embedded_sqlite_file_under_riskloop_data() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(
            s.database_url().expose_secret(),
            "sqlite://riskloop-data/riskloop.db"
        );
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn the_file_is_overridden_by_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("riskloop.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/rl\"\n[database]\nmax_connections = 3\n",
        )
        .unwrap();
        let s = Settings::load_from(Some(&path), env(&[("RISKLOOP_LISTEN", "127.0.0.1:7000")]))
            .unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(s.data_dir, PathBuf::from("/srv/rl"));
        assert_eq!(s.database.max_connections, 3);
        assert_eq!(
            s.database_url().expose_secret(),
            "sqlite:///srv/rl/riskloop.db"
        );
    }

    #[test]
    fn tls_and_rate_limits_are_read_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("riskloop.toml");
        std::fs::write(
            &path,
            "[tls]\ncert = \"/etc/riskloop/cert.pem\"\nkey = \"/etc/riskloop/key.pem\"\n\
             [limits]\nanalyst_per_second = 5\n",
        )
        .unwrap();
        let s = Settings::load_from(Some(&path), env(&[])).unwrap();
        let tls = s.tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("/etc/riskloop/cert.pem"));
        assert_eq!(tls.reload_seconds, 10);
        assert_eq!(s.limits.analyst_per_second, 5.0);
        assert_eq!(s.limits.integration_per_second, 20_000.0);
        std::fs::write(&path, "[tls]\ncert = \"c.pem\"\n").unwrap();
        let err = Settings::load_from(Some(&path), env(&[])).unwrap_err();
        assert!(err.to_string().contains("key"), "{err}");
    }

    #[test]
    fn riskloop_database_url_wins_over_database_url() {
        let both = env(&[
            ("DATABASE_URL", "postgres://a/one"),
            ("RISKLOOP_DATABASE_URL", "postgres://b/two"),
        ]);
        let s = Settings::load_from(None, both).unwrap();
        assert_eq!(s.database_url().expose_secret(), "postgres://b/two");
        let plain =
            Settings::load_from(None, env(&[("DATABASE_URL", "postgres://a/one")])).unwrap();
        assert_eq!(plain.database_url().expose_secret(), "postgres://a/one");
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors_that_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "listn = \"127.0.0.1:1\"\n").unwrap();
        let err = Settings::load_from(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listn"), "{err}");
    }

    #[test]
    fn a_malformed_variable_is_an_error_that_names_it() {
        let err = Settings::load_from(None, env(&[("RISKLOOP_LISTEN", "localhost")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RISKLOOP_LISTEN"), "{err}");
    }

    #[test]
    fn a_misspelt_riskloop_variable_is_an_error_but_test_and_bench_variables_are_not() {
        let err = Settings::load_from(None, env(&[("RISKLOOP_LISTN", "x")])).unwrap_err();
        assert!(err.to_string().contains("RISKLOOP_LISTN"));
        Settings::load_from(
            None,
            env(&[
                ("RISKLOOP_TEST_POSTGRES_URL", "postgres://x/y"),
                ("RISKLOOP_BENCH_POSTGRES_URL", "postgres://x/y"),
                ("RISKLOOP_BENCH_BIN", "/tmp/riskloop"),
            ]),
        )
        .unwrap();
    }

    #[test]
    fn a_missing_config_file_is_an_error_naming_the_path() {
        let err = Settings::load_from(Some(Path::new("/nonexistent/r.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/r.toml"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_the_database_url() {
        let s = Settings::load_from(None, env(&[("DATABASE_URL", "postgres://u:hunter2@h/d")]))
            .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
