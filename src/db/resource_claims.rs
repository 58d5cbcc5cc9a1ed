//! Practitioners' and rooms' claims: one row per (resource, grid slot) a
//! booking or a waiting-list offer holds, the primary key refusing a
//! second holder; and the places of a type's daily limit, held the same
//! way.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{bookings, closures, resource_claims};
use super::{each_backend, is_contention, DbConnection};
use crate::domain::BookingStatus;
use crate::error::ApiError;

/// The key under which a type's daily places are claimed (a resource code
/// never holds a colon).
pub fn daily_key(type_code: &str) -> String {
    format!("daily:{type_code}")
}

/// Who holds a claim: a booking, or a waiting-list offer keeping the time
/// for its entry until it is accepted or ends.
#[derive(Clone, Copy, Debug)]
pub enum Holder<'a> {
    Booking(&'a str),
    Offer(i64),
}

impl<'a> Holder<'a> {
    fn booking(self) -> Option<&'a str> {
        match self {
            Holder::Booking(reference) => Some(reference),
            Holder::Offer(_) => None,
        }
    }

    fn offer(self) -> Option<i64> {
        match self {
            Holder::Booking(_) => None,
            Holder::Offer(id) => Some(id),
        }
    }
}

/// Every claim on a slot starting in `[from, to)`: (resource, slot).
pub fn held_between(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<(String, NaiveDateTime)>, ApiError> {
    Ok(resource_claims::table
        .filter(resource_claims::slot_start.ge(from))
        .filter(resource_claims::slot_start.lt(to))
        .select((resource_claims::resource_code, resource_claims::slot_start))
        .load(conn)?)
}

/// Claims `slots` of `code` for `holder`, all or none: `false` (and
/// nothing claimed) when another booking or offer holds one of them. Of
/// two transactions after the same slot, the second waits for the first's
/// commit and then inserts nothing, as with seats.
pub fn claim(
    conn: &mut DbConnection,
    holder: Holder,
    code: &str,
    slots: &[NaiveDateTime],
) -> Result<bool, ApiError> {
    for slot in slots {
        let inserted = each_backend!(conn, c => diesel::insert_into(resource_claims::table)
            .values((
                resource_claims::resource_code.eq(code),
                resource_claims::slot_start.eq(slot),
                resource_claims::booking_reference.eq(holder.booking()),
                resource_claims::offer_id.eq(holder.offer()),
            ))
            .on_conflict_do_nothing()
            .execute(c));
        match inserted {
            Ok(1) => super::schedule_versions::changed(*slot, *slot),
            Ok(_) => {
                let of_code =
                    resource_claims::table.filter(resource_claims::resource_code.eq(code));
                match holder {
                    Holder::Booking(reference) => diesel::delete(
                        of_code.filter(resource_claims::booking_reference.eq(reference)),
                    )
                    .execute(conn)?,
                    Holder::Offer(id) => {
                        diesel::delete(of_code.filter(resource_claims::offer_id.eq(id)))
                            .execute(conn)?
                    }
                };
                return Ok(false);
            }
            // Two bookings crossing each other's claims on PostgreSQL: one
            // of them is told the slot is taken, as in any lost race.
            Err(error) if is_contention(&error) => {
                return Err(ApiError::SlotUnavailable {
                    alternatives: Vec::new(),
                })
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(true)
}

/// Frees everything a booking holds of practitioners, rooms and places.
pub fn release(conn: &mut DbConnection, reference: &str) -> Result<(), ApiError> {
    let freed: Vec<NaiveDateTime> = each_backend!(conn, c => diesel::delete(
        resource_claims::table.filter(resource_claims::booking_reference.eq(reference)),
    )
    .returning(resource_claims::slot_start)
    .get_results(c))?;
    super::schedule_versions::slots_changed(&freed);
    Ok(())
}

/// Frees everything the waiting-list offers `ids` hold of practitioners,
/// rooms and places.
pub fn release_offers(conn: &mut DbConnection, ids: &[i64]) -> Result<(), ApiError> {
    let freed: Vec<NaiveDateTime> = each_backend!(conn, c => diesel::delete(
        resource_claims::table.filter(resource_claims::offer_id.eq_any(ids)),
    )
    .returning(resource_claims::slot_start)
    .get_results(c))?;
    super::schedule_versions::slots_changed(&freed);
    Ok(())
}

/// Confirmed bookings of `practitioners` starting in `[from, to)`, one
/// practitioner code per booking (for the least booked first).
pub fn practitioner_bookings(
    conn: &mut DbConnection,
    practitioners: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<String>, ApiError> {
    let rows: Vec<Option<String>> = bookings::table
        .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
        .filter(bookings::start_at.ge(from))
        .filter(bookings::start_at.lt(to))
        .filter(bookings::practitioner.eq_any(practitioners))
        .select(bookings::practitioner)
        .load(conn)?;
    Ok(rows.into_iter().flatten().collect())
}

/// Records the practitioner a booking was given (or none).
pub fn set_practitioner(
    conn: &mut DbConnection,
    reference: &str,
    practitioner: Option<&str>,
) -> Result<(), ApiError> {
    diesel::update(bookings::table.find(reference))
        .set(bookings::practitioner.eq(practitioner))
        .execute(conn)?;
    Ok(())
}

/// Resources' time off (closures naming one) overlapping `[from, to)`:
/// (resource, start, end).
pub fn time_off(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<(String, NaiveDateTime, NaiveDateTime)>, ApiError> {
    let rows: Vec<(Option<String>, NaiveDateTime, NaiveDateTime)> = closures::table
        .filter(closures::resource.is_not_null())
        .filter(closures::start_at.lt(to))
        .filter(closures::end_at.gt(from))
        .select((closures::resource, closures::start_at, closures::end_at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(code, start, end)| code.map(|code| (code, start, end)))
        .collect())
}

/// The instant a daily place `place` of `day` is keyed by: the day's
/// first instant (UTC) plus `place` seconds.
pub fn place_key(day_start: NaiveDateTime, place: u32) -> NaiveDateTime {
    day_start + chrono::Duration::seconds(i64::from(place))
}
