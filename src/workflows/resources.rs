//! Practitioners and rooms in the booking workflows: which practitioner a
//! booking may name, and claiming the practitioner, room and daily place
//! it gets, in the transaction that stores it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::db::resource_claims::{self, daily_key, place_key, Holder};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schedule::availability::{self, rfc3339, utc_range, DayAvailability, SlotOffer};
use crate::schedule::resources::{assignment_order, days as resource_days, Busy, ResourceView};
use crate::schedule::ConsultationType;
use crate::state::AppState;

fn taken() -> ApiError {
    ApiError::SlotUnavailable {
        alternatives: Vec::new(),
    }
}

/// The seats a booking of `kind` at `start` claims: none when the type
/// holds practitioners or rooms instead.
pub fn seat_slots(
    state: &AppState,
    kind: &ConsultationType,
    start: DateTime<Tz>,
) -> Vec<NaiveDateTime> {
    match state.resources.needs(&kind.code) {
        Some(needs) if needs.uses_resources() => Vec::new(),
        _ => state.calendar.covered_slots(start, kind),
    }
}

/// The practitioner a request names for `kind`: none when empty (no
/// preference); `invalid_practitioner` when the type takes no
/// practitioner or this one does not take it.
pub fn named_practitioner(
    state: &AppState,
    kind: &ConsultationType,
    raw: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(code) = raw.map(str::trim).filter(|code| !code.is_empty()) else {
        return Ok(None);
    };
    let takes_it = state.resources.find(code).is_some_and(|(index, _)| {
        state
            .resources
            .needs(&kind.code)
            .is_some_and(|needs| needs.practitioners.contains(&index))
    });
    if takes_it {
        Ok(Some(code.to_string()))
    } else {
        Err(ApiError::field("practitioner", "invalid_practitioner"))
    }
}

/// The practitioner or room a closure is the time off of: none when blank
/// (the clinic closes); `invalid_resource` when none has this code.
pub fn closure_resource(
    state: &AppState,
    raw: Option<&str>,
) -> Result<Option<String>, crate::domain::FieldError> {
    let Some(code) = raw.map(str::trim).filter(|code| !code.is_empty()) else {
        return Ok(None);
    };
    match state.resources.find(code) {
        Some((_, resource)) => Ok(Some(resource.code.clone())),
        None => Err(crate::domain::FieldError::new(
            "resource",
            "invalid_resource",
        )),
    }
}

/// The practitioner a moved booking keeps: its own, while it still takes
/// the type (else one is assigned as for a new booking).
pub fn kept(state: &AppState, kind: &ConsultationType, current: Option<&str>) -> Option<String> {
    named_practitioner(state, kind, current).ok().flatten()
}

/// Claims for `holder` what a booking of `kind` at `start` needs: the
/// practitioner (`wanted`, or the least booked free one that day), the
/// first free room, then a place of the type's daily limit; records the
/// practitioner on a booking and returns it. `SlotUnavailable` when any
/// of them is not free (the caller's transaction then undoes the rest).
pub fn claim_for(
    conn: &mut DbConnection,
    state: &AppState,
    holder: Holder,
    kind: &ConsultationType,
    start: DateTime<Tz>,
    wanted: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(needs) = state.resources.needs(&kind.code) else {
        return Ok(None);
    };
    let date = start.date_naive();
    let (day_from, _) = utc_range(&state.calendar, date, date);
    let chosen = if needs.uses_resources() {
        let chosen = claim_practitioner_and_room(conn, state, holder, kind, start, wanted)?;
        if let Holder::Booking(reference) = holder {
            resource_claims::set_practitioner(conn, reference, chosen.as_deref())?;
        }
        chosen
    } else {
        None
    };
    // The day's place last: racing bookings queue on the resource they
    // want first, so most of them fail fast without touching it.
    if let Some(limit) = needs.daily_limit {
        let key = daily_key(&kind.code);
        let taken_places: Vec<NaiveDateTime> =
            resource_claims::held_between(conn, day_from, place_key(day_from, limit))?
                .into_iter()
                .filter(|(code, _)| *code == key)
                .map(|(_, at)| at)
                .collect();
        let mut placed = false;
        for place in (0..limit).map(|place| place_key(day_from, place)) {
            if !taken_places.contains(&place)
                && resource_claims::claim(conn, holder, &key, &[place])?
            {
                placed = true;
                break;
            }
        }
        if !placed {
            return Err(taken());
        }
    }
    Ok(chosen)
}

