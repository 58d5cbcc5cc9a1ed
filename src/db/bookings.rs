//! Bookings and the slot claims that hold their seats.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::deserialize::{FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::prepared::KeepPrepared;
use super::schema::{bookings, slot_claims};
use super::{each_backend, is_contention, DbConnection};
use crate::domain::{BookingStatus, NewBooking, Reference};
use crate::error::ApiError;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bookings, treat_none_as_default_value = false)]
pub struct BookingRow {
    pub reference: String,
    pub manage_token_hash: String,
    pub status: BookingStatus,
    pub type_code: String,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    pub name: String,
    pub name_kana: Option<String>,
    pub email: String,
    pub phone: String,
    pub first_visit: Option<bool>,
    pub message: Option<String>,
    pub source: Option<String>,
    pub staff_note: Option<String>,
    pub consent_at: NaiveDateTime,
    pub consent_version: String,
    pub sequence: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub cancelled_at: Option<NaiveDateTime>,
    /// The practitioner's code, for a type that needs one.
    pub practitioner: Option<String>,
    /// What the cap on active bookings counts by (`domain::mailbox_key`).
    pub mailbox_hash: Option<String>,
}

impl BookingRow {
    pub fn status(&self) -> BookingStatus {
        self.status
    }
}

/// A stored status is read as a `BookingStatus`: a value this version does
/// not know fails the read instead of passing for another status.
impl<DB> Queryable<Text, DB> for BookingStatus
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    type Row = String;

    fn build(stored: String) -> diesel::deserialize::Result<Self> {
        BookingStatus::parse(&stored)
            .ok_or_else(|| format!("unknown booking status {stored:?} in the database").into())
    }
}

impl AsExpression<Text> for BookingStatus {
    type Expression = <&'static str as AsExpression<Text>>::Expression;

    fn as_expression(self) -> Self::Expression {
        <&'static str as AsExpression<Text>>::as_expression(self.as_str())
    }
}

impl AsExpression<Text> for &BookingStatus {
    type Expression = <&'static str as AsExpression<Text>>::Expression;

    fn as_expression(self) -> Self::Expression {
        <&'static str as AsExpression<Text>>::as_expression(self.as_str())
    }
}

/// A new booking's row, under a fresh reference, before it is stored.
pub fn draft(
    booking: &NewBooking,
    manage_token_hash: String,
    consent_version: &str,
    now: NaiveDateTime,
) -> BookingRow {
    let start = booking.start.at();
    let end = start + chrono::Duration::minutes(booking.kind.duration_minutes.into());
    BookingRow {
        reference: Reference::generate().to_string(),
        manage_token_hash,
        status: BookingStatus::Confirmed,
        type_code: booking.kind.code.clone(),
        start_at: start.naive_utc(),
        end_at: end.naive_utc(),
        name: booking.name.as_str().to_string(),
        name_kana: booking.name_kana.as_ref().map(|k| k.as_str().to_string()),
        email: booking.email.as_str().to_string(),
        mailbox_hash: Some(booking.email.mailbox_key()),
        phone: booking.phone.as_str().to_string(),
        first_visit: booking.first_visit,
        message: booking.message.as_ref().map(|m| m.as_str().to_string()),
        source: booking.source.clone(),
        staff_note: None,
        consent_at: now,
        consent_version: consent_version.to_string(),
        sequence: 0,
        created_at: now,
        updated_at: now,
        cancelled_at: None,
        practitioner: None,
    }
}

/// Stores a drafted booking and claims its slots. Its reference is kept
/// unless already taken (rare), in which case a fresh one is tried: the
/// caller sees the change in `row.reference`. Fails with `SlotUnavailable`
/// when a slot it covers is full.
pub fn insert(
    conn: &mut DbConnection,
    row: &mut BookingRow,
    slots: &[NaiveDateTime],
    capacity: u32,
) -> Result<(), ApiError> {
    // A reference already taken inserts nothing (no error, so PostgreSQL
    // needs no savepoint) and the next one is tried.
    let mut attempts = 0;
    loop {
        let inserted = each_backend!(conn, c => diesel::insert_into(bookings::table)
            .values(&*row)
            .on_conflict_do_nothing()
            .execute(c))?;
        if inserted == 1 {
            break;
        }
        attempts += 1;
        if attempts > 5 {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "no free booking reference after {attempts} tries"
            )));
        }
        row.reference = Reference::generate().to_string();
    }
    claim_slots(conn, &row.reference, slots, capacity)
}

