//! Reading the calendar: seats taken, staff closures applied, and the free
//! starts nearest to a full one.

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::db::bookings;
use crate::db::closures::ClosureRow;
use crate::error::ApiError;
use crate::schedule::availability::SlotOffer;
use crate::schedule::availability::{self, Occupancy};
use crate::schedule::closures::{self, Closure};
use crate::schedule::{ClinicCalendar, ConsultationType};
use crate::state::{AppState, Computed};

/// What the availability answer says before its days.
#[derive(Serialize)]
struct Head<'a> {
    timezone: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    from: String,
    to: String,
}

/// The availability answer (JSON) of `kind` over the clinic dates
/// `from..=to`, for one practitioner (`only`) or any: `{"timezone",
/// "type", "from", "to", "days": [...]}`, each day's part served from
/// `state.availability_cache` while it holds.
pub async fn answer(
    state: &AppState,
    kind: &ConsultationType,
    from: NaiveDate,
    to: NaiveDate,
    only: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Bytes, ApiError> {
    let head = Head {
        timezone: &state.settings.clinic.timezone,
        kind: &kind.code,
        from: from.to_string(),
        to: to.to_string(),
    };
    let mut body = serde_json::to_vec(&head).map_err(anyhow::Error::from)?;
    body.pop(); // the closing brace
    body.extend_from_slice(br#","days":["#);
    let variant = format!("{}|{}", kind.code, only.unwrap_or_default());
    for (i, date) in from.iter_days().take_while(|d| *d <= to).enumerate() {
        if i > 0 {
            body.push(b',');
        }
        // Read before the database, so that a write landing meanwhile
        // leaves this answer stale rather than kept as fresh.
        let (start, end) = availability::utc_range(&state.calendar, date, date);
        let version = state.db.schedule_version(start, end);
        let entry = state
            .availability_cache
            .entry((date, variant.clone()), version, now);
        let day = entry
            .get_or_compute(|| day_answer(state, kind, date, only, now))
            .await?;
        body.extend_from_slice(&day.body);
    }
    body.extend_from_slice(b"]}");
    Ok(Bytes::from(body))
}

/// One day's part of the availability answer, read from the database.
async fn day_answer(
    state: &AppState,
    kind: &ConsultationType,
    date: NaiveDate,
    only: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Computed, ApiError> {
    // Asked before the database is read: a listener lost meanwhile leaves
    // this answer kept for a second only.
    let kept_for = state.db.keep_schedule_answers_for();
    let days =
        match crate::workflows::resources::availability_days(state, kind, date, date, only, now)
            .await?
        {
            Some(days) => days,
            None => {
                let (calendar, occupancy) = schedule_with_closures(state, date, date).await?;
                availability::days(&calendar, kind, date, date, &occupancy, now)
            }
        };
    let [day] = days.as_slice() else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "{} days read for one date",
            days.len()
        )));
    };
    let body = Bytes::from(serde_json::to_vec(day).map_err(anyhow::Error::from)?);
    let mut holds_until = state.calendar.timing_holds_until(date, now);
    if let Some(kept_for) = kept_for {
        holds_until = holds_until.min(now + kept_for);
    }
    Ok(Computed { body, holds_until })
}

/// Seats taken in every slot of the clinic dates `from..=to`.
pub async fn occupancy(
    state: &AppState,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<Occupancy, ApiError> {
    let (start, end): (NaiveDateTime, NaiveDateTime) =
        availability::utc_range(&state.calendar, from, to);
    let rows = state
        .db
        .read(move |conn| bookings::seats_taken(conn, start, end))
        .await?;
    Ok(rows.into_iter().collect())
}

/// The three free starts nearest to a full one, to offer at once.
pub async fn alternatives(
    state: &AppState,
    kind: &ConsultationType,
    around: DateTime<Tz>,
    now: DateTime<Utc>,
) -> Result<Vec<SlotOffer>, ApiError> {
    if let Some(offers) =
        crate::workflows::resources::alternatives(state, kind, around, now).await?
    {
        return Ok(offers);
    }
    let (from, to) = availability::search_window(&state.calendar, around, now);
    let (calendar, occupancy) = schedule_with_closures(state, from, to).await?;
    Ok(availability::nearest_free(
        &calendar, kind, around, &occupancy, now, 3,
    ))
}

/// Fills in the alternatives of a `SlotUnavailable` error.
pub async fn with_alternatives(
    state: &AppState,
    error: ApiError,
    kind: &ConsultationType,
    around: DateTime<Tz>,
    now: DateTime<Utc>,
) -> ApiError {
    match error {
        ApiError::SlotUnavailable { .. } => match alternatives(state, kind, around, now).await {
            Ok(alternatives) => ApiError::SlotUnavailable { alternatives },
            Err(error) => error,
        },
        other => other,
    }
}

/// The calendar and the occupancy of the clinic dates `from..=to` with the
/// staff closures applied: what availability and alternatives are read
/// from.
pub async fn schedule_with_closures(
    state: &AppState,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<(ClinicCalendar, Occupancy), ApiError> {
    let mut occupancy = occupancy(state, from, to).await?;
    let (start, end) = availability::utc_range(&state.calendar, from, to);
    let closures: Vec<Closure> = state
        .db
        .read(move |conn| crate::db::closures::overlapping(conn, start, end))
        .await?
        .iter()
        // A practitioner's or room's time off closes only them.
        .filter(|row| row.resource.is_none())
        .map(ClosureRow::as_closure)
        .collect();
    let calendar = closures::apply(&state.calendar, &closures, from, to, &mut occupancy);
    Ok((calendar, occupancy))
}
