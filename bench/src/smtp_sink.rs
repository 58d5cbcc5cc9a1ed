//! An SMTP sink (after `tests/api/smtp_sink.rs`) that only notes when each
//! recipient's message was accepted, so mail latency can be measured.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

type Accepted = Arc<Mutex<HashMap<String, Instant>>>;

/// The sink runs on its own thread and runtime, as a mail server would in
/// its own process: it must not queue behind the load generator's tasks.
pub struct SmtpSink {
    pub port: u16,
    accepted: Accepted,
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
    pub async fn start() -> anyhow::Result<SmtpSink> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let accepted: Accepted = Arc::default();
        let shared = accepted.clone();
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
                            let shared = shared.clone();
                            tokio::spawn(async move {
                                let _ = serve(stream, shared).await;
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
            accepted,
            stop: Some(stop),
        })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// When the message to `recipient` was accepted (250 after DATA).
    pub fn accepted_at(&self, recipient: &str) -> Option<Instant> {
        self.accepted
            .lock()
            .expect("sink lock")
            .get(recipient)
            .copied()
    }
}

/// One client's conversation. Replies to pipelined commands (RFC 2920) go
/// out together once the commands read so far are answered, as Postfix
/// sends them.
async fn serve(stream: TcpStream, accepted: Accepted) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP bench\r\n").await?;
    let mut to = Vec::new();
    let mut line = String::new();
    let mut data_line = Vec::new();
    let mut replies = Vec::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 sink\r\n",
            "MAIL" => {
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(address_of(command));
                b"250 OK\r\n"
            }
            "DATA" if to.is_empty() => b"554 no valid recipients\r\n",
            "DATA" => {
                replies.extend_from_slice(b"354 go ahead\r\n");
                write.write_all(&replies).await?;
                replies.clear();
                loop {
                    data_line.clear();
                    if lines.read_until(b'\n', &mut data_line).await? == 0 {
                        return Ok(());
                    }
                    if data_line == b".\r\n" || data_line == b".\n" {
                        break;
                    }
                }
                let now = Instant::now();
                let mut map = accepted.lock().expect("sink lock");
                for recipient in to.drain(..) {
                    map.entry(recipient).or_insert(now);
                }
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
