//! Where messages go: an SMTP server (`mail.smtp_url`: plain, STARTTLS or
//! implicit TLS, with optional credentials), or `.eml` files under
//! `mail.file_dir` when no server is configured.

use std::time::Duration;

use anyhow::{anyhow, Context};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::Message;
use secrecy::ExposeSecret;

use super::redact_addresses;
use super::smtp::{is_loopback_host, SmtpSender};
use crate::configuration::MailSettings;
use crate::db::outbox::{OutboxContent, OutboxRow};

pub enum Transport {
    Smtp(SmtpSender),
    /// `.eml` files in this folder, each readable by its owner only.
    Files(std::path::PathBuf),
}

/// Why a delivery failed: `permanent` when the server refused the message
/// for good (5xx), which is not worth many more tries.
#[derive(Debug, Clone)]
pub struct SendError {
    pub permanent: bool,
    /// The reason, without addresses.
    pub detail: String,
}

impl Transport {
    pub fn from_settings(settings: &MailSettings) -> anyhow::Result<Transport> {
        settings
            .from
            .parse::<Mailbox>()
            .map_err(|e| anyhow!("invalid setting mail.from: {e}"))?;
        settings
            .clinic_inbox
            .parse::<Mailbox>()
            .map_err(|e| anyhow!("invalid setting mail.clinic_inbox: {e}"))?;
        // A lease shorter than one SMTP conversation could let a second
        // worker pick up a message that is still being sent.
        if settings.lease_seconds <= settings.smtp_timeout_seconds {
            return Err(anyhow!(
                "invalid setting mail.lease_seconds: must be longer than mail.smtp_timeout_seconds"
            ));
        }
        let url = settings.smtp_url.trim();
        if url.is_empty() {
            let dir = std::path::PathBuf::from(&settings.file_dir);
            crate::private_files::create_dir_all(&dir)
                .with_context(|| format!("cannot create mail.file_dir {}", settings.file_dir))?;
            return Ok(Transport::Files(dir));
        }
        let credentials = settings
            .smtp_username
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|username| {
                let password = settings
                    .smtp_password
                    .as_ref()
                    .map(|p| p.expose_secret().to_string())
                    .unwrap_or_default();
                Credentials::new(username.to_string(), password)
            });
        // `smtp://host:port` (plain), `smtp://host:port?tls=required` or
        // `?tls=starttls` (STARTTLS), `?tls=opportunistic` (STARTTLS when
        // offered: downgradable), `smtps://host:port` (implicit TLS).
        let has_credentials = credentials.is_some();
        let sender = SmtpSender::from_url(
            url,
            credentials,
            Duration::from_secs(settings.smtp_timeout_seconds),
            settings.concurrent_deliveries.max(1),
        )
        .map_err(|e| anyhow!("invalid setting mail.smtp_url: {e}"))?;
        // Rule: credentials never cross a network in clear. Anyone on the
        // path could read them (and, with `tls=opportunistic`, make the
        // connection plain first by hiding STARTTLS); to this machine's
        // own relay they do not leave the host.
        if has_credentials && !sender.always_encrypted() && !is_loopback_host(sender.host()) {
            return Err(anyhow!(
                "invalid setting mail.smtp_url: mail.smtp_username is set, and the credentials would go unencrypted to {:?}; use smtps://HOST (implicit TLS) or smtp://HOST?tls=required (STARTTLS), since tls=opportunistic falls back to plain text whenever an attacker on the path hides STARTTLS",
                sender.host()
            ));
        }
        Ok(Transport::Smtp(sender))
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Transport::Smtp(_) => "smtp",
            Transport::Files(_) => "eml files",
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Transport::Smtp(smtp) => smtp
                .send(message.envelope(), &message.formatted())
                .await
                .map_err(|e| SendError {
                    permanent: e.permanent,
                    detail: redact_addresses(&e.detail),
                }),
            Transport::Files(dir) => {
                let path = dir.join(format!("{:032x}.eml", rand::random::<u128>()));
                let bytes = message.formatted();
                tokio::task::spawn_blocking(move || crate::private_files::write_new(&path, &bytes))
                    .await
                    .map_err(std::io::Error::other)
                    .and_then(|written| written)
                    .map_err(|e| SendError {
                        permanent: false,
                        detail: redact_addresses(&format!("cannot write the mail file: {e}")),
                    })
            }
        }
    }
}