/// Claims one free seat (1..=capacity) in each slot. The unique key on
/// (slot_start, seat) makes the database the judge: of two transactions
/// after the same last seat, one inserts and the other inserts nothing
/// (`ON CONFLICT DO NOTHING` waits for the first one's commit, then sees
/// the conflict), tries the next free seat, and finds none.
pub fn claim_slots(
    conn: &mut DbConnection,
    reference: &str,
    slots: &[NaiveDateTime],
    capacity: u32,
) -> Result<(), ApiError> {
    let capacity = i32::try_from(capacity).unwrap_or(i32::MAX);
    for slot in slots {
        if claim_first_free_seat(conn, slot, reference, capacity)?.is_some() {
            super::schedule_versions::changed(*slot, *slot);
            continue;
        }
        let taken: Vec<i32> = slot_claims::table
            .filter(slot_claims::slot_start.eq(slot))
            .select(slot_claims::seat)
            .load(conn)?;
        let mut claimed = false;
        for seat in (1..=capacity).filter(|seat| !taken.contains(seat)) {
            let inserted = each_backend!(conn, c => diesel::insert_into(slot_claims::table)
                .values((
                    slot_claims::slot_start.eq(slot),
                    slot_claims::seat.eq(seat),
                    slot_claims::booking_reference.eq(reference),
                ))
                .on_conflict_do_nothing()
                .execute(c));
            match inserted {
                Ok(1) => {
                    super::schedule_versions::changed(*slot, *slot);
                    claimed = true;
                    break;
                }
                Ok(_) => continue,
                // Two moves crossing each other's seats on PostgreSQL: one
                // of them is told the slot is taken, as in any lost race.
                Err(error) if is_contention(&error) => {
                    return Err(ApiError::SlotUnavailable {
                        alternatives: Vec::new(),
                    })
                }
                Err(error) => return Err(error.into()),
            }
        }
        if !claimed {
            return Err(ApiError::SlotUnavailable {
                alternatives: Vec::new(),
            });
        }
    }
    Ok(())
}

/// PostgreSQL: claims the lowest seat of `slot` free as it reads, in one
/// statement, where reading the seats taken and then inserting are two
/// round trips. `None` (nothing claimed) when none was free or another
/// transaction took the one it chose meanwhile: the caller then reads and
/// tries seat by seat. SQLite, in the process, always does that.
fn claim_first_free_seat(
    conn: &mut DbConnection,
    slot: &NaiveDateTime,
    reference: &str,
    capacity: i32,
) -> Result<Option<i32>, ApiError> {
    use diesel::sql_types::{Integer, Timestamp};
    #[derive(QueryableByName)]
    struct Seat {
        #[diesel(sql_type = Integer)]
        seat: i32,
    }
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(None);
    };
    let claimed: Result<Vec<Seat>, _> = KeepPrepared(
        diesel::sql_query(
            "INSERT INTO slot_claims (slot_start, seat, booking_reference) \
             SELECT $1, free.seat, $2 FROM generate_series(1, $3) AS free(seat) \
             WHERE NOT EXISTS (SELECT 1 FROM slot_claims taken \
                 WHERE taken.slot_start = $1 AND taken.seat = free.seat) \
             ORDER BY free.seat LIMIT 1 \
             ON CONFLICT DO NOTHING RETURNING seat",
        )
        .bind::<Timestamp, _>(slot)
        .bind::<Text, _>(reference)
        .bind::<Integer, _>(capacity),
    )
    .load(pg);
    match claimed {
        Ok(seats) => Ok(seats.first().map(|claimed| claimed.seat)),
        Err(error) if is_contention(&error) => Err(ApiError::SlotUnavailable {
            alternatives: Vec::new(),
        }),
        Err(error) => Err(error.into()),
    }
}

/// Frees every seat, practitioner and room a booking holds.
pub fn release_slots(conn: &mut DbConnection, reference: &str) -> Result<(), ApiError> {
    let freed: Vec<NaiveDateTime> = each_backend!(conn, c => diesel::delete(
        slot_claims::table.filter(slot_claims::booking_reference.eq(reference)),
    )
    .returning(slot_claims::slot_start)
    .get_results(c))?;
    super::schedule_versions::slots_changed(&freed);
    super::resource_claims::release(conn, reference)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, reference: &str) -> Result<Option<BookingRow>, ApiError> {
    Ok(bookings::table
        .find(reference)
        .select(BookingRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// How many seats are taken in each slot starting in `[from, to)`.
pub fn seats_taken(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<(NaiveDateTime, i64)>, ApiError> {
    Ok(slot_claims::table
        .filter(slot_claims::slot_start.ge(from))
        .filter(slot_claims::slot_start.lt(to))
        .group_by(slot_claims::slot_start)
        .select((slot_claims::slot_start, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Marks a booking cancelled and frees its slots.
pub fn cancel(
    conn: &mut DbConnection,
    reference: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    release_slots(conn, reference)?;
    diesel::update(bookings::table.find(reference))
        .set((
            bookings::status.eq(BookingStatus::Cancelled.as_str()),
            bookings::cancelled_at.eq(Some(now)),
            bookings::sequence.eq(bookings::sequence + 1),
            bookings::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Moves a confirmed booking: frees its seats, claims the new slots (failing
/// with `SlotUnavailable`, which rolls the whole move back) and records the
/// new times.
pub fn reschedule(
    conn: &mut DbConnection,
    reference: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
    slots: &[NaiveDateTime],
    capacity: u32,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    release_slots(conn, reference)?;
    claim_slots(conn, reference, slots, capacity)?;
    diesel::update(bookings::table.find(reference))
        .set((
            bookings::start_at.eq(start),
            bookings::end_at.eq(end),
            bookings::sequence.eq(bookings::sequence + 1),
            bookings::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
