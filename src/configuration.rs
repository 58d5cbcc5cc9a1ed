//! Typed settings, layered: built-in defaults, `config/default.toml`,
//! `config/local.toml`, then `CLINIC__SECTION__KEY` and `DATABASE_URL`.

use std::path::Path;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The defaults, built into the binary so it runs with no `config/` at all.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub clinic: ClinicSettings,
    pub schedule: ScheduleSettings,
    pub privacy: PrivacySettings,
    pub rate_limit: RateLimitSettings,
    pub http: HttpSettings,
    #[serde(default)]
    pub forms: FormSettings,
    #[serde(default)]
    pub booking: BookingSettings,
    pub mail: MailSettings,
    pub staff: StaffSettings,
    #[serde(default)]
    pub webhooks: WebhookSettings,
    /// Practitioners and rooms (none: every type uses the anonymous seats).
    #[serde(default)]
    pub resources: Vec<ResourceSettings>,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub security: SecuritySettings,
    pub waitlist: WaitlistSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub public_posts_per_minute: u32,
    pub manage_attempts_per_minute: u32,
    /// 401 answers on staff routes allowed per client and minute.
    #[serde(default = "default_staff_auth_failures_per_minute")]
    pub staff_auth_failures_per_minute: u32,
    /// Addresses or CIDR ranges.
    pub trusted_proxies: Vec<String>,
    /// Clients remembered at most.
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
}

fn default_staff_auth_failures_per_minute() -> u32 {
    10
}

fn default_max_clients() -> usize {
    100_000
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Origins (scheme://host[:port]) whose scripts may call the API.
    pub cors_allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub bind: String,
    pub public_url: String,
    pub body_limit_bytes: usize,
    pub workers: usize,
    pub shutdown_grace_seconds: u64,
    pub client_request_timeout_seconds: u64,
    pub keep_alive_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool_size: u32,
    pub sqlite_busy_timeout_ms: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClinicSettings {
    pub name: String,
    pub address: String,
    pub phone: String,
    pub timezone: String,
    pub website: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleSettings {
    pub open: String,
    pub close: String,
    pub closed_weekdays: Vec<String>,
    pub closed_dates: Vec<String>,
    pub closed_on_national_holidays: bool,
    pub slot_minutes: u32,
    pub capacity_per_slot: u32,
    pub min_notice_minutes: i64,
    pub booking_window_days: i64,
    /// Hours before its start after which a patient can no longer cancel
    /// or move a booking online.
    #[serde(default = "default_change_deadline_hours")]
    pub patient_change_deadline_hours: u32,
    pub default_type: String,
    pub consultation_types: Vec<ConsultationTypeSettings>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConsultationTypeSettings {
    pub code: String,
    pub label: String,
    #[serde(default)]
    pub label_en: Option<String>,
    pub duration_minutes: u32,
    /// Practitioners any one of whom may take this type.
    #[serde(default)]
    pub practitioners: Vec<String>,
    /// Rooms any one of which this type needs.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Minutes kept free after it (the room's, else the practitioner's).
    #[serde(default)]
    pub buffer_minutes: u32,
    /// Bookings of this type per clinic day at most.
    #[serde(default)]
    pub daily_limit: Option<u32>,
    /// This type's own `patient_change_deadline_hours`.
    #[serde(default)]
    pub change_deadline_hours: Option<u32>,
}

fn default_change_deadline_hours() -> u32 {
    24
}

/// A practitioner or a room: `kind` is `practitioner` or `room`; each
/// weekday lists its "HH:MM-HH:MM" ranges (a weekday left out is off; a
/// room with none at all is open whenever the clinic is).
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceSettings {
    pub code: String,
    pub kind: String,
    pub label: String,
    #[serde(default)]
    pub label_en: Option<String>,
    #[serde(default)]
    pub monday: Option<Vec<String>>,
    #[serde(default)]
    pub tuesday: Option<Vec<String>>,
    #[serde(default)]
    pub wednesday: Option<Vec<String>>,
    #[serde(default)]
    pub thursday: Option<Vec<String>>,
    #[serde(default)]
    pub friday: Option<Vec<String>>,
    #[serde(default)]
    pub saturday: Option<Vec<String>>,
    #[serde(default)]
    pub sunday: Option<Vec<String>>,
    #[serde(default)]
    pub days_off: Vec<String>,
}

impl ResourceSettings {
    /// The weekday lists, Monday first.
    pub fn weekdays(&self) -> [&Option<Vec<String>>; 7] {
        [
            &self.monday,
            &self.tuesday,
            &self.wednesday,
            &self.thursday,
            &self.friday,
            &self.saturday,
            &self.sunday,
        ]
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PrivacySettings {
    pub notice_version: String,
    /// Days after its end that a booking is anonymised; 0: never.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Days after its last change that a closed inquiry is anonymised; 0: never.
    #[serde(default = "default_inquiry_retention_days")]
    pub inquiry_retention_days: u32,
    /// Hours an idempotency record is kept; 0: until its record is purged.
    #[serde(default = "default_idempotency_retention_hours")]
    pub idempotency_retention_hours: u32,
    #[serde(default = "default_purge_interval_minutes")]
    pub purge_interval_minutes: u64,
    /// Days after its last change that an inquiry never closed is
    /// anonymised; 0: never.
    #[serde(default = "default_open_inquiry_retention_days")]
    pub open_inquiry_retention_days: u32,
    /// Days after the visit that a manage token stops working; 0: never.
    #[serde(default = "default_manage_token_days_after_visit")]
    pub manage_token_days_after_visit: u32,
}

fn default_open_inquiry_retention_days() -> u32 {
    365
}

fn default_manage_token_days_after_visit() -> u32 {
    30
}

/// The server key, kept outside the database (`server_key`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SecuritySettings {
    /// The key itself (at least 32 characters); the same on every instance
    /// of one PostgreSQL database. Empty: read from `server_key_file`.
    pub server_key: SecretString,
    /// A file holding the key. Empty: beside a SQLite database (made on
    /// first start); PostgreSQL needs `server_key` or this.
    pub server_key_file: String,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            server_key: SecretString::from(""),
            server_key_file: String::new(),
        }
    }
}

fn default_retention_days() -> u32 {
    1825
}

fn default_inquiry_retention_days() -> u32 {
    365
}

fn default_idempotency_retention_hours() -> u32 {
    24
}

fn default_purge_interval_minutes() -> u64 {
    60
}

/// The HTML forms' defence against bots.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FormSettings {
    /// Seconds a person needs at least to fill in a form; faster is a bot.
    pub min_fill_seconds: u64,
    /// Key that signs the forms' timestamps. Empty: a random key per process
    /// (set one when several instances serve the forms).
    pub token_secret: SecretString,
    /// Minutes a served form stays good for; older, it comes back with
    /// what was typed, to be sent again. 0: forever.
    pub max_age_minutes: u64,
}

impl Default for FormSettings {
    fn default() -> Self {
        FormSettings {
            min_fill_seconds: 3,
            token_secret: SecretString::from(""),
            max_age_minutes: 120,
        }
    }
}

/// What one patient may book online, and what staff are told about.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BookingSettings {
    /// Confirmed bookings still ahead that one mailbox may hold at a time
    /// (`too_many_active_bookings` beyond); 0: no cap.
    pub max_active_per_contact: u32,
    /// Count one phone number's bookings against the cap too.
    pub cap_by_phone: bool,
    /// Bookings by one mailbox, or from one client address, within
    /// `burst_window_minutes` that make a burst: each booking from the
    /// burst on is logged (by reference) and counted in a metric; 0: off.
    pub burst_bookings: u32,
    pub burst_window_minutes: u32,
}

impl Default for BookingSettings {
    fn default() -> Self {
        BookingSettings {
            max_active_per_contact: 3,
            cap_by_phone: false,
            burst_bookings: 5,
            burst_window_minutes: 60,
        }
    }
}

/// The waiting list (キャンセル待ち): how long a freed seat is held for
/// the entry it is offered to, and how many offers one entry gets.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WaitlistSettings {
    /// Minutes an offered seat stays held for its entry (at most until the
    /// visit starts); then it goes to the next entry.
    pub hold_minutes: u32,
    /// Offers one entry gets; after that many lapse, it is `expired`.
    pub max_offers: u32,
    /// How often each instance's waitlist worker looks for work, in ms.
    pub poll_interval_ms: u64,
}

