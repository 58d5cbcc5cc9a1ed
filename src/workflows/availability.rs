//! Reading the calendar: seats taken, staff closures applied, and the free
//! starts nearest to a full one.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::db::bookings;
use crate::db::closures::ClosureRow;
use crate::error::ApiError;
use crate::schedule::availability::SlotOffer;
use crate::schedule::availability::{self, Occupancy};
use crate::schedule::closures::{self, Closure};
use crate::schedule::{ClinicCalendar, ConsultationType};
use crate::state::AppState;

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
