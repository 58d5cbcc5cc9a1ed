//! Webhooks (Standard Webhooks v1): other systems (a CRM, LINE tooling, a
//! head office) are told of bookings and inquiries as they change. Events
//! are queued in the transaction of the change (`workflows::webhooks`),
//! one delivery per receiver, and a worker of their own posts them
//! (`worker`), signed (`signature`), retrying with backoff for days.

pub mod signature;
pub mod worker;

use std::time::Duration;

use chrono::NaiveDateTime;
use secrecy::ExposeSecret;

pub use crate::configuration::{EndpointSettings, WebhookSettings};

/// The events a receiver can subscribe to, as sent in `type`.
pub mod event {
    pub const BOOKING_CREATED: &str = "booking.created";
    /// A patient's or staff cancellation.
    pub const BOOKING_CANCELLED: &str = "booking.cancelled";
    pub const BOOKING_RESCHEDULED: &str = "booking.rescheduled";
    /// Any other status change staff make (completed, no-show, confirmed
    /// again, ...).
    pub const BOOKING_STATUS_CHANGED: &str = "booking.status_changed";
    /// Staff gave the booking to another practitioner at the same time.
    pub const BOOKING_PRACTITIONER_CHANGED: &str = "booking.practitioner_changed";
    pub const INQUIRY_CREATED: &str = "inquiry.created";
    /// A seat freed up was offered to a waiting-list entry (queued by
    /// `workflows::waitlist` in the transaction that makes the offer).
    pub const WAITLIST_OFFERED: &str = "waitlist.offered";

    pub const ALL: [&str; 7] = [
        BOOKING_CREATED,
        BOOKING_CANCELLED,
        BOOKING_RESCHEDULED,
        BOOKING_STATUS_CHANGED,
        BOOKING_PRACTITIONER_CHANGED,
        INQUIRY_CREATED,
        WAITLIST_OFFERED,
    ];
}

pub use crate::db::webhooks::status;

/// A receiver, checked and ready to sign for.
#[derive(Clone)]
pub struct Endpoint {
    pub url: String,
    /// The current key first, then the previous ones.
    pub keys: Vec<Vec<u8>>,
    pub events: Vec<String>,
    pub include_personal_data: bool,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("keys", &self.keys.len())
            .field("events", &self.events)
            .field("include_personal_data", &self.include_personal_data)
            .finish()
    }
}

/// The receivers of this instance and what wakes its webhook worker.
pub struct Webhooks {
    pub endpoints: Vec<Endpoint>,
    /// Notified once a transaction that queued deliveries is committed.
    pub wake: tokio::sync::Notify,
}

impl Webhooks {
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Webhooks {
            endpoints,
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Whether any receiver subscribed to `event` (none: nothing to do).
    pub fn wanted(&self, event: &str) -> bool {
        self.endpoints.iter().any(|endpoint| endpoint.wants(event))
    }
}

impl Endpoint {
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|wanted| wanted == event)
    }
}

fn invalid(index: usize, reason: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("invalid setting webhooks, receiver {}: {reason}", index + 1)
}

impl WebhookSettings {
    /// The receivers, checked: an `http://` or `https://` URL (each once),
    /// `whsec_` secrets of 24 to 64 bytes, known events.
    pub fn endpoints(&self) -> anyhow::Result<Vec<Endpoint>> {
        let mut endpoints: Vec<Endpoint> = Vec::with_capacity(self.endpoints.len());
        for (index, settings) in self.endpoints.iter().enumerate() {
            let url = settings.url.trim();
            let parsed = url::Url::parse(url).map_err(|error| invalid(index, error))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(invalid(index, "url must be an http:// or https:// URL"));
            }
            if endpoints.iter().any(|known| known.url == url) {
                return Err(invalid(index, format!("{url} is configured twice")));
            }
            let keys = std::iter::once(&settings.secret)
                .chain(&settings.previous_secrets)
                .map(|secret| signature::parse_secret(secret.expose_secret()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| invalid(index, error))?;
            let events = match &settings.events {
                None => event::ALL.iter().map(|e| e.to_string()).collect(),
                Some(events) if events.is_empty() => {
                    return Err(invalid(
                        index,
                        "events is empty (leave it out for every event)",
                    ))
                }
                Some(events) => {
                    if let Some(unknown) = events.iter().find(|e| !event::ALL.contains(&e.as_str()))
                    {
                        return Err(invalid(
                            index,
                            format!(
                                "unknown event {unknown:?} (known: {})",
                                event::ALL.join(", ")
                            ),
                        ));
                    }
                    events.clone()
                }
            };
            endpoints.push(Endpoint {
                url: url.to_string(),
                keys,
                events,
                include_personal_data: settings.include_personal_data,
            });
        }
        Ok(endpoints)
    }