impl Default for WaitlistSettings {
    fn default() -> Self {
        WaitlistSettings {
            hold_minutes: 30,
            max_offers: 3,
            poll_interval_ms: 2000,
        }
    }
}

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// A secret a scraper sends as `Authorization: Bearer ...`. Empty: none
    /// is asked for on `bind`, and the public listener does not serve
    /// `/metrics` at all.
    pub token: SecretString,
    /// An address of its own for `/metrics` (e.g. `127.0.0.1:9090`, or a
    /// private interface). Empty: no such listener.
    pub bind: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            token: SecretString::from(""),
            bind: String::new(),
        }
    }
}

/// Outgoing email: transport, addresses, delivery retries and limits.
#[derive(Debug, Clone, Deserialize)]
pub struct MailSettings {
    pub smtp_url: String,
    #[serde(default)]
    pub smtp_username: Option<String>,
    #[serde(default)]
    pub smtp_password: Option<SecretString>,
    pub smtp_timeout_seconds: u64,
    pub file_dir: String,
    pub from: String,
    pub clinic_inbox: String,
    pub poll_interval_ms: u64,
    pub retry_initial_seconds: f64,
    pub retry_max_seconds: f64,
    /// Hours a message that keeps failing temporarily is retried, from its
    /// first failure, before it is marked failed.
    #[serde(default = "default_retry_for_hours")]
    pub retry_for_hours: f64,
    /// No longer used (retries last `retry_for_hours`); still read so that
    /// start-up can say it is ignored.
    #[serde(default)]
    pub max_attempts: Option<i64>,
    pub max_attempts_permanent: i32,
    pub lease_seconds: u64,
    #[serde(default = "default_concurrent_deliveries")]
    pub concurrent_deliveries: usize,
    pub reminder_hours_before: i64,
    pub max_per_recipient_per_hour: i64,
    /// Messages sent per hour at most, over every recipient and instance;
    /// more wait. 0: no cap.
    #[serde(default = "default_max_per_hour")]
    pub max_per_hour: u32,
}

