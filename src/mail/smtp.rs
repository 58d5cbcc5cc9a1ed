//! SMTP delivery over connections this crate opens itself, with lettre
//! speaking the protocol on them.
//!
//! Why not lettre's own transport: lettre 0.11.23 leaves Nagle's algorithm
//! on, and it ends every message with two writes (the body, then
//! `\r\n.\r\n`). The second waits until the server acknowledges the first,
//! and servers delay that acknowledgement (40 ms on Linux), so every message
//! cost 40 ms of waiting: at most ~25 messages a second per connection. Our
//! sockets set `TCP_NODELAY` (lettre's upstream fix, PR #1159, is not in a
//! release yet). Connections are kept open and reused, as lettre's pool did.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How the conversation is protected, from `mail.smtp_url`.
enum Security {
    /// `smtp://host:port`: plain text (a local relay).
    Plain,
    /// `smtp://...?tls=required` (or `starttls`): STARTTLS or fail;
    /// `?tls=opportunistic`: STARTTLS when the server offers it.
    StartTls {
        parameters: TlsParameters,
        required: bool,
    },
    /// `smtps://host:port`: TLS from the first byte.
    Implicit {
        connector: tokio_rustls::TlsConnector,
        server_name: rustls::pki_types::ServerName<'static>,
    },
}

/// Connections idle longer than this are closed rather than reused: servers
/// drop idle clients (Postfix after 300 s), and a fresh connection is cheap.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// An SMTP server and the connections open to it.
pub struct SmtpSender {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    timeout: Duration,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    max_idle_connections: usize,
}

/// Why a message was not accepted.
pub struct SmtpError {
    /// The server refused it for good (5xx).
    pub permanent: bool,
    pub detail: String,
}

impl SmtpSender {
    /// From `smtp://host[:port][?tls=required|starttls|opportunistic]` or
    /// `smtps://host[:port]`; the default ports are lettre's (25, 587 with
    /// STARTTLS, 465).
    pub fn from_url(
        url: &str,
        credentials: Option<Credentials>,
        timeout: Duration,
        max_idle_connections: usize,
    ) -> anyhow::Result<SmtpSender> {
        let parsed = url::Url::parse(url).map_err(|e| anyhow!("{e}"))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .context("no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls = parsed
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.to_string());
        let starttls = |required: bool| -> anyhow::Result<Security> {
            Ok(Security::StartTls {
                parameters: TlsParameters::new(host.clone()).map_err(|e| anyhow!("{e}"))?,
                required,
            })
        };
        let (security, default_port) = match (parsed.scheme(), tls.as_deref()) {
            ("smtp", None) => (Security::Plain, 25),
            ("smtp", Some("required" | "starttls")) => (starttls(true)?, 587),
            ("smtp", Some("opportunistic")) => (starttls(false)?, 587),
            ("smtps", _) => (implicit_tls(&host)?, 465),
            (scheme, tls) => {
                return Err(anyhow!(
                    "unknown scheme {scheme:?} or tls={tls:?} (use smtp:// or smtps://)"
                ))
            }
        };
        Ok(SmtpSender {
            port: parsed.port().unwrap_or(default_port),
            host,
            security,
            credentials,
            timeout,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            max_idle_connections: max_idle_connections.max(1),
        })
    }

    /// Sends one message: on an idle connection when there is one, else on
    /// a new one. A kept connection the server has meanwhile closed is
    /// replaced once, without counting as a failed attempt.
    pub async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<(), SmtpError> {
        if let Some(conn) = self.take_idle() {
            match self.send_on(conn, envelope, email).await {
                Err(error) if !error.reached_server => {}
                outcome => return outcome.map_err(Into::into),
            }
        }
        let conn = self.connect().await.map_err(|e| SmtpError {
            permanent: false,
            detail: format!("cannot connect: {e}"),
        })?;
        self.send_on(conn, envelope, email)
            .await
            .map_err(Into::into)
    }

    async fn send_on(
        &self,
        mut conn: AsyncSmtpConnection,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<(), Attempt> {
        match tokio::time::timeout(self.timeout, conn.send(envelope, email)).await {
            Ok(Ok(_)) => {
                self.put_idle(conn);
                Ok(())
            }
            // lettre has already ended the conversation (QUIT, close).
            Ok(Err(error)) => Err(Attempt {
                permanent: error.is_permanent(),
                reached_server: error.is_permanent() || error.is_transient(),
                detail: error.to_string(),
            }),
            Err(_) => Err(Attempt {
                permanent: false,
                reached_server: true,
                detail: format!("no answer within {} s", self.timeout.as_secs()),
            }),
        }
    }

    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < MAX_IDLE && !conn.has_broken() {
                return Some(conn);
            }
        }
        None
    }

    fn put_idle(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle_connections {
            idle.push((conn, Instant::now()));
        }
    }

    /// Opens a connection: TCP with `TCP_NODELAY`, TLS as configured, EHLO,
    /// and AUTH when credentials are set.
    async fn connect(&self) -> anyhow::Result<AsyncSmtpConnection> {
        tokio::time::timeout(self.timeout, async {
            let tcp = open_tcp(&self.host, self.port).await?;
            let stream: Box<dyn AsyncTokioStream> = match &self.security {
                Security::Implicit {
                    connector,
                    server_name,
                } => Box::new(TlsStream(
                    connector.connect(server_name.clone(), tcp).await?,
                )),
                _ => Box::new(tcp),
            };
            let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await?;
            match &self.security {
                Security::StartTls {
                    parameters,
                    required,
                } if *required || conn.can_starttls() => {
                    conn.starttls(parameters.clone(), &self.hello).await?;
                }
                _ => {}
            }
            if let Some(credentials) = &self.credentials {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                    .await?;
            }
            anyhow::Ok(conn)
        })
        .await
        .map_err(|_| anyhow!("no answer within {} s", self.timeout.as_secs()))?
    }
}

