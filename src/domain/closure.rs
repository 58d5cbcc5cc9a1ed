//! A closure staff ask for, parsed whole: a whole clinic date (`date`), or
//! a time range (`start` and `end`), never both, with an optional reason.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime};
use chrono_tz::Tz;

use super::{collect, FieldError, Fields, FreeText};
use crate::schedule::ClinicCalendar;

pub const MAX_REASON_CHARS: usize = 200;

impl ClosureRequest {
    /// The largest body a valid closure request can take: the reason at
    /// its longest in any encoding, a date, a start, an end and a resource.
    pub const MAX_BODY_BYTES: usize =
        super::body_limit_for(MAX_REASON_CHARS + 4 * super::SHORT_FIELD_CHARS);
}

/// What a closure blocks, in clinic time: `[start, end)`, and the date when
/// it is a whole day (then the day is listed closed, not just full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosureRequest {
    pub date: Option<NaiveDate>,
    pub start: DateTime<Tz>,
    pub end: DateTime<Tz>,
    pub reason: String,
    /// The practitioner or room whose time off it is (`None`: the clinic
    /// closes); set by the caller, which knows the configured codes.
    pub resource: Option<String>,
}

/// A `YYYY-MM-DD` date with a four-digit year (chrono would also read
/// signed years up to its limits, where date arithmetic overflows).
pub fn clinic_date(raw: &str) -> Option<NaiveDate> {
    let four_digit_year = raw.len() == 10 && raw.as_bytes()[..4].iter().all(u8::is_ascii_digit);
    four_digit_year
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
}

impl ClosureRequest {
    /// Reads `date` or `start` and `end` (RFC 3339, or local clinic time as
    /// `YYYY-MM-DDTHH:MM`), and `reason`; every problem at once.
    pub fn parse(fields: &Fields, calendar: &ClinicCalendar) -> Result<Self, Vec<FieldError>> {
        let mut errors: Vec<FieldError> = Vec::new();
        let reason = collect(
            &mut errors,
            fields.text("reason").and_then(|raw| {
                raw.map(|raw| FreeText::parse("reason", &raw, MAX_REASON_CHARS))
                    .transpose()
            }),
        )
        .flatten()
        .map(|reason| reason.as_str().to_string())
        .unwrap_or_default();
        let date = collect(&mut errors, fields.text("date")).flatten();
        let range = match date {
            Some(raw) => {
                let start = collect(&mut errors, fields.text("start")).flatten();
                let end = collect(&mut errors, fields.text("end")).flatten();
                if start.is_some() || end.is_some() {
                    // One or the other: a date, or a start and an end.
                    errors.push(FieldError::new("date", "invalid"));
                    None
                } else {
                    let bounds = clinic_date(raw.trim()).and_then(|day| {
                        let start = calendar.at(day, NaiveTime::MIN)?;
                        let end = calendar.at(day + Duration::days(1), NaiveTime::MIN)?;
                        Some((Some(day), start, end))
                    });
                    if bounds.is_none() {
                        errors.push(FieldError::new("date", "invalid"));
                    }
                    bounds
                }
            }
            None => {
                let mut time = |name: &str| match fields.text(name) {
                    Ok(Some(raw)) => calendar.parse_start(&raw).or_else(|| {
                        errors.push(FieldError::new(name, "invalid"));
                        None
                    }),
                    Ok(None) => {
                        errors.push(FieldError::new(name, "required"));
                        None
                    }
                    Err(error) => {
                        errors.push(error);
                        None
                    }
                };
                let (start, end) = (time("start"), time("end"));
                match (start, end) {
                    (Some(start), Some(end)) if end <= start => {
                        errors.push(FieldError::new("end", "invalid_range"));
                        None
                    }
                    (Some(start), Some(end)) => Some((None, start, end)),
                    _ => None,
                }
            }
        };
        match range {
            Some((date, start, end)) if errors.is_empty() => Ok(ClosureRequest {
                date,
                start,
                end,
                reason,
                resource: None,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;

    fn calendar() -> ClinicCalendar {
        let settings = Settings::defaults().unwrap();
        ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo").unwrap()
    }

    fn form(pairs: &[(&str, &str)]) -> Fields {
        Fields::from_form_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_date_closes_the_whole_clinic_day_and_hours_close_a_range() {
        let cal = calendar();
        let day = ClosureRequest::parse(&form(&[("date", "2026-12-30"), ("reason", "年末")]), &cal)
            .unwrap();
        assert_eq!(day.date, NaiveDate::from_ymd_opt(2026, 12, 30));
        assert_eq!(day.start.to_rfc3339(), "2026-12-30T00:00:00+09:00");
        assert_eq!(day.end.to_rfc3339(), "2026-12-31T00:00:00+09:00");
        assert_eq!(day.reason, "年末");
        let hours = ClosureRequest::parse(
            &form(&[("start", "2026-12-01T14:00"), ("end", "2026-12-01T18:30")]),
            &cal,
        )
        .unwrap();
        assert_eq!(hours.date, None);
        assert_eq!(hours.end.to_rfc3339(), "2026-12-01T18:30:00+09:00");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let cal = calendar();
        let errors = ClosureRequest::parse(
            &form(&[
                ("start", "2026-12-01T16:00"),
                ("end", "2026-12-01T14:00"),
                ("reason", &"長".repeat(MAX_REASON_CHARS + 1)),
            ]),
            &cal,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                FieldError::new("reason", "too_long"),
                FieldError::new("end", "invalid_range")
            ]
        );
        let errors = ClosureRequest::parse(&form(&[("date", "30-12-2026"), ("end", "x")]), &cal)
            .unwrap_err();
        assert_eq!(errors, [FieldError::new("date", "invalid")]);
    }
}