/// The email of an outbox row and its content, built with lettre's builders
/// (which encode the Japanese subject and refuse line breaks in headers),
/// plain text UTF-8, with the booking's `.ics` attached when it has one.
pub fn build_message(
    settings: &MailSettings,
    row: &OutboxRow,
    content: &OutboxContent,
) -> Result<Message, SendError> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| SendError {
        permanent: true,
        detail: redact_addresses(&format!("cannot build the message ({what}): {e}")),
    };
    let from: Mailbox = settings.from.parse().map_err(|e| invalid("from", &e))?;
    let to: Mailbox = row.recipient.parse().map_err(|e| invalid("to", &e))?;
    let domain = from.email.domain().to_string();
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(content.subject.clone())
        .message_id(Some(format!(
            "<outbox-{}-{}-{}@{domain}>",
            row.id,
            row.reference,
            row.created_at.and_utc().timestamp()
        )));
    let text = SinglePart::plain(content.body.clone());
    let message = match &content.ics {
        None => builder.singlepart(text),
        Some(ics) => {
            let method = if ics.contains("METHOD:CANCEL\r\n") {
                "CANCEL"
            } else {
                "PUBLISH"
            };
            let content_type =
                ContentType::parse(&format!("text/calendar; charset=utf-8; method={method}"))
                    .map_err(|e| invalid("content type", &e))?;
            let attachment =
                Attachment::new("reservation.ics".to_string()).body(ics.clone(), content_type);
            builder.multipart(MultiPart::mixed().singlepart(text).singlepart(attachment))
        }
    };
    message.map_err(|e| invalid("builder", &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;

    fn with_url(url: &str) -> anyhow::Result<Transport> {
        let mut settings = Settings::defaults().unwrap().mail;
        settings.smtp_url = url.to_string();
        settings.smtp_username = Some("clinic".into());
        settings.smtp_password = Some("secret".to_string().into());
        Transport::from_settings(&settings)
    }

    fn without_credentials(url: &str) -> anyhow::Result<Transport> {
        let mut settings = Settings::defaults().unwrap().mail;
        settings.smtp_url = url.to_string();
        Transport::from_settings(&settings)
    }

    #[tokio::test]
    async fn plain_starttls_and_implicit_tls_urls_are_understood() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.jp:587?tls=starttls",
            "smtp://mail.example.jp:587?tls=required",
            "smtps://mail.example.jp:465",
        ] {
            assert!(matches!(with_url(url), Ok(Transport::Smtp(_))), "{url}");
        }
        for url in [
            "smtp://mail.example.jp:25",
            "smtp://mail.example.jp?tls=opportunistic",
        ] {
            assert!(
                matches!(without_credentials(url), Ok(Transport::Smtp(_))),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn credentials_are_refused_where_they_could_cross_a_network_in_clear() {
        for url in [
            "smtp://mail.example.jp:25",
            "smtp://mail.example.jp:587?tls=opportunistic",
            "smtp://10.0.0.5:25",
            "smtp://[2001:db8::1]:25",
        ] {
            let error = with_url(url)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains("mail.smtp_url"), "{url}: {error}");
            assert!(error.contains("unencrypted"), "{url}: {error}");
            assert!(error.contains("tls=required"), "{url}: {error}");
        }
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://localhost:25",
            "smtp://[::1]:25",
            "smtp://localhost:587?tls=opportunistic",
        ] {
            assert!(matches!(with_url(url), Ok(Transport::Smtp(_))), "{url}");
        }
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_refused_with_the_key_named() {
        let error = with_url("http://mail.example.jp")
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("mail.smtp_url"), "{error}");
    }
}
