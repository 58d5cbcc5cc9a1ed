//! The waiting list: entries, the offers made to them (whose seats are
//! held in `slot_claims` under the offer's id) and the queue of freed time
//! the waitlist worker offers.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{slot_claims, waitlist_entries, waitlist_jobs, waitlist_offers};
use super::{each_backend, is_contention, DbConnection};
use crate::domain::{Reference, WaitlistStatus};
use crate::error::ApiError;

/// What an offer comes to: `held` while its seats are held; `accepted`
/// (booked), `lapsed` (its hold ran out) or `withdrawn` (the entry left the
/// list, or was erased) after.
pub mod offer_status {
    pub const HELD: &str = "held";
    pub const ACCEPTED: &str = "accepted";
    pub const LAPSED: &str = "lapsed";
    pub const WITHDRAWN: &str = "withdrawn";
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = waitlist_entries, treat_none_as_default_value = false)]
pub struct EntryRow {
    pub reference: String,
    pub manage_token_hash: String,
    pub status: String,
    pub type_code: String,
    pub wanted_date: NaiveDate,
    pub from_time: Option<String>,
    pub to_time: Option<String>,
    pub practitioner: Option<String>,
    pub name: String,
    pub name_kana: Option<String>,
    pub email: String,
    pub phone: String,
    pub mailbox_hash: Option<String>,
    pub consent_at: NaiveDateTime,
    pub consent_version: String,
    pub offers_made: i32,
    pub booking_reference: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl EntryRow {
    /// The stored status (an unknown one reads as `expired`: never offered).
    pub fn status(&self) -> WaitlistStatus {
        WaitlistStatus::parse(&self.status).unwrap_or(WaitlistStatus::Expired)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = waitlist_offers)]
pub struct OfferRow {
    pub id: i64,
    pub entry_reference: String,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    pub status: String,
    pub token_hash: String,
    pub offered_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = waitlist_jobs)]
pub struct JobRow {
    pub id: i64,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    pub due_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

/// Stores a new entry, under a fresh reference if its own is taken.
pub fn insert_entry(conn: &mut DbConnection, row: &mut EntryRow) -> Result<(), ApiError> {
    for _ in 0..6 {
        let inserted = each_backend!(conn, c => diesel::insert_into(waitlist_entries::table)
            .values(&*row)
            .on_conflict_do_nothing()
            .execute(c))?;
        if inserted == 1 {
            return Ok(());
        }
        row.reference = Reference::generate().to_string();
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "no free waiting-list reference"
    )))
}

pub fn find_entry(conn: &mut DbConnection, reference: &str) -> Result<Option<EntryRow>, ApiError> {
    Ok(waitlist_entries::table
        .find(reference)
        .select(EntryRow::as_select())
        .get_result(conn)
        .optional()?)
}