/// Claims the practitioner (`wanted`, or the least booked free one that
/// day) and the first free room a booking needs; the practitioner chosen.
fn claim_practitioner_and_room(
    conn: &mut DbConnection,
    state: &AppState,
    holder: Holder,
    kind: &ConsultationType,
    start: DateTime<Tz>,
    wanted: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(needs) = state.resources.needs(&kind.code) else {
        return Ok(None);
    };
    let calendar = &state.calendar;
    let date = start.date_naive();
    let (day_from, day_to) = utc_range(calendar, date, date);
    let resources = &state.resources;
    let (practitioner_slots, room_slots) = resources.hold_slots(calendar, kind, needs, start);
    let step = Duration::minutes(calendar.slot_minutes().into());
    let hold_from = start.naive_utc();
    let hold_to = practitioner_slots
        .iter()
        .chain(&room_slots)
        .max()
        .map_or(hold_from, |last| *last + step);
    let mut busy = Busy::default();
    for (code, slot) in resource_claims::held_between(conn, hold_from, hold_to)? {
        busy.hold(&code, slot);
    }
    for (code, from, to) in resource_claims::time_off(conn, hold_from, hold_to)? {
        busy.time_off(&code, from, to);
    }
    let (free_practitioners, free_rooms) = resources.free_at(calendar, kind, needs, start, &busy);
    let code_of = |index: usize| {
        resources
            .get(index)
            .map(|resource| resource.code.clone())
            .unwrap_or_default()
    };
    let mut chosen = None;
    if !needs.practitioners.is_empty() {
        let order = match wanted {
            Some(wanted) => free_practitioners
                .iter()
                .copied()
                .filter(|index| code_of(*index) == wanted)
                .collect(),
            None => {
                let codes: Vec<String> = free_practitioners.iter().map(|i| code_of(*i)).collect();
                let booked =
                    resource_claims::practitioner_bookings(conn, &codes, day_from, day_to)?;
                assignment_order(&free_practitioners, |index| {
                    let code = code_of(index);
                    booked.iter().filter(|other| **other == code).count() as u32
                })
            }
        };
        for index in order {
            let code = code_of(index);
            if resource_claims::claim(conn, holder, &code, &practitioner_slots)? {
                chosen = Some(code);
                break;
            }
        }
        if chosen.is_none() {
            return Err(taken());
        }
    }
    if !needs.rooms.is_empty() {
        let mut roomed = false;
        for index in free_rooms {
            if resource_claims::claim(conn, holder, &code_of(index), &room_slots)? {
                roomed = true;
                break;
            }
        }
        if !roomed {
            return Err(taken());
        }
    }
    Ok(chosen)
}

/// The days of `kind` over `from..=to` when it needs practitioners, rooms
/// or a daily limit (`None`: it needs only seats, read as before). One
/// read of the range's claims and closures, whatever its length; `only`:
/// one practitioner's view.
pub async fn availability_days(
    state: &AppState,
    kind: &ConsultationType,
    from: NaiveDate,
    to: NaiveDate,
    only: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Vec<DayAvailability>>, ApiError> {
    let Some(needs) = state.resources.needs(&kind.code) else {
        return Ok(None);
    };
    let calendar = &state.calendar;
    let (start, end) = utc_range(calendar, from, to);
    let (claims, closures) = state
        .db
        .read(move |conn| {
            Ok((
                resource_claims::held_between(conn, start, end)?,
                crate::db::closures::overlapping(conn, start, end)?,
            ))
        })
        .await?;
    let daily = daily_key(&kind.code);
    let mut booked: HashMap<NaiveDate, u32> = HashMap::new();
    let mut busy = Busy::default();
    for (code, at) in &claims {
        if *code == daily {
            *booked.entry(calendar.local(*at).date_naive()).or_insert(0) += 1;
        } else {
            busy.hold(code, *at);
        }
    }
    if !needs.uses_resources() {
        // Seats, as before, with the days whose limit is reached full.
        let (calendar, occupancy) =
            crate::workflows::availability::schedule_with_closures(state, from, to).await?;
        let mut days = availability::days(&calendar, kind, from, to, &occupancy, now);
        for day in &mut days {
            let date = day.date.parse::<NaiveDate>().ok();
            let left = needs.left(date.and_then(|d| booked.get(&d).copied()).unwrap_or(0));
            for slot in &mut day.slots {
                slot.remaining = slot.remaining.min(left);
                slot.available = slot.available && left > 0;
            }
        }
        return Ok(Some(days));
    }
    let resources = &state.resources;
    for closure in &closures {
        match (&closure.resource, closure.closed_date) {
            (Some(code), _) => busy.time_off(code, closure.start_at, closure.end_at),
            // Hours the clinic closed are every resource's time off.
            (None, None) => {
                for resource in resources.all() {
                    busy.time_off(&resource.code, closure.start_at, closure.end_at);
                }
            }
            (None, Some(_)) => {}
        }
    }
    let calendar = calendar.with_closed_dates(
        closures
            .iter()
            .filter(|closure| closure.resource.is_none())
            .filter_map(|closure| closure.closed_date),
    );
    let view = ResourceView {
        resources,
        needs,
        busy: &busy,
        booked: &booked,
        only: only
            .and_then(|code| resources.find(code))
            .map(|(index, _)| index),
    };
    Ok(Some(resource_days(&calendar, kind, &view, from, to, now)))
}

/// Up to three free starts of `kind` nearest to `around` (as
/// `availability::nearest_free` does for seats), or `None` for a type
/// that needs only seats.
pub async fn alternatives(
    state: &AppState,
    kind: &ConsultationType,
    around: DateTime<Tz>,
    now: DateTime<Utc>,
) -> Result<Option<Vec<SlotOffer>>, ApiError> {
    let (from, to) = availability::search_window(&state.calendar, around, now);
    let Some(days) = availability_days(state, kind, from, to, None, now).await? else {
        return Ok(None);
    };
    let around_text = rfc3339(around);
    let mut free: Vec<(i64, String, String)> = days
        .into_iter()
        .flat_map(|day| day.slots)
        .filter(|slot| slot.available && slot.start != around_text)
        .filter_map(|slot| {
            let start = DateTime::parse_from_rfc3339(&slot.start).ok()?;
            let distance = (start.with_timezone(&Utc) - around.with_timezone(&Utc))
                .num_seconds()
                .abs();
            Some((distance, slot.start, slot.end))
        })
        .collect();
    free.sort();
    free.truncate(3);
    free.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(Some(
        free.into_iter()
            .map(|(_, start, end)| SlotOffer { start, end })
            .collect(),
    ))
}
