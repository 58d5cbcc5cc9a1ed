//! A booking request, parsed whole: every field checked, every problem
//! collected, the start checked against the clinic's calendar.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::fields::{body_limit_for, SHORT_FIELD_CHARS};
use super::questionnaire::{self, Answers, MAX_ANSWERS_CHARS};
use super::{
    collect, EmailAddress, FieldError, Fields, FreeText, NameKana, PatientName, PhoneNumber,
};
use crate::schedule::{ClinicCalendar, ConsultationType};

/// Where a booking stands. A booking is `confirmed` when made; staff mark it
/// `arrived` (受付済) when the patient is in, `completed` or `no_show` after
/// the visit; patient or staff may cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingStatus {
    Confirmed,
    Arrived,
    Cancelled,
    Completed,
    NoShow,
}

impl BookingStatus {
    pub const ALL: [BookingStatus; 5] = [
        BookingStatus::Confirmed,
        BookingStatus::Arrived,
        BookingStatus::Cancelled,
        BookingStatus::Completed,
        BookingStatus::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Arrived => "arrived",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Completed => "completed",
            BookingStatus::NoShow => "no_show",
        }
    }

    /// The word the reception uses for it (staff console, calendar feed).
    pub fn label_ja(self) -> &'static str {
        match self {
            BookingStatus::Confirmed => "予約確定",
            BookingStatus::Arrived => "受付済",
            BookingStatus::Cancelled => "キャンセル",
            BookingStatus::Completed => "来院済み",
            BookingStatus::NoShow => "無断キャンセル（来院なし）",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }

    /// Whether the booking still holds its slots: every status but
    /// `cancelled` (the time was the patient's, whether they came or not).
    pub fn holds_slot(self) -> bool {
        self != BookingStatus::Cancelled
    }
}

/// Who is choosing a start: patients must give the minimum notice, staff
/// (who may fit a patient in at short notice) need not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Booker {
    Patient,
    Staff,
}

/// A start the clinic's calendar accepts for a consultation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotStart(DateTime<Tz>);

impl SlotStart {
    pub fn parse(
        raw: Option<String>,
        kind: &ConsultationType,
        calendar: &ClinicCalendar,
        now: DateTime<Utc>,
        booker: Booker,
    ) -> Result<Self, FieldError> {
        let raw = raw.ok_or_else(|| FieldError::new("start", "required"))?;
        let start = calendar
            .parse_start(&raw)
            .ok_or_else(|| FieldError::new("start", "invalid"))?;
        let verdict = match booker {
            Booker::Patient => calendar.check_start(start, kind, now),
            Booker::Staff => calendar.check_start_ignoring_notice(start, kind, now),
        };
        verdict.map_err(|rejection| FieldError::new("start", rejection.code()))?;
        Ok(SlotStart(start))
    }

    pub fn at(&self) -> DateTime<Tz> {
        self.0
    }
}

/// A valid booking request with consent given.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub name: PatientName,
    pub name_kana: Option<NameKana>,
    pub email: EmailAddress,
    pub phone: PhoneNumber,
    pub kind: ConsultationType,
    pub start: SlotStart,
    pub first_visit: Option<bool>,
    pub message: Option<FreeText>,
    pub source: Option<String>,
    /// The practitioner asked for (a code; checked against the type by
    /// the booking workflow); `None`: no preference.
    pub practitioner: Option<String>,
    /// The intake questionnaire's answers, when given with the booking
    /// (else it is answered later through the manage link).
    pub answers: Option<Answers>,
}

pub const MAX_MESSAGE_CHARS: usize = 2000;

/// The longest `source` accepted (`parse_source`).
pub const MAX_SOURCE_CHARS: usize = 100;

impl NewBooking {
    /// The largest body a valid booking request can take: every field at
    /// its longest, in any encoding (`body_limit_for`); the start, the type
    /// and the two flags as short fields.
    pub const MAX_BODY_BYTES: usize = body_limit_for(
        PatientName::MAX_CHARS
            + NameKana::MAX_SENT_CHARS
            + EmailAddress::MAX_CHARS
            + PhoneNumber::MAX_CHARS
            + MAX_MESSAGE_CHARS
            + MAX_SOURCE_CHARS
            + 4 * SHORT_FIELD_CHARS
            + MAX_ANSWERS_CHARS,
    );
}

