//! A connection lost while a decision batch commits: the writer finds out from the database
//! whether the batch was stored, so a client is told of a failure only for decisions that are
//! not stored. PostgreSQL only: a proxy between the store and the server cuts one connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use riskloop_serve::store::DatabaseSettings;
use riskloop_serve::store::{NewDecision, Store};
use riskloop_serve::writer::{DecisionWriter, SubmitError, WriterSettings, Written};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::store::{decision, seed};

#[derive(Clone, Copy, Debug)]
enum Cut {
    /// The server gets the message (and commits); its answer never reaches the client.
    AfterDelivery,
    /// The message never reaches the server.
    BeforeDelivery,
}

/// What the proxy waits for a client to send, and what it then does.
type Trap = Option<(Vec<u8>, Cut)>;

/// A TCP proxy to PostgreSQL that cuts the one connection whose client sends the trap's bytes.
#[derive(Clone, Default)]
struct Proxy {
    trap: Arc<Mutex<Trap>>,
    sprung: Arc<Mutex<Option<Cut>>>,
}

impl Proxy {
    async fn start(upstream: String) -> (Self, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Self::default();
        let spawned = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&upstream).await.unwrap();
                tokio::spawn(spawned.clone().pump(client, server));
            }
        });
        (proxy, port)
    }

    fn arm(&self, needle: &str, cut: Cut) {
        *self.sprung.lock().unwrap() = None;
        *self.trap.lock().unwrap() = Some((needle.as_bytes().to_vec(), cut));
    }

    fn sprung(&self) -> Option<Cut> {
        *self.sprung.lock().unwrap()
    }

    async fn pump(self, client: TcpStream, server: TcpStream) {
        let (mut client_rx, mut client_tx) = client.into_split();
        let (mut server_rx, mut server_tx) = server.into_split();
        let answers = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
        });
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_rx.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // The last bytes of the previous read too, in case the needle straddles two reads.
            seen.drain(..seen.len().saturating_sub(64));
            seen.extend_from_slice(&buf[..n]);
            let cut = {
                let mut trap = self.trap.lock().unwrap();
                let hit = trap
                    .as_ref()
                    .is_some_and(|(needle, _)| seen.windows(needle.len()).any(|w| w == needle));
                if hit {
                    trap.take().map(|(_, cut)| cut)
                } else {
                    None
                }
            };
            match cut {
                None => {
                    if server_tx.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                Some(cut) => {
                    // Stop answering the client first, so that nothing the server says gets back.
                    answers.abort();
                    if let Cut::AfterDelivery = cut {
                        let _ = server_tx.write_all(&buf[..n]).await;
                        // Long enough for the server to run and commit what it was sent.
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    *self.sprung.lock().unwrap() = Some(cut);
                    return; // both sockets close
                }
            }
        }
        answers.abort();
    }
}

#[tokio::test]
async fn a_batch_whose_commit_answer_is_lost_is_answered_by_what_the_database_holds() {
    let Some(db) = crate::helpers::TestDb::postgres().await else {
        return;
    };
    let mut url = url::Url::parse(&db.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let (proxy, port) = Proxy::start(upstream).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(port)).unwrap();
    url.query_pairs_mut().append_pair("sslmode", "disable");
    let store = Store::connect(
        &SecretString::from(url.to_string()),
        &DatabaseSettings::pool(4),
    )
    .await
    .unwrap();

    let key = seed(&db.store).await;
    let metrics = Arc::new(riskloop_serve::telemetry::metrics::Metrics::default());
    let settings = WriterSettings {
        tasks: 1,
        ..WriterSettings::default()
    };
    let (writer, tasks) = DecisionWriter::start(&store, settings, &metrics).unwrap();

    // Committed, but the answer is lost: the client is told it was committed.
    let committed: Vec<NewDecision> = (0..3).map(|_| decision(key, None)).collect();
    proxy.arm(&committed[1].id, Cut::AfterDelivery);
    let written = writer.submit(committed.clone()).await.unwrap();
    assert!(
        matches!(proxy.sprung(), Some(Cut::AfterDelivery)),
        "the proxy cut the insert"
    );
    assert_eq!(written.len(), 3);
    for (d, w) in committed.iter().zip(&written) {
        let stored = db.store.get_decision(&d.id).await.unwrap().expect("stored");
        assert_eq!(*w, Written::Committed(stored.created_at));
    }

    // Never reached the server: the client is told it was not stored, and it is not.
    let lost: Vec<NewDecision> = (0..2).map(|_| decision(key, None)).collect();
    proxy.arm(&lost[0].id, Cut::BeforeDelivery);
    let answer = writer.submit(lost.clone()).await;
    assert!(
        matches!(proxy.sprung(), Some(Cut::BeforeDelivery)),
        "the proxy cut the insert"
    );
    assert!(matches!(answer, Err(SubmitError::NotStored)), "{answer:?}");
    for d in &lost {
        assert!(db.store.get_decision(&d.id).await.unwrap().is_none());
    }

    // And the writer goes on with a fresh connection.
    let after = vec![decision(key, None)];
    assert!(matches!(
        writer.submit(after.clone()).await.unwrap()[..],
        [Written::Committed(_)]
    ));
    assert_eq!(db.store.count_decisions().await.unwrap(), 4);
    drop(writer);
    tasks.flushed().await;
    // The committed batch whose answer was lost is a link of the chain, and the next goes on.
    crate::chain::assert_chains_intact(&db.store).await;
    store.close().await;
    db.finish().await;
}
