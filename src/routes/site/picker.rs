//! The slot picker without JavaScript: a week of days with their free
//! starts as radio buttons, and links to the previous and next week. Also the
//! error messages a form shows beside its fields.

use actix_web::web;
use chrono::{Duration, NaiveDate, Utc};

use super::date_ja;
use crate::domain::{Booker, FieldError};
use crate::error::ApiError;
use crate::i18n::{field_message, Lang};
use crate::schedule::availability;
use crate::schedule::availability::SlotOffer;
use crate::schedule::ConsultationType;
use crate::state::AppState;

/// Days shown at once: a week, so a phone screen stays short.
pub const DAYS_SHOWN: i64 = 7;

#[derive(Debug, Clone)]
pub struct SlotView {
    /// The local start a form posts (`2026-12-01T10:00`).
    pub value: String,
    pub id: String,
    /// `10:00`
    pub label: String,
    pub checked: bool,
}

#[derive(Debug, Clone)]
pub struct DayView {
    /// `2026年12月1日(火)`
    pub label: String,
    pub id: String,
    /// Why there is nothing to choose (closed or full).
    pub note: Option<&'static str>,
    pub slots: Vec<SlotView>,
    /// Shown unfolded: the day of the chosen slot, else the first with room.
    /// The other days fold away so a week fits a phone screen.
    pub open: bool,
    /// A full open day, to a patient: joining its waiting list.
    pub waitlist_href: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SlotPicker {
    pub days: Vec<DayView>,
    pub from: String,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
}

/// The waiting-list form for `type_code` on `date`.
pub fn waitlist_href(type_code: &str, date: NaiveDate) -> String {
    format!(
        "/waitlist?{}",
        super::encode_query(&[("type", type_code), ("date", &date.to_string())])
    )
}

/// The first day of the week shown: `requested` (from `?from=`) kept within
/// today .. the end of the booking window.
pub fn first_day(
    state: &AppState,
    requested: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> NaiveDate {
    let today = state.calendar.today(now);
    let last = today + Duration::days(state.calendar.booking_window_days());
    requested
        .and_then(|raw| NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok())
        .map(|date| date.clamp(today, last.max(today)))
        .unwrap_or(today)
}

fn local_value(rfc3339: &str) -> &str {
    rfc3339.get(..16).unwrap_or(rfc3339)
}

/// The week from `from` with its free starts of `kind` for `booker` (staff
/// may choose inside the minimum notice); `chosen` is checked; `href(date)`
/// links to the week starting at `date`. Staff closures count as taken.
pub async fn build(
    state: &web::Data<AppState>,
    kind: &ConsultationType,
    from: NaiveDate,
    chosen: &str,
    booker: Booker,
    href: impl Fn(NaiveDate) -> String,
) -> Result<SlotPicker, ApiError> {
    build_for(state, kind, None, from, chosen, booker, href).await
}

/// As `build`, for a type with practitioners or rooms read as the
/// availability API reads them: `practitioner` (a code the type takes)
/// shows only that practitioner's free starts, `None` those of any.
pub async fn build_for(
    state: &web::Data<AppState>,
    kind: &ConsultationType,
    practitioner: Option<&str>,
    from: NaiveDate,
    chosen: &str,
    booker: Booker,
    href: impl Fn(NaiveDate) -> String,
) -> Result<SlotPicker, ApiError> {
    let now = Utc::now();
    let today = state.calendar.today(now);
    let last = today + Duration::days(state.calendar.booking_window_days());
    let to = (from + Duration::days(DAYS_SHOWN - 1)).min(last).max(from);
    let with_resources =
        crate::workflows::resources::availability_days(state, kind, from, to, practitioner, now)
            .await?;
    let days = match with_resources {
        Some(mut days) => {
            if booker == Booker::Staff {
                // Staff may fit a patient in inside the minimum notice.
                for slot in days.iter_mut().flat_map(|day| day.slots.iter_mut()) {
                    let in_time = chrono::DateTime::parse_from_rfc3339(&slot.start)
                        .map(|start| {
                            state.calendar.bookable_by_staff_in_time(
                                start.with_timezone(&state.calendar.timezone()),
                                now,
                            )
                        })
                        .unwrap_or(false);
                    slot.available = slot.remaining > 0 && in_time;
                }
            }
            days
        }
        None => {
            let (calendar, occupancy) =
                crate::workflows::availability::schedule_with_closures(state, from, to).await?;
            match booker {
                Booker::Patient => availability::days(&calendar, kind, from, to, &occupancy, now),
                Booker::Staff => {
                    availability::days_for_staff(&calendar, kind, from, to, &occupancy, now)
                }
            }
        }
    };
    let chosen = local_value(chosen);
    let mut days: Vec<DayView> = days
        .into_iter()
        .map(|day| {
            let date = NaiveDate::parse_from_str(&day.date, "%Y-%m-%d").unwrap_or(from);
            let slots: Vec<SlotView> = day
                .slots
                .iter()
                .filter(|slot| slot.available)
                .map(|slot| {
                    let value = local_value(&slot.start).to_string();
                    SlotView {
                        id: format!("slot-{}", value.replace(':', "")),
                        label: value.get(11..16).unwrap_or(&value).to_string(),
                        checked: value == chosen,
                        value,
                    }
                })
                .collect();
            let note = match (day.open, slots.is_empty()) {
                (false, _) => Some("休診日"),
                (true, true) => Some("空きがありません"),
                (true, false) => None,
            };
            let full = day.open && slots.is_empty() && booker == Booker::Patient;
            DayView {
                label: date_ja(date),
                id: format!("day-{}", day.date),
                note,
                waitlist_href: full.then(|| waitlist_href(&kind.code, date)),
                slots,
                open: false,
            }
        })
        .collect();
    let unfold = days
        .iter()
        .position(|day| day.slots.iter().any(|slot| slot.checked))
        .or_else(|| days.iter().position(|day| !day.slots.is_empty()));
    if let Some(index) = unfold {
        days[index].open = true;
    }
    let prev = from - Duration::days(DAYS_SHOWN);
    let next = from + Duration::days(DAYS_SHOWN);
    Ok(SlotPicker {
        days,
        from: from.to_string(),
        prev_href: (from > today).then(|| href(prev.max(today))),
        next_href: (next <= last).then(|| href(next)),
    })
}

/// Free starts offered after a lost race, as choices for the picker.
pub fn offers(alternatives: &[SlotOffer], state: &AppState) -> Vec<SlotView> {
    alternatives
        .iter()
        .filter_map(|offer| {
            let start = chrono::DateTime::parse_from_rfc3339(&offer.start).ok()?;
            let start = start.with_timezone(&state.calendar.timezone());
            let value = local_value(&offer.start).to_string();
            Some(SlotView {
                id: format!("alt-{}", value.replace(':', "")),
                label: format!("{} {}", date_ja(start.date_naive()), start.format("%H:%M")),
                checked: false,
                value,
            })
        })
        .collect()
}

/// One message shown beside its field and in the summary.
#[derive(Debug, Clone)]
pub struct ErrorView {
    pub field: String,
    /// The id of the input the summary links to.
    pub target: String,
    pub code: &'static str,
    pub message: String,
}

/// A form's errors, worded as the JSON API words them (same codes).
#[derive(Debug, Clone, Default)]
pub struct FormErrors(pub Vec<ErrorView>);

impl FormErrors {
    pub fn of(errors: &[FieldError]) -> Self {
        let mut views: Vec<ErrorView> = Vec::new();
        for error in errors {
            // One message per field: the first problem is the one to fix.
            if views.iter().any(|view| view.field == error.field) {
                continue;
            }
            views.push(ErrorView {
                field: error.field.clone(),
                target: format!("f-{}", error.field),
                code: error.code,
                message: field_message(&error.field, error.code, Lang::Ja),
            });
        }
        FormErrors(views)
    }

    pub fn get(&self, field: &str) -> Option<&ErrorView> {
        self.0.iter().find(|view| view.field == field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn all(&self) -> &[ErrorView] {
        &self.0
    }
}
