//! SMTP delivery over connections this crate opens itself, with lettre
//! speaking the protocol on them.
//!
//! Why not lettre's own transport: lettre 0.11.23 leaves Nagle's algorithm
//! on, and it ends every message with two writes (the body, then
//! `\r\n.\r\n`). The second waits until the server acknowledges the first,
//! and servers delay that acknowledgement (delayed ACK), so every message
//! waits for it. Our sockets set `TCP_NODELAY` (lettre's upstream fix, PR #1159, is not in a
//! release yet). Connections are kept open and reused, as lettre's pool did.
//!
//! Where the server offers PIPELINING (RFC 2920), a message takes two round
//! trips instead of lettre's four: MAIL, RCPT and DATA go in one write, the
//! message and its closing dot in another.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
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
    idle: Mutex<Vec<(Connection, Instant)>>,
    max_idle_connections: usize,
}

/// An open conversation with the server.
struct Connection {
    smtp: AsyncSmtpConnection,
    /// The server offered PIPELINING in its reply to EHLO.
    pipelining: bool,
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

    /// Whether every conversation is encrypted before anything is sent:
    /// implicit TLS, or STARTTLS that is required. Plain text is not, and
    /// neither is `tls=opportunistic`, which an attacker on the path can
    /// turn into plain text by hiding STARTTLS from the server's greeting.
    pub fn always_encrypted(&self) -> bool {
        match self.security {
            Security::Plain => false,
            Security::StartTls { required, .. } => required,
            Security::Implicit { .. } => true,
        }
    }

    /// The server's host name or address, as configured.
    pub fn host(&self) -> &str {
        &self.host
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
        mut conn: Connection,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<(), Attempt> {
        let conversation = async {
            if conn.pipelining {
                send_pipelined(&mut conn.smtp, envelope, email).await
            } else {
                // On a refusal lettre has already ended the conversation.
                conn.smtp
                    .send(envelope, email)
                    .await
                    .map(drop)
                    .map_err(Attempt::from)
            }
        };
        match tokio::time::timeout(self.timeout, conversation).await {
            Ok(sent) => {
                if sent.is_ok() {
                    self.put_idle(conn);
                }
                sent
            }
            Err(_) => Err(Attempt {
                permanent: false,
                reached_server: true,
                detail: format!("no answer within {} s", self.timeout.as_secs()),
            }),
        }
    }

    fn take_idle(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < MAX_IDLE && !conn.smtp.has_broken() {
                return Some(conn);
            }
        }
        None
    }

    fn put_idle(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle_connections {
            idle.push((conn, Instant::now()));
        }
    }

    /// Opens a connection: TCP with `TCP_NODELAY`, TLS as configured, EHLO,
    /// and AUTH when credentials are set.
    async fn connect(&self) -> anyhow::Result<Connection> {
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
            // lettre keeps only the EHLO keywords it uses, and PIPELINING is
            // not one of them: ask once more (before AUTH, which ends the
            // greeting), once per connection.
            let pipelining = offers_pipelining(&conn.command(Ehlo::new(self.hello.clone())).await?);
            if let Some(credentials) = &self.credentials {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                    .await?;
            }
            anyhow::Ok(Connection {
                smtp: conn,
                pipelining,
            })
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

impl From<lettre::transport::smtp::Error> for Attempt {
    fn from(error: lettre::transport::smtp::Error) -> Attempt {
        Attempt {
            permanent: error.is_permanent(),
            reached_server: error.is_permanent() || error.is_transient(),
            detail: error.to_string(),
        }
    }
}

impl From<Attempt> for SmtpError {
    fn from(attempt: Attempt) -> SmtpError {
        SmtpError {
            permanent: attempt.permanent,
            detail: attempt.detail,
        }
    }
}

/// Whether a reply to EHLO lists PIPELINING among the server's extensions.
fn offers_pipelining(ehlo: &Response) -> bool {
    ehlo.message()
        .skip(1) // the server's name
        .any(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|keyword| keyword.eq_ignore_ascii_case("PIPELINING"))
        })
}