impl NewBooking {
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
        let raw_start = collect(&mut errors, fields.text("start"));
        let start = match (&kind, raw_start) {
            (Some(kind), Some(raw)) => collect(
                &mut errors,
                SlotStart::parse(raw, kind, calendar, now, Booker::Patient),
            ),
            (None, Some(Some(raw))) if calendar.parse_start(&raw).is_none() => {
                errors.push(FieldError::new("start", "invalid"));
                None
            }
            (None, Some(None)) => {
                errors.push(FieldError::new("start", "required"));
                None
            }
            _ => None,
        };
        let answers = kind.as_ref().and_then(|kind| {
            questionnaire::parse_answers(fields, questionnaire::current_for(&kind.code))
                .unwrap_or_else(|problems| {
                    errors.extend(problems);
                    None
                })
        });
        let first_visit = collect(&mut errors, fields.flag("first_visit")).flatten();
        let message = collect(
            &mut errors,
            fields.text("message").and_then(|raw| {
                raw.map(|raw| FreeText::parse("message", &raw, MAX_MESSAGE_CHARS))
                    .transpose()
            }),
        )
        .flatten();
        let source = collect(&mut errors, parse_source(fields)).flatten();
        let practitioner = collect(&mut errors, fields.text("practitioner"))
            .flatten()
            .map(|raw| raw.trim().to_string())
            .filter(|code| !code.is_empty());
        collect(&mut errors, fields.consent());
        match (name, name_kana, email, phone, kind, start) {
            (Some(name), Some(name_kana), Some(email), Some(phone), Some(kind), Some(start))
                if errors.is_empty() =>
            {
                Ok(NewBooking {
                    name,
                    name_kana,
                    email,
                    phone,
                    kind,
                    start,
                    first_visit,
                    message,
                    source,
                    practitioner,
                    answers,
                })
            }
            _ => Err(errors),
        }
    }
}

/// The consultation type named by the `type` field, or the clinic's default.
pub fn consultation_type(
    fields: &Fields,
    calendar: &ClinicCalendar,
) -> Result<ConsultationType, FieldError> {
    match fields.text("type")? {
        None => Ok(calendar.default_type().clone()),
        Some(code) => calendar
            .consultation_type(code.trim())
            .cloned()
            .ok_or_else(|| FieldError::new("type", "unknown_type")),
    }
}

/// Which page the visitor came from (an article's slug), for the clinic's
/// statistics: a short identifier, nothing free-form.
pub fn parse_source(fields: &Fields) -> Result<Option<String>, FieldError> {
    let Some(raw) = fields.text("source")? else {
        return Ok(None);
    };
    let source = raw.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.');
    if source.len() > MAX_SOURCE_CHARS || !source.chars().all(allowed) {
        return Err(FieldError::new("source", "invalid"));
    }
    Ok(Some(source.to_string()))
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

    fn fields(value: serde_json::Value) -> Fields {
        Fields::from_json_object(value.as_object().unwrap().clone())
    }

    #[test]
    fn a_complete_request_parses() {
        let booking = NewBooking::parse(
            &fields(json!({
                "name": "山田 太郎", "email": "taro@example.jp", "phone": "090-1234-5678",
                "start": "2026-12-01T10:00", "type": "stem-cell", "consent": true,
            })),
            &calendar(),
            now(),
        )
        .unwrap();
        assert_eq!(booking.kind.code, "stem-cell");
        assert_eq!(booking.start.at().to_rfc3339(), "2026-12-01T10:00:00+09:00");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = NewBooking::parse(
            &fields(json!({"email": "nope", "phone": "12", "start": "2026-11-29T10:00", "type": "massage"})),
            &calendar(),
            now(),
        )
        .unwrap_err();
        let codes: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            vec![
                ("name", "required"),
                ("email", "invalid_email"),
                ("phone", "invalid_phone"),
                ("type", "unknown_type"),
                ("consent", "consent_required"),
            ]
        );
    }
}