    /// Checks every setting (start-up stops with one clear message).
    pub fn check(&self) -> anyhow::Result<Vec<Endpoint>> {
        let bad = |reason: &str| Err(anyhow::anyhow!("invalid setting webhooks.{reason}"));
        if !(self.retry_initial_seconds > 0.0 && self.retry_initial_seconds.is_finite()) {
            return bad("retry_initial_seconds: must be above 0");
        }
        if !(self.retry_max_seconds >= self.retry_initial_seconds
            && self.retry_max_seconds.is_finite())
        {
            return bad("retry_max_seconds: must be at least retry_initial_seconds");
        }
        if self.retry_for_hours < 72 {
            return bad("retry_for_hours: must be at least 72");
        }
        if self.timeout_seconds == 0 {
            return bad("timeout_seconds: must be at least 1");
        }
        if self.concurrent_deliveries == 0 {
            return bad("concurrent_deliveries: must be at least 1");
        }
        self.endpoints()
    }

    /// How long a worker holds a claimed delivery: one attempt's timeout
    /// and a margin. Another instance may take it over after that (only
    /// if the first one died mid-attempt).
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.saturating_add(60))
    }

    /// Rule: the n-th retry waits `retry_initial_seconds * 2^(n-1)`, at
    /// most `retry_max_seconds`.
    pub fn backoff(&self, attempts_made: i32) -> Duration {
        let exponent = attempts_made.saturating_sub(1).clamp(0, 30);
        let seconds = self.retry_initial_seconds.max(0.0) * 2f64.powi(exponent);
        Duration::from_secs_f64(seconds.min(self.retry_max_seconds.max(0.0)))
    }

    /// Rule: after a failed attempt at `now`, the delivery is tried again
    /// after its backoff while `now` is before `retry_until` (its creation,
    /// or a staff retry, plus `retry_for_hours`); `None` once it is not:
    /// it has failed for good. So attempts go on for at least that long.
    pub fn next_attempt(
        &self,
        attempts_made: i32,
        now: NaiveDateTime,
        retry_until: NaiveDateTime,
    ) -> Option<NaiveDateTime> {
        if now >= retry_until {
            return None;
        }
        let delay = chrono::Duration::from_std(self.backoff(attempts_made))
            .unwrap_or_else(|_| chrono::Duration::hours(1));
        Some(now + delay)
    }

    /// When retries of a delivery made (or retried by staff) at `now` end.
    pub fn retry_until(&self, now: NaiveDateTime) -> NaiveDateTime {
        let hours = i64::try_from(self.retry_for_hours).unwrap_or(i64::MAX / 3600);
        now + chrono::Duration::hours(hours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use secrecy::SecretString;

    fn endpoint(url: &str) -> EndpointSettings {
        EndpointSettings {
            url: url.into(),
            secret: SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            previous_secrets: Vec::new(),
            events: None,
            include_personal_data: false,
        }
    }

    /// `[[webhooks]]` (NEXT.md's form) and `[[webhooks.endpoints]]` beside
    /// the delivery settings both configure receivers.
    #[test]
    fn receivers_load_from_either_form_of_the_configuration() {
        let load = |local: &str| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("config")).unwrap();
            std::fs::write(dir.path().join("config/local.toml"), local).unwrap();
            crate::configuration::Settings::load(dir.path())
                .unwrap()
                .webhooks
        };
        let short = load(
            "[[webhooks]]\nurl = \"https://a.example/\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
             [[webhooks]]\nurl = \"http://b.internal/\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
             include_personal_data = true\n",
        );
        assert_eq!(short.endpoints.len(), 2);
        assert!(short.endpoints[1].include_personal_data);
        assert_eq!(short.retry_initial_seconds, 5.0);
        assert_eq!(short.retry_max_seconds, 3600.0);
        let table = load(
            "[webhooks]\nretry_max_seconds = 600\n\
             [[webhooks.endpoints]]\nurl = \"https://a.example/\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n",
        );
        assert_eq!(table.endpoints.len(), 1);
        assert_eq!(table.retry_max_seconds, 600.0);
        assert_eq!(table.retry_for_hours, 72);
        assert!(load("").endpoints.is_empty());
    }

    #[test]
    fn backoff_doubles_from_the_initial_delay_up_to_the_maximum() {
        let settings = WebhookSettings::default();
        let delays: Vec<u64> = (1..=12).map(|n| settings.backoff(n).as_secs()).collect();
        assert_eq!(
            delays,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
    }

    #[test]
    fn retries_go_on_until_their_window_has_passed_and_then_stop() {
        let settings = WebhookSettings::default();
        let created = NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let until = settings.retry_until(created);
        assert_eq!(until - created, chrono::Duration::hours(72));
        // Failing every time, attempts go on for 72 hours and end after.
        let (mut now, mut attempts) = (created, 0);
        while let Some(next) = settings.next_attempt(attempts + 1, now, until) {
            attempts += 1;
            now = next;
        }
        assert!(now >= until, "gave up before 72 hours: {now}");
        assert!(now - until <= chrono::Duration::hours(1));
        assert!(attempts > 70, "{attempts} attempts");
    }

    #[test]
    fn receivers_are_checked_at_start_up() {
        let settings = WebhookSettings {
            endpoints: vec![endpoint("http://crm.internal:8080/hooks")],
            ..WebhookSettings::default()
        };
        let endpoints = settings.check().unwrap();
        assert_eq!(endpoints[0].events.len(), event::ALL.len());
        assert_eq!(endpoints[0].keys[0].len(), 24);

        let refused = |change: &dyn Fn(&mut EndpointSettings)| {
            let mut receiver = endpoint("https://crm.example.jp/hooks");
            change(&mut receiver);
            let settings = WebhookSettings {
                endpoints: vec![receiver],
                ..WebhookSettings::default()
            };
            settings.check().unwrap_err().to_string()
        };
        assert!(refused(&|r| r.url = "ftp://crm.example.jp/".into()).contains("http"));
        assert!(refused(&|r| r.secret = SecretString::from("MfKQ9r8GKYqrTwjU")).contains("whsec_"));
        assert!(refused(&|r| r.secret = SecretString::from("whsec_c2hvcnQ=")).contains("24"));
        assert!(
            refused(&|r| r.previous_secrets = vec![SecretString::from("whsec_!")])
                .contains("base64")
        );
        assert!(
            refused(&|r| r.events = Some(vec!["booking.deleted".into()]))
                .contains("booking.deleted")
        );
        assert!(refused(&|r| r.events = Some(Vec::new())).contains("empty"));

        let twice = WebhookSettings {
            endpoints: vec![
                endpoint("https://a.example/"),
                endpoint("https://a.example/"),
            ],
            ..WebhookSettings::default()
        };
        assert!(twice.check().unwrap_err().to_string().contains("twice"));
        let short = WebhookSettings {
            retry_for_hours: 24,
            ..WebhookSettings::default()
        };
        assert!(short.check().is_err());
    }
}