/// Sends one message as RFC 2920 allows: MAIL, every RCPT and DATA in one
/// write, their replies read in order, then the message and its closing dot
/// in one write. Refusals are what lettre's own `send` reports (the first
/// refused command's reply); the connection is then not used again.
async fn send_pipelined(
    conn: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    email: &[u8],
) -> Result<(), Attempt> {
    let refused = |detail: &str| Attempt {
        permanent: true,
        reached_server: true,
        detail: detail.to_string(),
    };
    // The parameters lettre would give MAIL (RFC 6531, RFC 6152).
    let mut parameters = Vec::new();
    let mut addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.any(|address| !AsRef::<str>::as_ref(address).is_ascii()) {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err(refused(
                "the addresses need SMTPUTF8, which the server does not offer",
            ));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !email.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err(refused(
                "the message needs 8BITMIME, which the server does not offer",
            ));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let mut commands = Mail::new(envelope.from().cloned(), parameters).to_string();
    for recipient in envelope.to() {
        commands.push_str(&Rcpt::new(recipient.clone(), vec![]).to_string());
    }
    commands.push_str(&Data.to_string());

    // lettre's `command` writes what it is given as it is, then reads one
    // reply; the replies to the other commands follow in order.
    let replies = envelope.to().len() + 2; // MAIL, each RCPT, DATA
    let mut first_refusal = None;
    let mut data_accepted = false;
    for n in 0..replies {
        let reply = if n == 0 {
            conn.command(std::mem::take(&mut commands)).await
        } else {
            conn.read_response().await
        };
        match reply {
            Ok(_) => data_accepted = n == replies - 1,
            Err(error) if error.is_permanent() || error.is_transient() => {
                first_refusal.get_or_insert(error);
            }
            // The connection broke: no more replies will come.
            Err(error) => return Err(error.into()),
        }
    }
    if let Some(refusal) = first_refusal {
        // When DATA was refused too, the conversation is back at its start
        // and is ended politely; when it was accepted anyway, the server
        // awaits a message that will not come, and dropping the connection
        // discards it.
        if !data_accepted {
            conn.abort().await;
        }
        return Err(refusal.into());
    }
    let accepted = match std::str::from_utf8(email) {
        Ok(text) => conn.command(data_block(text)).await,
        Err(_) => conn.message(email).await,
    };
    accepted.map(drop).map_err(Attempt::from)
}

/// The message as DATA sends it (RFC 5321 4.5.2): a dot that begins a line
/// doubled, as lettre does, and the line with a single dot that ends it.
fn data_block(email: &str) -> String {
    let mut block = String::with_capacity(email.len() + 64);
    for line in email.split_inclusive("\r\n") {
        if line.starts_with('.') {
            block.push('.');
        }
        block.push_str(line);
    }
    block.push_str("\r\n.\r\n");
    block
}

/// Whether `host` (a name or an address, without brackets) is this
/// machine: `localhost` (and names under it, RFC 6761) or a loopback
/// address. Only there does text sent in clear stay off the network.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let lower = host.to_ascii_lowercase();
    let lower = lower.trim_end_matches('.');
    lower == "localhost"
        || lower.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
    use smtp_sink::{Builder, SmtpSink};
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

    #[test]
    fn only_this_machine_counts_as_loopback() {
        for host in [
            "localhost",
            "LOCALHOST",
            "mail.localhost",
            "127.0.0.1",
            "127.8.9.1",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "smtp.example.jp",
            "10.0.0.5",
            "192.168.1.2",
            "0.0.0.0",
            "::",
            "localhost.example.jp",
            "2001:db8::1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn only_implicit_tls_and_required_starttls_are_always_encrypted() {
        let cases = [
            ("smtp://relay.example.jp", false),
            ("smtp://relay.example.jp?tls=opportunistic", false),
            ("smtp://relay.example.jp?tls=required", true),
            ("smtp://relay.example.jp?tls=starttls", true),
            ("smtps://relay.example.jp", true),
        ];
        for (url, encrypted) in cases {
            assert_eq!(sender(url).always_encrypted(), encrypted, "{url}");
        }
    }

    #[tokio::test]
    async fn connections_turn_nagle_off() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tcp = open_tcp("127.0.0.1", port).await.unwrap();
        assert!(tcp.nodelay().unwrap());
    }

    /// The shared test sink, offering PIPELINING or not. One that offers
    /// it answers MAIL and RCPT only once DATA has come (RFC 2920 lets it
    /// answer when it likes), so a client that waits for each reply would
    /// wait for ever.
    fn server(pipelining: bool) -> Builder {
        let sink = SmtpSink::builder();
        if pipelining {
            sink.hold_envelope_replies()
        } else {
            sink.without_pipelining()
        }
    }

    /// The messages the sink accepted, as text.
    fn accepted(sink: &SmtpSink) -> Vec<String> {
        sink.mails()
            .into_iter()
            .map(|mail| String::from_utf8(mail.raw).unwrap())
            .collect()
    }

    fn envelope() -> Envelope {
        Envelope::new(
            Some("clinic@example.jp".parse().unwrap()),
            vec!["patient@example.jp".parse().unwrap()],
        )
        .unwrap()
    }

    /// Sends `count` small messages, each of which must be accepted.
    async fn send_accepted(sender: &SmtpSender, count: usize) {
        for _ in 0..count {
            let sent = sender.send(&envelope(), b"Subject: x\r\n\r\nbody").await;
            assert!(sent.is_ok(), "{:?}", sent.err().map(|e| e.detail));
        }
    }

    #[tokio::test]
    async fn messages_share_one_kept_connection() {
        for pipelining in [false, true] {
            let sink = server(pipelining).start().unwrap();
            send_accepted(&sender(&sink.url()), 5).await;
            assert_eq!(sink.mails().len(), 5, "pipelining: {pipelining}");
            assert_eq!(sink.connections(), 1);
        }
    }

    #[tokio::test]
    async fn commands_are_pipelined_only_where_the_server_offers_it() {
        let sink = server(false).start().unwrap();
        send_accepted(&sender(&sink.url()), 3).await;
        assert_eq!(sink.mails().len(), 3);
        assert_eq!(sink.pipelined_commands(), 0);
        // The pipelining server answers MAIL only once DATA has come, so
        // these arrive only if the client pipelined them.
        let sink = server(true).start().unwrap();
        send_accepted(&sender(&sink.url()), 3).await;
        assert_eq!(sink.mails().len(), 3);
    }

    #[tokio::test]
    async fn a_message_arrives_the_same_whether_pipelined_or_not() {
        let email = "Subject: =?utf-8?b?5LqI57SE?=\r\n\r\n.a line that starts with a dot\r\n\
                     ご予約を承りました。\r\n..two dots\r\n.\r\nend\r\n";
        for pipelining in [false, true] {
            let sink = server(pipelining).start().unwrap();
            let sent = sender(&sink.url())
                .send(&envelope(), email.as_bytes())
                .await;
            assert!(sent.is_ok(), "{:?}", sent.err().map(|e| e.detail));
            // DATA ends with CRLF . CRLF after the message, as lettre sends it.
            assert_eq!(
                accepted(&sink),
                [format!("{email}\r\n")],
                "pipelining: {pipelining}"
            );
        }
    }

    #[tokio::test]
    async fn a_refused_recipient_fails_for_good_whether_pipelined_or_not() {
        for pipelining in [false, true] {
            let sink = server(pipelining).start().unwrap();
            sink.reject_with_550();
            let error = sender(&sink.url())
                .send(&envelope(), b"Subject: x\r\n\r\nbody")
                .await
                .err()
                .unwrap();
            assert!(error.permanent, "pipelining: {pipelining}");
            assert!(error.detail.contains("550"), "{}", error.detail);
            assert_eq!(sink.mails().len(), 0);
        }
    }

    #[tokio::test]
    async fn a_kept_connection_the_server_closed_is_replaced_without_a_failure() {
        for pipelining in [false, true] {
            let sink = server(pipelining).hang_up_after(1).start().unwrap();
            send_accepted(&sender(&sink.url()), 3).await;
            assert_eq!(sink.mails().len(), 3, "pipelining: {pipelining}");
            assert_eq!(sink.connections(), 3);
        }
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
