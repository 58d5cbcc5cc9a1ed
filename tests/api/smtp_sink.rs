//! A small SMTP server for the tests: accepts (or, when told, rejects with
//! 550) every message and keeps the raw text, so tests can read what the
//! application really sent.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as received.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

impl Mail {
    pub fn subject(&self) -> String {
        MessageParser::default()
            .parse(&self.raw)
            .and_then(|m| m.subject().map(str::to_string))
            .expect("a subject")
    }

    /// The plain-text body, decoded.
    pub fn text(&self) -> String {
        MessageParser::default()
            .parse(&self.raw)
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
            .expect("a text body")
    }

    /// The `.ics` attachment, decoded, and its content type's `method`.
    pub fn ics(&self) -> Option<(String, Option<String>)> {
        let message = MessageParser::default().parse(&self.raw)?;
        let part = message
            .attachments()
            .find(|part| part.attachment_name() == Some("reservation.ics"))?;
        let method = part
            .content_type()
            .and_then(|ct| ct.attribute("method"))
            .map(str::to_string);
        Some((String::from_utf8(part.contents().to_vec()).ok()?, method))
    }

    pub fn is_to(&self, address: &str) -> bool {
        self.to.iter().any(|to| to == address)
    }
}

#[derive(Default)]
struct Shared {
    mails: Mutex<Vec<Mail>>,
    reject: AtomicBool,
    rejected: AtomicUsize,
}

pub struct SmtpSink {
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_on(0).await
    }

    pub async fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("smtp sink binds");
        let port = listener.local_addr().expect("address").port();
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = accepting.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, shared).await;
                });
            }
        });
        SmtpSink { port, shared, task }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// From now on, refuse every recipient with `550`.
    pub fn reject_with_550(&self) {
        self.shared.reject.store(true, Ordering::SeqCst);
    }

    /// From now on, accept recipients again.
    pub fn accept_again(&self) {
        self.shared.reject.store(false, Ordering::SeqCst);
    }

    /// How many recipients were refused.
    pub fn rejected(&self) -> usize {
        self.shared.rejected.load(Ordering::SeqCst)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.shared.mails.lock().expect("sink lock").clone()
    }

    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.is_to(address))
            .collect()
    }

    /// Waits (at most `within`) until at least `count` messages match, and
    /// returns the matching ones.
    pub async fn wait_for(
        &self,
        count: usize,
        within: Duration,
        matches: impl Fn(&Mail) -> bool,
    ) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let found: Vec<Mail> = self.mails().into_iter().filter(|m| matches(m)).collect();
            if found.len() >= count || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One client's conversation. It offers PIPELINING (RFC 2920): replies go
/// out once the commands read so far are answered, as Postfix sends them.
async fn serve(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP test\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    let mut replies = Vec::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 sink\r\n",
            "MAIL" => {
                from = address_of(&command);
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                if shared.reject.load(Ordering::SeqCst) {
                    shared.rejected.fetch_add(1, Ordering::SeqCst);
                    b"550 5.1.1 mailbox unavailable\r\n"
                } else {
                    to.push(address_of(&command));
                    b"250 OK\r\n"
                }
            }
            "DATA" if to.is_empty() => b"554 5.5.1 no valid recipients\r\n",
            "DATA" => {
                replies.extend_from_slice(b"354 go ahead\r\n");
                write.write_all(&std::mem::take(&mut replies)).await?;
                let mut raw = Vec::new();
                loop {
                    let mut data_line = Vec::new();
                    if lines.read_until(b'\n', &mut data_line).await? == 0 {
                        return Ok(());
                    }
                    if data_line == b".\r\n" || data_line == b".\n" {
                        break;
                    }
                    // Undo dot-stuffing.
                    let unstuffed = data_line.strip_prefix(b".").unwrap_or(&data_line);
                    raw.extend_from_slice(unstuffed);
                }
                shared.mails.lock().expect("sink lock").push(Mail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    raw,
                });
                b"250 OK queued\r\n"
            }
            "RSET" => {
                to.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                replies.extend_from_slice(b"221 bye\r\n");
                write.write_all(&replies).await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        replies.extend_from_slice(reply);
        if lines.buffer().is_empty() {
            write.write_all(&std::mem::take(&mut replies)).await?;
        }
    }
}

fn address_of(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_string())
        .unwrap_or_default()
}
