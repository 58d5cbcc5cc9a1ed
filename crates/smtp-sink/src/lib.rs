//! A small SMTP server on 127.0.0.1 for clinic-booking's tests and its
//! bench: it accepts (or, when told, refuses with 550) every recipient,
//! notes when each recipient's message was accepted and keeps the raw text,
//! so a test can read what the application really sent.
//!
//! It runs on its own thread and tokio runtime, as a mail server would in
//! its own process: it never queues behind the tasks of the runtime that
//! drives the test or the load. Dropping the sink stops it.
//!
//! It offers PIPELINING (RFC 2920) and, as Postfix does, answers the
//! commands read so far together. For the client's own tests it can also
//! leave PIPELINING out, hold its replies to MAIL and RCPT until DATA, and
//! hang up after some messages on a connection.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as received.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message, dot-stuffing undone.
    pub raw: Vec<u8>,
}

impl Mail {
    pub fn is_to(&self, address: &str) -> bool {
        self.to.iter().any(|to| to == address)
    }
}

#[cfg(feature = "parse")]
impl Mail {
    pub fn subject(&self) -> String {
        use mail_parser::MessageParser;
        MessageParser::default()
            .parse(&self.raw)
            .and_then(|m| m.subject().map(str::to_string))
            .expect("a subject")
    }

    /// The plain-text body, decoded.
    pub fn text(&self) -> String {
        use mail_parser::MessageParser;
        MessageParser::default()
            .parse(&self.raw)
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
            .expect("a text body")
    }

    /// The `.ics` attachment, decoded, and its content type's `method`.
    pub fn ics(&self) -> Option<(String, Option<String>)> {
        use mail_parser::{MessageParser, MimeHeaders};
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
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// How a sink behaves; [`SmtpSink::start`] takes the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Builder {
    port: u16,
    offer_pipelining: bool,
    hold_envelope_replies: bool,
    hang_up_after: Option<usize>,
    keep_messages: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            port: 0,
            offer_pipelining: true,
            hold_envelope_replies: false,
            hang_up_after: None,
            keep_messages: true,
        }
    }
}

impl Builder {
    /// Listens on this port instead of a free one.
    pub fn port(self, port: u16) -> Builder {
        Builder { port, ..self }
    }

    /// Leaves PIPELINING out of the reply to EHLO.
    pub fn without_pipelining(self) -> Builder {
        Builder {
            offer_pipelining: false,
            ..self
        }
    }

    /// Holds the replies to MAIL and RCPT until DATA has come (RFC 2920
    /// lets a server answer when it likes): a client that waits for each
    /// reply would wait for ever.
    pub fn hold_envelope_replies(self) -> Builder {
        Builder {
            hold_envelope_replies: true,
            ..self
        }
    }

    /// Hangs up after this many messages on a connection, as a server does
    /// with idle clients.
    pub fn hang_up_after(self, messages: usize) -> Builder {
        Builder {
            hang_up_after: Some(messages),
            ..self
        }
    }

    /// Keeps only when each recipient's message was accepted, not the
    /// messages (for loads, where nobody reads them).
    pub fn discard_messages(self) -> Builder {
        Builder {
            keep_messages: false,
            ..self
        }
    }

    /// Binds the port and starts the sink's thread.
    pub fn start(self) -> io::Result<SmtpSink> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let serving = shared.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("smtp-sink".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    let accept = async {
                        while let Ok((stream, _)) = listener.accept().await {
                            serving.connections.fetch_add(1, Ordering::SeqCst);
                            let shared = serving.clone();
                            tokio::spawn(async move {
                                let _ = serve(stream, self, shared).await;
                            });
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(SmtpSink {
            port,
            shared,
            stop: Some(stop),
        })
    }
}

#[derive(Default)]
struct Shared {
    mails: Mutex<Vec<Mail>>,
    accepted: Mutex<HashMap<String, Instant>>,
    reject: AtomicBool,
    rejected: AtomicUsize,
    connections: AtomicUsize,
    pipelined: AtomicUsize,
}

/// A lock that a panicking test thread may have poisoned still holds what
/// was received.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct SmtpSink {
    pub port: u16,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl SmtpSink {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A sink with the defaults on a free port.
    pub fn start() -> SmtpSink {
        Builder::default().start().expect("smtp sink starts")
    }

    /// A sink with the defaults on `port`.
    pub fn start_on(port: u16) -> SmtpSink {
        Builder::default()
            .port(port)
            .start()
            .expect("smtp sink starts")
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// From now on, refuse every recipient with `550` (and so DATA, with
    /// no recipient left, with `554`).
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

    /// How many connections clients opened.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many commands came before the reply to the one before them.
    pub fn pipelined_commands(&self) -> usize {
        self.shared.pipelined.load(Ordering::SeqCst)
    }

    /// When the message to `recipient` was first accepted (250 after DATA).
    pub fn accepted_at(&self, recipient: &str) -> Option<Instant> {
        lock(&self.shared.accepted).get(recipient).copied()
    }

    /// The messages accepted so far (none when told to discard them).
    pub fn mails(&self) -> Vec<Mail> {
        lock(&self.shared.mails).clone()
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

/// One client's conversation.
async fn serve(stream: TcpStream, options: Builder, shared: Arc<Shared>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    let mut data_line = Vec::new();
    let mut replies = Vec::new();
    let mut messages = 0;
    loop {
        let mut hang_up = false;
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if !lines.buffer().is_empty() {
            shared.pipelined.fetch_add(1, Ordering::SeqCst);
        }
        let command = line.trim_end();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if options.offer_pipelining => {
                b"250-sink\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n"
            }
            "EHLO" => b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 sink\r\n",
            "MAIL" => {
                from = address_of(command);
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                if shared.reject.load(Ordering::SeqCst) {
                    shared.rejected.fetch_add(1, Ordering::SeqCst);
                    b"550 5.1.1 mailbox unavailable\r\n"
                } else {
                    to.push(address_of(command));
                    b"250 OK\r\n"
                }
            }
            "DATA" if to.is_empty() => b"554 5.5.1 no valid recipients\r\n",
            "DATA" => {
                replies.extend_from_slice(b"354 go ahead\r\n");
                write.write_all(&replies).await?;
                replies.clear();
                let mut raw = Vec::new();
                loop {
                    data_line.clear();
                    if lines.read_until(b'\n', &mut data_line).await? == 0 {
                        return Ok(());
                    }
                    if data_line == b".\r\n" || data_line == b".\n" {
                        break;
                    }
                    if options.keep_messages {
                        // Undo dot-stuffing.
                        let unstuffed = data_line.strip_prefix(b".").unwrap_or(&data_line);
                        raw.extend_from_slice(unstuffed);
                    }
                }
                let now = Instant::now();
                {
                    let mut accepted = lock(&shared.accepted);
                    for recipient in &to {
                        accepted.entry(recipient.clone()).or_insert(now);
                    }
                }
                let to = std::mem::take(&mut to);
                if options.keep_messages {
                    let from = from.clone();
                    lock(&shared.mails).push(Mail { from, to, raw });
                }
                messages += 1;
                hang_up = options.hang_up_after == Some(messages);
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
        if hang_up {
            write.write_all(&replies).await?;
            return Ok(());
        }
        let held = options.hold_envelope_replies && matches!(verb.as_str(), "MAIL" | "RCPT");
        if !held && lines.buffer().is_empty() {
            write.write_all(&replies).await?;
            replies.clear();
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
