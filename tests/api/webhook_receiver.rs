//! A webhook receiver for the tests: a small HTTP/1.1 server that checks
//! every request as the Standard Webhooks specification tells a receiver
//! to (`webhook-id`, `webhook-timestamp` within five minutes, a `v1,`
//! signature over `id.timestamp.body` by one of the secrets it knows),
//! keeps what it got and answers as told: 200, another status, slowly, or
//! not at all (its port closed, so connections are refused).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub webhook_id: String,
    pub timestamp: i64,
    pub signatures: Vec<String>,
    pub content_type: String,
    pub body: Value,
    /// The signature checked out with one of the receiver's secrets.
    pub verified: bool,
    /// What the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }

    pub fn reference(&self) -> &str {
        self.body["data"]["reference"].as_str().unwrap_or_default()
    }
}

#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    Slowly(Duration),
}

struct Shared {
    keys: Vec<Vec<u8>>,
    received: Mutex<Vec<Received>>,
    answer: Mutex<Answer>,
}

pub struct WebhookReceiver {
    address: SocketAddr,
    shared: Arc<Shared>,
    /// The listener and its connections while up.
    serving: Mutex<Option<JoinSet<()>>>,
}

/// The key of a `whsec_` secret, decoded as the specification says.
fn key_of(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix("whsec_").expect("a whsec_ secret");
    STANDARD.decode(encoded).expect("base64")
}

/// `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.
fn expected_signature(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    ring::hmac::sign(&key, &signed).as_ref().to_vec()
}

impl WebhookReceiver {
    /// A receiver that knows `secrets` (several while it accepts both
    /// sides of a rotation), up and answering 200.
    pub async fn start(secrets: &[&str]) -> Arc<WebhookReceiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let receiver = Arc::new(WebhookReceiver {
            address,
            shared: Arc::new(Shared {
                keys: secrets.iter().map(|secret| key_of(secret)).collect(),
                received: Mutex::new(Vec::new()),
                answer: Mutex::new(Answer::Status(200)),
            }),
            serving: Mutex::new(None),
        });
        receiver.serve(listener);
        receiver
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn serve(&self, listener: TcpListener) {
        let mut tasks = JoinSet::new();
        let shared = self.shared.clone();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                connections.spawn(handle(stream, shared.clone()));
            }
        });
        *self.serving.lock().unwrap() = Some(tasks);
    }

    /// Closes the port (and every open connection): connections are
    /// refused until `up`.
    pub async fn down(&self) {
        let tasks = self.serving.lock().unwrap().take();
        if let Some(mut tasks) = tasks {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }

    /// Listens again on the same port.
    pub async fn up(&self) {
        let listener = TcpListener::bind(self.address).await.expect("rebind");
        self.serve(listener);
    }

    pub fn answer_with(&self, status: u16) {
        *self.shared.answer.lock().unwrap() = Answer::Status(status);
    }

    /// Answers 200, but only after `delay`.
    pub fn answer_slowly(&self, delay: Duration) {
        *self.shared.answer.lock().unwrap() = Answer::Slowly(delay);
    }

    /// Every request so far, in the order received.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was received.
    pub async fn until(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not received in time: {received:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Serves the requests of one connection (kept alive) until it closes.
async fn handle(stream: TcpStream, shared: Arc<Shared>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let answer = *shared.answer.lock().unwrap();
        let status = match answer {
            Answer::Status(status) => status,
            Answer::Slowly(delay) => {
                tokio::time::sleep(delay).await;
                200
            }
        };
        let header = |name: &str| headers.get(name).cloned().unwrap_or_default();
        let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
        let signatures: Vec<String> = header("webhook-signature")
            .split(' ')
            .map(str::to_string)
            .collect();
        let now = chrono::Utc::now().timestamp();
        let fresh = timestamp
            .parse::<i64>()
            .is_ok_and(|at| (now - at).abs() <= 300);
        let verified = !id.is_empty()
            && fresh
            && signatures.iter().any(|signature| {
                let Some(("v1", mac)) = signature.split_once(',') else {
                    return false;
                };
                let Ok(mac) = STANDARD.decode(mac) else {
                    return false;
                };
                shared
                    .keys
                    .iter()
                    .any(|key| expected_signature(key, &id, &timestamp, &body) == mac)
            });
        shared.received.lock().unwrap().push(Received {
            path,
            webhook_id: id,
            timestamp: timestamp.parse().unwrap_or_default(),
            signatures,
            content_type: header("content-type"),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            verified,
            answered: status,
        });
        let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
        if reader
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}