impl Settings {
    /// The built-in defaults alone: what tests start from, untouched by the
    /// environment of the machine they run on.
    pub fn defaults() -> Result<Self, config::ConfigError> {
        Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .build()?
            .try_deserialize()
    }

    /// The built-in defaults with the file `local` over them, as
    /// `config/local.toml` would be, untouched by the environment: how the
    /// tests and the bench load a configuration of `config/examples/`.
    pub fn defaults_with(local: &Path) -> Result<Self, config::ConfigError> {
        let files = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .add_source(File::from(local));
        let receivers = files.build_cloned()?;
        normalise(files, &receivers)?.build()?.try_deserialize()
    }

    /// The full layering, with `config/` read from `base_dir`.
    pub fn load(base_dir: &Path) -> Result<Self, config::ConfigError> {
        let config_dir = base_dir.join("config");
        let files = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .add_source(File::from(config_dir.join("default.toml")).required(false))
            .add_source(File::from(config_dir.join("local.toml")).required(false));
        let receivers = files.build_cloned()?;
        let mut builder = normalise(files, &receivers)?.add_source(
            Environment::with_prefix("CLINIC")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("schedule.closed_weekdays")
                .with_list_parse_key("schedule.closed_dates")
                .with_list_parse_key("rate_limit.trusted_proxies")
                .with_list_parse_key("http.cors_allowed_origins"),
        );
        if std::env::var_os("CLINIC__DATABASE__URL").is_none() {
            if let Ok(url) = std::env::var("DATABASE_URL") {
                builder = builder.set_override("database.url", url)?;
            }
        }
        builder.build()?.try_deserialize()
    }

    pub fn database_url(&self) -> &str {
        self.database.url.expose_secret()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct StaffSettings {
    pub feed_days_back: i64,
    pub feed_days_ahead: i64,
    /// Hours a staff console session lasts without use.
    #[serde(default = "default_session_idle_hours")]
    pub session_idle_hours: u32,
}

fn default_session_idle_hours() -> u32 {
    12
}

fn default_retry_for_hours() -> f64 {
    72.0
}

fn default_max_per_hour() -> u32 {
    500
}

fn default_concurrent_deliveries() -> usize {
    16
}

/// `[webhooks]`: how webhooks are delivered, and the receivers (their
/// rules: `webhooks::WebhookSettings::check`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// The first retry waits this long, each next one twice as long ...
    pub retry_initial_seconds: f64,
    /// ... up to this.
    pub retry_max_seconds: f64,
    /// A delivery is retried for at least this many hours (72 at least).
    pub retry_for_hours: u64,
    /// One attempt may take this long.
    pub timeout_seconds: u64,
    /// Attempts one instance makes at the same time.
    pub concurrent_deliveries: usize,
    /// How often an idle worker looks for due deliveries (those queued by
    /// this instance wake it at once).
    pub poll_interval_ms: u64,
    pub endpoints: Vec<EndpointSettings>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry_initial_seconds: 5.0,
            retry_max_seconds: 3600.0,
            retry_for_hours: 72,
            timeout_seconds: 10,
            concurrent_deliveries: 4,
            poll_interval_ms: 1000,
            endpoints: Vec::new(),
        }
    }
}

/// One webhook receiver, as configured (`[[webhooks]]` or `[[webhooks.endpoints]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSettings {
    pub url: String,
    /// `whsec_` and the base64 of the key.
    pub secret: SecretString,
    /// Keys still signing during a rotation: every message carries a
    /// signature by `secret` and one by each of these.
    #[serde(default)]
    pub previous_secrets: Vec<SecretString>,
    /// The events it gets; absent: every event.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Whether bodies carry the patient's name, email and phone.
    #[serde(default)]
    pub include_personal_data: bool,
}

/// `webhooks` as written the short way, `[[webhooks]]` (a list of
/// receivers), becomes `webhooks.endpoints` of the table the delivery
/// settings live in. (TOML cannot hold both under one key: `[[webhooks]]`
/// is a list, `[webhooks] retry_initial_seconds = ...` a table.)
fn normalise(
    builder: config::ConfigBuilder<config::builder::DefaultState>,
    files: &config::Config,
) -> Result<config::ConfigBuilder<config::builder::DefaultState>, config::ConfigError> {
    match files.get::<Vec<config::Value>>("webhooks") {
        Ok(receivers) => builder.set_override("webhooks.endpoints", receivers),
        Err(_) => Ok(builder),
    }
}
