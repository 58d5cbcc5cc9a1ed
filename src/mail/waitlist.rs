//! The waiting list's emails: the acknowledgement of joining (with the
//! manage link) and the offer of a freed seat (with its link and the end of
//! its hold), Japanese first with an English summary.

use askama::Template;
use chrono::NaiveDateTime;

use super::messages::{japanese_time, japanese_time_range, ClinicInfo, Rendered};
use crate::configuration::Settings;
use crate::db::waitlist::{EntryRow, OfferRow};
use crate::schedule::ClinicCalendar;

#[derive(Template)]
#[template(path = "mail/waitlist_joined.txt")]
struct Joined<'a> {
    clinic: &'a ClinicInfo,
    reference: &'a str,
    type_label: &'a str,
    day: &'a str,
    day_en: &'a str,
    window: &'a str,
    hold_minutes: u32,
    manage_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/waitlist_offer.txt")]
struct Offer<'a> {
    clinic: &'a ClinicInfo,
    reference: &'a str,
    type_label: &'a str,
    when: &'a str,
    when_en: &'a str,
    expires: &'a str,
    expires_en: &'a str,
    offer_url: &'a str,
}

fn type_label(calendar: &ClinicCalendar, code: &str) -> String {
    calendar
        .consultation_type(code)
        .map(|kind| kind.label.clone())
        .unwrap_or_else(|| code.to_string())
}

/// `10:00〜12:30`, or the whole day.
pub fn window_ja(entry: &EntryRow) -> String {
    match (&entry.from_time, &entry.to_time) {
        (None, None) => "終日（どの時間でも可）".to_string(),
        (from, to) => format!(
            "{}〜{}",
            from.as_deref().unwrap_or(""),
            to.as_deref().unwrap_or("")
        ),
    }
}

fn english_time(calendar: &ClinicCalendar, at: NaiveDateTime) -> String {
    calendar.local(at).format("%a %-d %b %Y, %H:%M").to_string()
}

/// The acknowledgement of joining. Rule: like an inquiry's, it repeats
/// nothing free the sender typed (no name): only what the clinic chose
/// (type, day, window) and the reference.
pub fn joined(
    settings: &Settings,
    calendar: &ClinicCalendar,
    entry: &EntryRow,
    manage_url: &str,
) -> Result<Rendered, askama::Error> {
    let clinic = ClinicInfo::of(settings, calendar);
    let day = crate::mail::messages::japanese_date(entry.wanted_date);
    let body = Joined {
        clinic: &clinic,
        reference: &entry.reference,
        type_label: &type_label(calendar, &entry.type_code),
        day: &day,
        day_en: &entry.wanted_date.format("%a %-d %b %Y").to_string(),
        window: &window_ja(entry),
        hold_minutes: settings.waitlist.hold_minutes,
        manage_url,
    }
    .render()?;
    Ok(Rendered {
        subject: format!(
            "【{}】キャンセル待ちを受け付けました（受付番号 {}）",
            settings.clinic.name, entry.reference
        ),
        body,
    })
}

/// The offer of a freed seat, held until `offer.expires_at`.
pub fn offer(
    settings: &Settings,
    calendar: &ClinicCalendar,
    entry: &EntryRow,
    offer: &OfferRow,
    offer_url: &str,
) -> Result<Rendered, askama::Error> {
    let clinic = ClinicInfo::of(settings, calendar);
    let body = Offer {
        clinic: &clinic,
        reference: &entry.reference,
        type_label: &type_label(calendar, &entry.type_code),
        when: &japanese_time_range(calendar, offer.start_at, offer.end_at),
        when_en: &english_time(calendar, offer.start_at),
        expires: &japanese_time(calendar, offer.expires_at),
        expires_en: &english_time(calendar, offer.expires_at),
        offer_url,
    }
    .render()?;
    Ok(Rendered {
        subject: format!(
            "【{}】キャンセル待ちのお席が空きました（受付番号 {}）",
            settings.clinic.name, entry.reference
        ),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn settings() -> Settings {
        Settings::defaults().unwrap()
    }

    fn calendar(settings: &Settings) -> ClinicCalendar {
        ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo").unwrap()
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn entry() -> EntryRow {
        EntryRow {
            reference: "W7QM-3XWD".into(),
            manage_token_hash: String::new(),
            status: "waiting".into(),
            type_code: "consultation".into(),
            wanted_date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            from_time: Some("10:00".into()),
            to_time: Some("12:30".into()),
            practitioner: None,
            name: "待機 花子".into(),
            name_kana: None,
            email: "hanako@example.jp".into(),
            phone: "090-1234-5678".into(),
            mailbox_hash: None,
            consent_at: at("2026-11-25 00:00"),
            consent_version: "2026-11-01".into(),
            offers_made: 0,
            booking_reference: None,
            created_at: at("2026-11-25 00:00"),
            updated_at: at("2026-11-25 00:00"),
        }
    }

    fn snapshot(rendered: &Rendered) -> String {
        format!("Subject: {}\n\n{}", rendered.subject, rendered.body)
    }

    #[test]
    fn waitlist_acknowledgement() {
        let settings = settings();
        let rendered = joined(
            &settings,
            &calendar(&settings),
            &entry(),
            "https://example.jp/waitlist/W7QM-3XWD?token=secret",
        )
        .unwrap();
        insta::assert_snapshot!(snapshot(&rendered));
    }

    #[test]
    fn the_acknowledgement_repeats_nothing_the_sender_typed() {
        let settings = settings();
        let rendered = joined(&settings, &calendar(&settings), &entry(), "https://x").unwrap();
        assert!(!rendered.body.contains("待機"));
        assert!(!rendered.body.contains("090-1234-5678"));
    }

    #[test]
    fn waitlist_offer() {
        let settings = settings();
        let offer = OfferRow {
            id: 1,
            entry_reference: "W7QM-3XWD".into(),
            start_at: at("2026-12-01 01:00"),
            end_at: at("2026-12-01 01:30"),
            status: "held".into(),
            token_hash: String::new(),
            offered_at: at("2026-11-30 00:00"),
            expires_at: at("2026-11-30 00:30"),
            closed_at: None,
        };
        let rendered = offer_mail(&settings, &offer);
        assert!(rendered.body.contains("2026年11月30日(月) 09:30"));
        insta::assert_snapshot!(snapshot(&rendered));
    }

    fn offer_mail(settings: &Settings, row: &OfferRow) -> Rendered {
        offer(
            settings,
            &calendar(settings),
            &entry(),
            row,
            "https://example.jp/waitlist/W7QM-3XWD?token=offer",
        )
        .unwrap()
    }
}