pub fn set_entry_status(
    conn: &mut DbConnection,
    reference: &str,
    status: WaitlistStatus,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(waitlist_entries::table.find(reference))
        .set((
            waitlist_entries::status.eq(status.as_str()),
            waitlist_entries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records an offer made to `reference` (`offered`, one more offer).
pub fn mark_offered(
    conn: &mut DbConnection,
    reference: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(waitlist_entries::table.find(reference))
        .set((
            waitlist_entries::status.eq(WaitlistStatus::Offered.as_str()),
            waitlist_entries::offers_made.eq(waitlist_entries::offers_made + 1),
            waitlist_entries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn mark_booked(
    conn: &mut DbConnection,
    reference: &str,
    booking: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(waitlist_entries::table.find(reference))
        .set((
            waitlist_entries::status.eq(WaitlistStatus::Booked.as_str()),
            waitlist_entries::booking_reference.eq(Some(booking)),
            waitlist_entries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Entries still waiting for a seat on `date`, first come first.
pub fn waiting_on(conn: &mut DbConnection, date: NaiveDate) -> Result<Vec<EntryRow>, ApiError> {
    Ok(waitlist_entries::table
        .filter(waitlist_entries::wanted_date.eq(date))
        .filter(waitlist_entries::status.eq(WaitlistStatus::Waiting.as_str()))
        .order((
            waitlist_entries::created_at.asc(),
            waitlist_entries::reference.asc(),
        ))
        .select(EntryRow::as_select())
        .load(conn)?)
}

/// Whether anyone waits for a seat on a day from `first` to `last`.
pub fn anyone_waiting_between(
    conn: &mut DbConnection,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<bool, ApiError> {
    let found: Option<String> = waitlist_entries::table
        .filter(waitlist_entries::wanted_date.between(first, last))
        .filter(waitlist_entries::status.eq(WaitlistStatus::Waiting.as_str()))
        .select(waitlist_entries::reference)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// The dates from `from` on that someone is waiting for, earliest first.
pub fn waited_dates_from(
    conn: &mut DbConnection,
    from: NaiveDate,
) -> Result<Vec<NaiveDate>, ApiError> {
    Ok(waitlist_entries::table
        .filter(waitlist_entries::wanted_date.ge(from))
        .filter(waitlist_entries::status.eq(WaitlistStatus::Waiting.as_str()))
        .select(waitlist_entries::wanted_date)
        .distinct()
        .order(waitlist_entries::wanted_date.asc())
        .load(conn)?)
}

/// Every entry for `date`, in the order they joined.
pub fn entries_on(conn: &mut DbConnection, date: NaiveDate) -> Result<Vec<EntryRow>, ApiError> {
    Ok(waitlist_entries::table
        .filter(waitlist_entries::wanted_date.eq(date))
        .order((
            waitlist_entries::created_at.asc(),
            waitlist_entries::reference.asc(),
        ))
        .select(EntryRow::as_select())
        .load(conn)?)
}

/// Entries of one mailbox (`domain::mailbox_key`).
pub fn entries_of_mailbox(
    conn: &mut DbConnection,
    mailbox_hash: &str,
) -> Result<Vec<String>, ApiError> {
    Ok(waitlist_entries::table
        .filter(waitlist_entries::mailbox_hash.eq(mailbox_hash))
        .select(waitlist_entries::reference)
        .load(conn)?)
}

/// Entries whose day is before `today`.
pub fn entries_before(
    conn: &mut DbConnection,
    today: NaiveDate,
    limit: i64,
) -> Result<Vec<String>, ApiError> {
    Ok(waitlist_entries::table
        .filter(waitlist_entries::wanted_date.lt(today))
        .select(waitlist_entries::reference)
        .limit(limit)
        .load(conn)?)
}

/// Deletes an entry with its offers and their holds (they cascade).
pub fn delete_entry(conn: &mut DbConnection, reference: &str) -> Result<usize, ApiError> {
    let offers: Vec<i64> = waitlist_offers::table
        .filter(waitlist_offers::entry_reference.eq(reference))
        .select(waitlist_offers::id)
        .load(conn)?;
    release_holds(conn, &offers)?;
    diesel::delete(waitlist_offers::table.filter(waitlist_offers::entry_reference.eq(reference)))
        .execute(conn)?;
    Ok(diesel::delete(waitlist_entries::table.find(reference)).execute(conn)?)
}

/// Waiting or offered entries of a day that has passed: `expired`.
pub fn expire_past(
    conn: &mut DbConnection,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    Ok(diesel::update(
        waitlist_entries::table
            .filter(waitlist_entries::wanted_date.lt(today))
            .filter(waitlist_entries::status.eq(WaitlistStatus::Waiting.as_str())),
    )
    .set((
        waitlist_entries::status.eq(WaitlistStatus::Expired.as_str()),
        waitlist_entries::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// A new offer's row (its seats are held next, by `hold_seats`).
pub fn insert_offer(
    conn: &mut DbConnection,
    entry: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
    token_hash: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<i64, ApiError> {
    let values = (
        waitlist_offers::entry_reference.eq(entry),
        waitlist_offers::start_at.eq(start),
        waitlist_offers::end_at.eq(end),
        waitlist_offers::status.eq(offer_status::HELD),
        waitlist_offers::token_hash.eq(token_hash),
        waitlist_offers::offered_at.eq(now),
        waitlist_offers::expires_at.eq(expires_at),
    );
    Ok(
        each_backend!(conn, c => diesel::insert_into(waitlist_offers::table)
        .values(values)
        .returning(waitlist_offers::id)
        .get_result(c))?,
    )
}

/// Deletes an offer that could not hold its seats.
pub fn delete_offer(conn: &mut DbConnection, id: i64) -> Result<(), ApiError> {
    release_holds(conn, &[id])?;
    diesel::delete(waitlist_offers::table.find(id)).execute(conn)?;
    Ok(())
}

/// Frees the seats, practitioners, rooms and places the offers `ids` hold.
fn release_holds(conn: &mut DbConnection, ids: &[i64]) -> Result<(), ApiError> {
    super::resource_claims::release_offers(conn, ids)?;
    let freed: Vec<NaiveDateTime> = each_backend!(conn, c => diesel::delete(
        slot_claims::table.filter(slot_claims::offer_id.eq_any(ids)),
    )
    .returning(slot_claims::slot_start)
    .get_results(c))?;
    super::schedule_versions::slots_changed(&freed);
    Ok(())
}

/// Holds one free seat (1..=capacity) in each of `slots` for offer `id`,
/// under the same unique key as a booking's claims (`bookings::claim_slots`):
/// `false` when a slot has none free (some may be held: the caller deletes
/// the offer, which frees them).
pub fn hold_seats(
    conn: &mut DbConnection,
    id: i64,
    slots: &[NaiveDateTime],
    capacity: u32,
) -> Result<bool, ApiError> {
    let capacity = i32::try_from(capacity).unwrap_or(i32::MAX);
    for slot in slots {
        let taken: Vec<i32> = slot_claims::table
            .filter(slot_claims::slot_start.eq(slot))
            .select(slot_claims::seat)
            .load(conn)?;
        let mut held = false;
        for seat in (1..=capacity).filter(|seat| !taken.contains(seat)) {
            let inserted = each_backend!(conn, c => diesel::insert_into(slot_claims::table)
                .values((
                    slot_claims::slot_start.eq(slot),
                    slot_claims::seat.eq(seat),
                    slot_claims::offer_id.eq(Some(id)),
                ))
                .on_conflict_do_nothing()
                .execute(c));
            match inserted {
                Ok(1) => {
                    super::schedule_versions::changed(*slot, *slot);
                    held = true;
                    break;
                }
                Ok(_) => continue,
                Err(error) if is_contention(&error) => return Ok(false),
                Err(error) => return Err(error.into()),
            }
        }
        if !held {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The offer now holding seats for `entry`, if any.
pub fn held_offer_of(conn: &mut DbConnection, entry: &str) -> Result<Option<OfferRow>, ApiError> {
    Ok(waitlist_offers::table
        .filter(waitlist_offers::entry_reference.eq(entry))
        .filter(waitlist_offers::status.eq(offer_status::HELD))
        .select(OfferRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every offer made to `entry`, latest first.
pub fn offers_of(conn: &mut DbConnection, entry: &str) -> Result<Vec<OfferRow>, ApiError> {
    Ok(waitlist_offers::table
        .filter(waitlist_offers::entry_reference.eq(entry))
        .order(waitlist_offers::id.desc())
        .select(OfferRow::as_select())
        .load(conn)?)
}

/// Ends a held offer (`to`: accepted, lapsed or withdrawn) and frees its
/// seats; `false` when it was no longer held (another instance ended it).
pub fn close_offer(
    conn: &mut DbConnection,
    id: i64,
    to: &str,
    now: NaiveDateTime,
) -> Result<bool, ApiError> {
    let closed = diesel::update(
        waitlist_offers::table
            .find(id)
            .filter(waitlist_offers::status.eq(offer_status::HELD)),
    )
    .set((
        waitlist_offers::status.eq(to),
        waitlist_offers::closed_at.eq(Some(now)),
    ))
    .execute(conn)?;
    release_holds(conn, &[id])?;
    Ok(closed == 1)
}

/// Held offers whose hold ended by `now`.
pub fn lapsed(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<OfferRow>, ApiError> {
    Ok(waitlist_offers::table
        .filter(waitlist_offers::status.eq(offer_status::HELD))
        .filter(waitlist_offers::expires_at.le(now))
        .order(waitlist_offers::expires_at.asc())
        .limit(limit)
        .select(OfferRow::as_select())
        .load(conn)?)
}

/// Queues freed time `[start, end)` to offer from `due`.
pub fn queue_job(
    conn: &mut DbConnection,
    start: NaiveDateTime,
    end: NaiveDateTime,
    due: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::insert_into(waitlist_jobs::table)
        .values((
            waitlist_jobs::start_at.eq(start),
            waitlist_jobs::end_at.eq(end),
            waitlist_jobs::due_at.eq(due),
            waitlist_jobs::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn due_jobs(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<JobRow>, ApiError> {
    Ok(waitlist_jobs::table
        .filter(waitlist_jobs::due_at.le(now))
        .order(waitlist_jobs::id.asc())
        .limit(limit)
        .select(JobRow::as_select())
        .load(conn)?)
}

/// Takes job `id` off the queue: `false` when another instance took it (on
/// PostgreSQL the second delete waits for the first one's commit and then
/// finds nothing).
pub fn take_job(conn: &mut DbConnection, id: i64) -> Result<bool, ApiError> {
    Ok(diesel::delete(waitlist_jobs::table.find(id)).execute(conn)? == 1)
}
