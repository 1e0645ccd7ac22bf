//! The HTTPS listener with a certificate made at test time: requests are served over TLS, the
//! UI's cookies are `Secure`, plain HTTP gets nothing, and a renewed certificate is served
//! without a restart while a broken renewal keeps the previous one.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use riskloop_serve::http::tls::TlsSettings;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::app::spawn_app_tls;
use crate::helpers::TestDb;

/// A self-signed certificate for localhost and 127.0.0.1, written as PEM to `dir`.
fn certificate(dir: &Path) -> CertificateDer<'static> {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    // Written whole, then renamed: a reload never reads half a file.
    for (name, text) in [
        ("key.pem", made.signing_key.serialize_pem()),
        ("cert.pem", made.cert.pem()),
    ] {
        std::fs::write(dir.join(format!("{name}.new")), text).unwrap();
        std::fs::rename(dir.join(format!("{name}.new")), dir.join(name)).unwrap();
    }
    made.cert.der().clone()
}

/// `GET path` over TLS trusting only `root`: the reply, and the certificate the server showed.
async fn get(
    port: u16,
    root: &CertificateDer<'static>,
    path: &str,
) -> std::io::Result<(String, CertificateDer<'static>)> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let shown = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut reply = Vec::new();
    // A server may close without a TLS close_notify once it has answered.
    let _ = tls.read_to_end(&mut reply).await;
    Ok((String::from_utf8_lossy(&reply).into_owned(), shown))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_and_a_renewed_certificate_is_picked_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = certificate(dir.path());
    let tls = TlsSettings {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
        reload_seconds: 1,
    };
    let app = spawn_app_tls(TestDb::sqlite().await, tls).await;
    let port = app.port;

    let (reply, shown) = get(port, &first, "/healthz").await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(shown, first);
    // The UI's cookies are Secure over TLS.
    let (reply, _) = get(port, &first, "/ui/login").await.unwrap();
    let cookie = reply
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: riskloop_login=")
        })
        .unwrap_or_else(|| panic!("{reply}"));
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");

    // A renewed certificate is served within a few seconds, and the old one no longer.
    let second = certificate(dir.path());
    let started = Instant::now();
    loop {
        if let Ok((reply, shown)) = get(port, &second, "/healthz").await {
            assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
            assert_eq!(shown, second);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the renewal was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        get(port, &first, "/healthz").await.is_err(),
        "the old certificate is not trusted for the new one"
    );

    // A broken renewal is refused and the served certificate stays.
    std::fs::write(
        dir.path().join("cert.pem"),
        "-----BEGIN CERTIFICATE-----\nbroken\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (reply, shown) = get(port, &second, "/healthz").await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(shown, second);
    app.finish().await;
}

#[tokio::test]
async fn a_key_that_does_not_fit_its_certificate_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    certificate(dir.path());
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.path().join("key.pem"), other.serialize_pem()).unwrap();
    let tls = TlsSettings {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
        reload_seconds: 10,
    };
    let err = riskloop_serve::http::tls::server_config(&tls).unwrap_err();
    assert!(
        err.to_string().contains("does not fit the certificate"),
        "{err}"
    );
    let missing = TlsSettings {
        cert: dir.path().join("nowhere.pem"),
        ..tls
    };
    let err = riskloop_serve::http::tls::server_config(&missing).unwrap_err();
    assert!(err.to_string().contains("nowhere.pem"), "{err}");
}