/// One attempt's failure; `reached_server` is false when the connection
/// broke before the server answered (a kept connection it had closed).
struct Attempt {
    permanent: bool,
    reached_server: bool,
    detail: String,
}

impl From<Attempt> for SmtpError {
    fn from(attempt: Attempt) -> SmtpError {
        SmtpError {
            permanent: attempt.permanent,
            detail: attempt.detail,
        }
    }
}

/// A TCP connection that sends each write at once (no Nagle).
async fn open_tcp(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

fn implicit_tls(host: &str) -> anyhow::Result<Security> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| anyhow!("{e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Security::Implicit {
        connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        server_name: rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| anyhow!("{e}"))?,
    })
}

/// A TLS stream lettre can speak SMTP over.
#[derive(Debug)]
struct TlsStream(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    fn sender(url: &str) -> SmtpSender {
        SmtpSender::from_url(url, None, Duration::from_secs(5), 2).unwrap()
    }

    #[test]
    fn urls_choose_the_protection_and_lettres_default_ports() {
        let cases = [
            ("smtp://relay.example.jp", 25, "plain"),
            ("smtp://relay.example.jp:2525", 2525, "plain"),
            (
                "smtp://relay.example.jp?tls=starttls",
                587,
                "starttls required",
            ),
            (
                "smtp://relay.example.jp?tls=required",
                587,
                "starttls required",
            ),
            ("smtp://relay.example.jp?tls=opportunistic", 587, "starttls"),
            ("smtps://relay.example.jp", 465, "implicit"),
        ];
        for (url, port, expected) in cases {
            let sender = sender(url);
            let security = match sender.security {
                Security::Plain => "plain",
                Security::StartTls { required: true, .. } => "starttls required",
                Security::StartTls {
                    required: false, ..
                } => "starttls",
                Security::Implicit { .. } => "implicit",
            };
            assert_eq!((sender.port, security), (port, expected), "{url}");
            assert_eq!(sender.host, "relay.example.jp");
        }
        for bad in [
            "http://relay.example.jp",
            "smtp://",
            "smtp://h?tls=sometimes",
        ] {
            assert!(
                SmtpSender::from_url(bad, None, Duration::from_secs(1), 1).is_err(),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn connections_turn_nagle_off() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tcp = open_tcp("127.0.0.1", port).await.unwrap();
        assert!(tcp.nodelay().unwrap());
    }

    /// A scripted SMTP server: counts connections and accepted messages,
    /// and hangs up after `per_connection` messages on each connection
    /// (as a server does with idle clients).
    async fn server(per_connection: usize) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (c, a) = (connections.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let a = a.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 test\r\n").await.unwrap();
                    let mut here = 0;
                    let mut in_data = false;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let reply: &[u8] = if in_data {
                            if line != "." {
                                continue;
                            }
                            in_data = false;
                            a.fetch_add(1, Ordering::SeqCst);
                            here += 1;
                            b"250 queued\r\n"
                        } else if line.starts_with("EHLO") {
                            b"250-test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                        } else if line == "DATA" {
                            in_data = true;
                            b"354 go on\r\n"
                        } else if line == "QUIT" {
                            b"221 bye\r\n"
                        } else {
                            b"250 ok\r\n"
                        };
                        write.write_all(reply).await.unwrap();
                        if here == per_connection {
                            return;
                        }
                    }
                });
            }
        });
        (port, connections, accepted)
    }

    fn envelope() -> Envelope {
        Envelope::new(
            Some("clinic@example.jp".parse().unwrap()),
            vec!["patient@example.jp".parse().unwrap()],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn messages_share_one_kept_connection() {
        let (port, connections, accepted) = server(usize::MAX).await;
        let sender = sender(&format!("smtp://127.0.0.1:{port}"));
        for _ in 0..5 {
            assert!(sender
                .send(&envelope(), b"Subject: x\r\n\r\nbody")
                .await
                .is_ok());
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_kept_connection_the_server_closed_is_replaced_without_a_failure() {
        let (port, connections, accepted) = server(1).await;
        let sender = sender(&format!("smtp://127.0.0.1:{port}"));
        for _ in 0..3 {
            let sent = sender.send(&envelope(), b"Subject: x\r\n\r\nbody").await;
            assert!(sent.is_ok(), "{:?}", sent.err().map(|e| e.detail));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        assert_eq!(connections.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn no_server_is_a_temporary_failure() {
        let port = {
            let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
            listener.local_addr().unwrap().port()
        };
        let error = sender(&format!("smtp://127.0.0.1:{port}"))
            .send(&envelope(), b"x")
            .await
            .err()
            .unwrap();
        assert!(!error.permanent);
        assert!(error.detail.contains("cannot connect"), "{}", error.detail);
    }
}
