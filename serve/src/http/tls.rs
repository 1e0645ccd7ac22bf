//! The optional TLS listener (`[tls] cert`, `key`): rustls with the ring provider, the
//! certificate chain and key read from PEM files and read again when either file changes, so a
//! renewed certificate is served without a restart. A renewal that does not load (a half-written
//! file, a key that does not match) is logged and the previous certificate kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::Deserialize;

/// `[tls]` in the configuration: both paths, or no TLS.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM: the certificate, then its chain.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// How often the files are checked for a change.
    #[serde(default = "default_reload_seconds")]
    pub reload_seconds: u64,
}

fn default_reload_seconds() -> u64 {
    10
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("TLS key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("TLS: {0}")]
    Config(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the certificate chain and key, and checks that they belong together.
fn load(settings: &TlsSettings) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_error = |reason: String| TlsError::Cert {
        path: settings.cert.clone(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&settings.cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no CERTIFICATE in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&settings.key).map_err(|e| TlsError::Key {
        path: settings.key.clone(),
        reason: e.to_string(),
    })?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Key {
        path: settings.key.clone(),
        reason: format!("does not fit the certificate: {e}"),
    })?;
    Ok(Arc::new(certified))
}

/// Serves whichever certificate was loaded last.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The server's TLS configuration, and the task that reloads its certificate on change.
pub fn server_config(
    settings: &TlsSettings,
) -> Result<(rustls::ServerConfig, tokio::task::JoinHandle<()>), TlsError> {
    let resolver = Arc::new(Reloading {
        current: RwLock::new(load(settings)?),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let watched = settings.clone();
    let task = tokio::spawn(async move {
        let stamp = |s: &TlsSettings| (modified(&s.cert), modified(&s.key));
        let mut seen = stamp(&watched);
        let every = Duration::from_secs(watched.reload_seconds.max(1));
        loop {
            tokio::time::sleep(every).await;
            let now = stamp(&watched);
            if now == seen {
                continue;
            }
            match load(&watched) {
                Ok(certified) => {
                    if let Ok(mut current) = resolver.current.write() {
                        *current = certified;
                    }
                    seen = now;
                    tracing::info!(cert = %watched.cert.display(), "TLS certificate reloaded");
                }
                // Retried at the next check: the files may be half written.
                Err(err) => {
                    tracing::error!(error = %err, "TLS certificate not reloaded; serving the previous one");
                }
            }
        }
    });
    Ok((config, task))
}
