//! iCalendar (RFC 5545) for bookings: the event a patient's confirmation
//! carries and the events of the staff calendar feed. Times are written in
//! the clinic's zone with a VTIMEZONE block, which some calendar apps need.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use icalendar::{Calendar, CalendarDateTime, Component, Event, EventLike, EventStatus};

use crate::db::bookings::BookingRow;
use crate::domain::BookingStatus;
use crate::schedule::ClinicCalendar;

/// Asia/Tokyo has kept +09:00 without daylight saving since 1951, so one
/// STANDARD rule describes it.
const TOKYO_VTIMEZONE: &str = "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\n\
DTSTART:19700101T000000\r\nTZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nTZNAME:JST\r\n\
END:STANDARD\r\nEND:VTIMEZONE\r\n";

/// The iTIP method of a calendar object: `PUBLISH` for a booking or a feed,
/// `CANCEL` to withdraw a booking from the patient's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Publish,
    Cancel,
}

/// One UID per booking, stable across reschedules, so calendar apps update
/// the event instead of adding another.
pub fn booking_uid(reference: &str) -> String {
    format!("booking-{reference}@clinic-booking")
}

fn local_time(calendar: &ClinicCalendar, utc: chrono::NaiveDateTime) -> CalendarDateTime {
    let local: DateTime<Tz> = calendar.local(utc);
    CalendarDateTime::WithTimezone {
        date_time: local.naive_local(),
        tzid: calendar.timezone().name().to_string(),
    }
}

/// The event of a booking; `summary`, `description` and `location` are
/// chosen by the caller (patients and staff see different details).
pub fn booking_event(
    calendar: &ClinicCalendar,
    booking: &BookingRow,
    summary: &str,
    description: &str,
    location: &str,
    stamp: DateTime<Utc>,
) -> Event {
    let status = if booking.status() == BookingStatus::Cancelled {
        EventStatus::Cancelled
    } else {
        EventStatus::Confirmed
    };
    Event::new()
        .uid(&booking_uid(&booking.reference))
        .sequence(u32::try_from(booking.sequence).unwrap_or(0))
        .timestamp(stamp)
        .created(booking.created_at.and_utc())
        .last_modified(booking.updated_at.and_utc())
        .starts(local_time(calendar, booking.start_at))
        .ends(local_time(calendar, booking.end_at))
        .summary(summary)
        .description(description)
        .location(location)
        .status(status)
        .done()
}

/// A whole calendar object with the clinic's VTIMEZONE and `events`.
pub fn calendar_object(name: &str, method: Method, events: Vec<Event>) -> String {
    // `Calendar::new()` brings its own PRODID, and RFC 5545 allows exactly
    // one; strict calendar apps refuse a file with two.
    let mut calendar = Calendar::empty();
    calendar.append_property(("VERSION", "2.0"));
    calendar.append_property(("PRODID", "-//N2 Clinic Ginza//clinic-booking//JA"));
    calendar.append_property(("CALSCALE", "GREGORIAN"));
    calendar.name(name);
    calendar.append_property((
        "METHOD",
        match method {
            Method::Publish => "PUBLISH",
            Method::Cancel => "CANCEL",
        },
    ));
    for event in events {
        calendar.push(event);
    }
    // The crate has no VTIMEZONE builder (and would add UID/DTSTAMP to
    // one), so the fixed block goes in as text, ahead of the events.
    let text = calendar.done().to_string();
    let at = text
        .find("BEGIN:VEVENT")
        .or_else(|| text.find("END:VCALENDAR"))
        .unwrap_or(text.len());
    format!("{}{TOKYO_VTIMEZONE}{}", &text[..at], &text[at..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;

    fn row(status: &str, sequence: i32) -> BookingRow {
        let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        BookingRow {
            reference: "K7QM-3XWD".into(),
            manage_token_hash: String::new(),
            status: BookingStatus::parse(status).unwrap(),
            type_code: "consultation".into(),
            start_at: at("2026-12-01 01:00"),
            end_at: at("2026-12-01 01:30"),
            name: "山田 太郎".into(),
            name_kana: None,
            email: "taro@example.jp".into(),
            phone: "090-1234-5678".into(),
            first_visit: None,
            message: None,
            source: None,
            staff_note: None,
            consent_at: at("2026-11-25 00:00"),
            consent_version: "v1".into(),
            sequence,
            created_at: at("2026-11-25 00:00"),
            updated_at: at("2026-11-25 00:00"),
            cancelled_at: None,
            practitioner: None,
        }
    }

    fn render(status: &str, sequence: i32, method: Method) -> String {
        let settings = Settings::defaults().unwrap();
        let calendar = ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo").unwrap();
        let event = booking_event(
            &calendar,
            &row(status, sequence),
            "診察 (K7QM-3XWD)",
            "予約番号: K7QM-3XWD\n持ち物: 保険証",
            "東京都中央区銀座, N2クリニック",
            Utc::now(),
        );
        calendar_object("N2クリニック", method, vec![event])
    }

    #[test]
    fn the_event_is_in_clinic_time_with_a_vtimezone_and_parses_back() {
        let text = render("confirmed", 0, Method::Publish);
        assert!(text.contains("BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo"));
        assert!(text.contains("DTSTART;TZID=Asia/Tokyo:20261201T100000"));
        assert!(text.contains("DTEND;TZID=Asia/Tokyo:20261201T103000"));
        assert!(text.contains("METHOD:PUBLISH"));
        assert!(text.contains("STATUS:CONFIRMED"));
        assert_eq!(text.matches("PRODID:").count(), 1, "{text}");
        assert_eq!(text.matches("VERSION:2.0").count(), 1, "{text}");
        let parsed: Calendar = text.parse().unwrap();
        let event = parsed.events().next().unwrap();
        assert_eq!(event.get_uid(), Some("booking-K7QM-3XWD@clinic-booking"));
        assert_eq!(
            event.get_description(),
            Some("予約番号: K7QM-3XWD\n持ち物: 保険証")
        );
        assert_eq!(event.get_location(), Some("東京都中央区銀座, N2クリニック"));
    }

    #[test]
    fn a_cancellation_keeps_the_uid_and_says_cancel() {
        let text = render("cancelled", 2, Method::Cancel);
        assert!(text.contains("METHOD:CANCEL"));
        assert!(text.contains("STATUS:CANCELLED"));
        assert!(text.contains("SEQUENCE:2"));
        assert!(text.contains("UID:booking-K7QM-3XWD@clinic-booking"));
    }

    #[test]
    fn long_lines_are_folded_at_75_octets() {
        let text = render("confirmed", 0, Method::Publish);
        assert!(text.split("\r\n").all(|line| line.len() <= 75), "{text}");
    }
}
