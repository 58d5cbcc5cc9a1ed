//! Start-up checks that warn and do not stop: settings that work but are
//! probably a mistake, and shipped data that needs an update soon. Start-up
//! errors are in `startup::check_settings`.

use std::net::SocketAddr;

use chrono::{Datelike, NaiveDate};

use crate::configuration::Settings;
use crate::mail::smtp::is_loopback_host;
use crate::schedule::published_covers;

/// What is worth a warning, given the settings (with `server.public_url`
/// as the service will use it), the address the service listens on and
/// the clinic's date today.
pub fn warnings(settings: &Settings, listening: SocketAddr, today: NaiveDate) -> Vec<String> {
    let mut warnings = Vec::new();
    let public_url = settings.server.public_url.trim();
    let public_host = url::Url::parse(public_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_string));
    if let Some(host) = public_host {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let unspecified = host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        if is_loopback_host(host) && !listening.ip().is_loopback() {
            warnings.push(format!(
                "server.public_url is {public_url}, a loopback address, while the service listens on {listening}: the manage links in patients' emails and pages would point at the patient's own computer; set server.public_url (CLINIC__SERVER__PUBLIC_URL) to the address patients reach"
            ));
        } else if unspecified {
            warnings.push(format!(
                "server.public_url is {public_url}, which no browser can reach: set server.public_url (CLINIC__SERVER__PUBLIC_URL) to the address patients reach"
            ));
        }
    }
    let next_year = today.year() + 1;
    if settings.schedule.closed_on_national_holidays && !published_covers(next_year) {
        warnings.push(format!(
            "the national-holiday table (src/schedule/holidays_jp.csv) does not list {next_year}: that year's closed days come from rules, which miss a holiday moved by law; add the Cabinet Office's list (published each February for the next year) and upgrade"
        ));
    }
    if settings.mail.max_attempts.is_some() {
        warnings.push(format!(
            "mail.max_attempts is no longer used and is ignored: a message that keeps failing is retried for mail.retry_for_hours ({} hours) from its first failure",
            settings.mail.retry_for_hours
        ));
    }
    warnings
}

/// Logs each warning.
pub fn log_warnings(settings: &Settings, listening: SocketAddr, today: NaiveDate) {
    for warning in warnings(settings, listening, today) {
        tracing::warn!("{warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(public_url: &str) -> Settings {
        let mut settings = Settings::defaults().unwrap();
        settings.server.public_url = public_url.into();
        settings
    }

    fn at(address: &str) -> SocketAddr {
        address.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const TODAY: &str = "2026-12-03";

    #[test]
    fn a_loopback_public_url_is_worth_a_warning_only_when_listening_beyond_loopback() {
        let local = settings("http://127.0.0.1:8080");
        assert!(warnings(&local, at("127.0.0.1:8080"), date(TODAY)).is_empty());
        for public_url in [
            "http://127.0.0.1:8080",
            "http://localhost:8081",
            "http://[::1]:8080",
        ] {
            let found = warnings(&settings(public_url), at("0.0.0.0:8080"), date(TODAY));
            assert_eq!(found.len(), 1, "{public_url}: {found:?}");
            assert!(found[0].contains("server.public_url"), "{found:?}");
            assert!(found[0].contains("0.0.0.0:8080"), "{found:?}");
        }
        let public = settings("https://booking.n2clinic-ginza.com");
        assert!(warnings(&public, at("0.0.0.0:8080"), date(TODAY)).is_empty());
        assert!(warnings(&public, at("10.0.0.11:8080"), date(TODAY)).is_empty());
        let derived = settings("http://0.0.0.0:8080");
        let found = warnings(&derived, at("0.0.0.0:8080"), date(TODAY));
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn a_holiday_table_without_next_year_is_worth_a_warning_when_holidays_close_the_clinic() {
        let mut closing = settings("http://127.0.0.1:8080");
        closing.schedule.closed_on_national_holidays = true;
        let listening = at("127.0.0.1:8080");
        assert!(warnings(&closing, listening, date("2026-12-03")).is_empty());
        let found = warnings(&closing, listening, date("2027-06-01"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("2028"), "{found:?}");
        assert!(found[0].contains("holidays_jp.csv"), "{found:?}");
        let open = settings("http://127.0.0.1:8080");
        assert!(warnings(&open, listening, date("2027-06-01")).is_empty());
    }

    #[test]
    fn the_retired_attempt_count_is_worth_a_warning() {
        let mut old = settings("http://127.0.0.1:8080");
        old.mail.max_attempts = Some(30);
        let found = warnings(&old, at("127.0.0.1:8080"), date(TODAY));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("mail.retry_for_hours"), "{found:?}");
    }
}
