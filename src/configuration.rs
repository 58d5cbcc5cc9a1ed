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
    pub staff: StaffSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub bind: String,
    pub public_url: String,
    pub body_limit_bytes: usize,
    pub workers: usize,
    pub shutdown_grace_seconds: u64,
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
}

#[derive(Debug, Clone, Deserialize)]
pub struct PrivacySettings {
    pub notice_version: String,
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

    /// The full layering, with `config/` read from `base_dir`.
    pub fn load(base_dir: &Path) -> Result<Self, config::ConfigError> {
        let config_dir = base_dir.join("config");
        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .add_source(File::from(config_dir.join("default.toml")).required(false))
            .add_source(File::from(config_dir.join("local.toml")).required(false))
            .add_source(
                Environment::with_prefix("CLINIC")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("schedule.closed_weekdays")
                    .with_list_parse_key("schedule.closed_dates"),
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
}
