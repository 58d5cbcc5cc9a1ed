//! A request to join the waiting list (キャンセル待ち), parsed whole: the
//! contact data as a booking's, the type, the day and the window of start
//! times wanted.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::booking::consultation_type;
use super::fields::{body_limit_for, SHORT_FIELD_CHARS};
use super::{collect, EmailAddress, FieldError, Fields, NameKana, PatientName, PhoneNumber};
use crate::schedule::{ClinicCalendar, ConsultationType};

/// Where an entry stands: `waiting` for a seat, `offered` one (held for it),
/// `booked` (it took one), `expired` (its day passed or its offers ran out)
/// or `cancelled` (the patient left the list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitlistStatus {
    Waiting,
    Offered,
    Booked,
    Expired,
    Cancelled,
}

impl WaitlistStatus {
    pub const ALL: [WaitlistStatus; 5] = [
        WaitlistStatus::Waiting,
        WaitlistStatus::Offered,
        WaitlistStatus::Booked,
        WaitlistStatus::Expired,
        WaitlistStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WaitlistStatus::Waiting => "waiting",
            WaitlistStatus::Offered => "offered",
            WaitlistStatus::Booked => "booked",
            WaitlistStatus::Expired => "expired",
            WaitlistStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }

    /// What the patient and the reception read.
    pub fn label_ja(self) -> &'static str {
        match self {
            WaitlistStatus::Waiting => "空き待ち",
            WaitlistStatus::Offered => "お席をご案内中",
            WaitlistStatus::Booked => "ご予約済み",
            WaitlistStatus::Expired => "終了",
            WaitlistStatus::Cancelled => "取り消し済み",
        }
    }

    /// Whether the entry may still be offered a seat or take one.
    pub fn is_open(self) -> bool {
        matches!(self, WaitlistStatus::Waiting | WaitlistStatus::Offered)
    }
}

/// A valid request to join the waiting list, consent given.
#[derive(Debug, Clone)]
pub struct NewWaitlistEntry {
    pub name: PatientName,
    pub name_kana: Option<NameKana>,
    pub email: EmailAddress,
    pub phone: PhoneNumber,
    pub kind: ConsultationType,
    pub date: NaiveDate,
    /// Earliest and latest start wanted (inclusive), clinic time.
    pub from: Option<NaiveTime>,
    pub to: Option<NaiveTime>,
    /// A practitioner's code (checked against the type by the workflow).
    pub practitioner: Option<String>,
}

impl NewWaitlistEntry {
    /// The largest body a valid request can take (as `NewBooking`'s).
    pub const MAX_BODY_BYTES: usize = body_limit_for(
        PatientName::MAX_CHARS
            + NameKana::MAX_SENT_CHARS
            + EmailAddress::MAX_CHARS
            + PhoneNumber::MAX_CHARS
            + 6 * SHORT_FIELD_CHARS,
    );

    /// Rule: the day is today or later, inside the booking window, and a
    /// day the clinic is open; `from`/`to` are `HH:MM` with `from <= to`.
    pub fn parse(
        fields: &Fields,
        calendar: &ClinicCalendar,
        now: DateTime<Utc>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = collect(&mut errors, fields.required("name", PatientName::parse));
        let name_kana = collect(&mut errors, fields.optional("name_kana", NameKana::parse));
        let email = collect(&mut errors, fields.required("email", EmailAddress::parse));
        let phone = collect(&mut errors, fields.required("phone", PhoneNumber::parse));
        let kind = collect(&mut errors, consultation_type(fields, calendar));
        let date = collect(
            &mut errors,
            fields.required("date", |field, raw| parse_day(field, raw, calendar, now)),
        );
        let from = collect(&mut errors, fields.optional("from", parse_time)).flatten();
        let to = collect(&mut errors, fields.optional("to", parse_time)).flatten();
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                errors.push(FieldError::new("to", "invalid_range"));
            }
        }
        let practitioner = collect(&mut errors, fields.text("practitioner"))
            .flatten()
            .map(|raw| raw.trim().to_string())
            .filter(|code| !code.is_empty());
        collect(&mut errors, fields.consent());
        match (name, name_kana, email, phone, kind, date) {
            (Some(name), Some(name_kana), Some(email), Some(phone), Some(kind), Some(date))
                if errors.is_empty() =>
            {
                Ok(NewWaitlistEntry {
                    name,
                    name_kana,
                    email,
                    phone,
                    kind,
                    date,
                    from,
                    to,
                    practitioner,
                })
            }
            _ => Err(errors),
        }
    }
}

fn parse_day(
    field: &str,
    raw: &str,
    calendar: &ClinicCalendar,
    now: DateTime<Utc>,
) -> Result<NaiveDate, FieldError> {
    let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| FieldError::new(field, "invalid"))?;
    let today = calendar.today(now);
    if date < today {
        return Err(FieldError::new(field, "too_soon"));
    }
    if date > today + chrono::Duration::days(calendar.booking_window_days()) {
        return Err(FieldError::new(field, "too_far_ahead"));
    }
    if calendar.closed_reason(date).is_some() {
        return Err(FieldError::new(field, "closed_day"));
    }
    Ok(date)
}

/// `HH:MM` (a form's `<input type="time">` sends it so).
fn parse_time(field: &str, raw: &str) -> Result<NaiveTime, FieldError> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M").map_err(|_| FieldError::new(field, "invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;
    use chrono::TimeZone;
    use serde_json::json;

    fn calendar() -> ClinicCalendar {
        let settings = Settings::defaults().unwrap();
        ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo").unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap()
    }

    fn parse(value: serde_json::Value) -> Result<NewWaitlistEntry, Vec<FieldError>> {
        let fields = Fields::from_json_object(value.as_object().unwrap().clone());
        NewWaitlistEntry::parse(&fields, &calendar(), now())
    }

    #[test]
    fn a_complete_request_parses_with_its_window() {
        let entry = parse(json!({
            "name": "山田 太郎", "email": "taro@example.jp", "phone": "090-1234-5678",
            "date": "2026-12-01", "from": "10:00", "to": "12:30", "consent": true,
        }))
        .unwrap();
        assert_eq!(entry.kind.code, "consultation");
        assert_eq!(entry.from, NaiveTime::from_hms_opt(10, 0, 0));
        assert_eq!(entry.to, NaiveTime::from_hms_opt(12, 30, 0));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = parse(json!({
            "email": "nope", "date": "2026-11-29", "from": "13:00", "to": "10:00",
        }))
        .unwrap_err();
        let codes: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            vec![
                ("name", "required"),
                ("email", "invalid_email"),
                ("phone", "required"),
                ("date", "closed_day"),
                ("to", "invalid_range"),
                ("consent", "consent_required"),
            ]
        );
    }

    #[test]
    fn a_past_day_or_a_bad_time_is_refused() {
        let errors = parse(json!({
            "name": "山田 太郎", "email": "taro@example.jp", "phone": "090-1234-5678",
            "date": "2026-11-20", "from": "25:00", "consent": true,
        }))
        .unwrap_err();
        let codes: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(codes, vec![("date", "too_soon"), ("from", "invalid")]);
    }
}
