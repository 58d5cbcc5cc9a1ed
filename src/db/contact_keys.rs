//! What the limits on one person count by: each booking's `mailbox_hash`
//! and the `recipient_key` of each patient message the mail cap counts
//! (`domain::mailbox_key`), the bookings one patient holds, and the lock
//! that keeps two of their bookings from being counted at the same time.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::Integer;

use super::outbox::kind as outbox_kind;
use super::schema::{bookings, outbox};
use super::DbConnection;
use crate::domain::{mailbox_key, BookingStatus};
use crate::error::ApiError;

/// One patient's bookings as a new one is about to be made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactHistory {
    /// Confirmed bookings that start after `now`, by reference.
    pub active: Vec<String>,
    /// Bookings made since `since`, whatever has become of them.
    pub recent: usize,
}

/// The bookings whose mailbox is `mailbox_hash` (or, when given, whose phone
/// is `phone`): which are confirmed and still ahead, and how many were
/// made since `since`.
pub fn history(
    conn: &mut DbConnection,
    mailbox_hash: &str,
    phone: Option<&str>,
    now: NaiveDateTime,
    since: NaiveDateTime,
) -> Result<ContactHistory, ApiError> {
    type Seen = (String, String, NaiveDateTime, NaiveDateTime);
    let columns = (
        bookings::reference,
        bookings::status,
        bookings::start_at,
        bookings::created_at,
    );
    let mut rows: Vec<Seen> = bookings::table
        .filter(bookings::mailbox_hash.eq(mailbox_hash))
        .filter(
            bookings::start_at
                .gt(now)
                .or(bookings::created_at.ge(since)),
        )
        .select(columns)
        .load(conn)?;
    // Two queries rather than one with OR, so each reads its own index; a
    // booking found by both counts once.
    if let Some(phone) = phone {
        let by_phone: Vec<Seen> = bookings::table
            .filter(bookings::phone.eq(phone))
            .filter(
                bookings::start_at
                    .gt(now)
                    .or(bookings::created_at.ge(since)),
            )
            .select(columns)
            .load(conn)?;
        for row in by_phone {
            if !rows.iter().any(|seen| seen.0 == row.0) {
                rows.push(row);
            }
        }
    }
    let confirmed = BookingStatus::Confirmed.as_str();
    Ok(ContactHistory {
        active: rows
            .iter()
            .filter(|(_, status, start_at, _)| status == confirmed && *start_at > now)
            .map(|(reference, ..)| reference.clone())
            .collect(),
        recent: rows
            .iter()
            .filter(|(.., created_at)| *created_at >= since)
            .count(),
    })
}

/// Lock classes for `pg_advisory_xact_lock(class, key)`: one per kind of
/// key, so a mailbox and a phone number never share a lock.
const MAILBOX_LOCK_CLASS: i32 = 0x6d62_6f78;
const PHONE_LOCK_CLASS: i32 = 0x7068_6e65;

/// Holds, until the transaction ends, the lock of one patient's mailbox
/// (and phone): on PostgreSQL two instances could otherwise both count two
/// bookings and both make a third and a fourth. Taken in one order
/// (mailbox, then phone), so two bookings never wait for each other. SQLite
/// needs none: its one writer makes every booking in turn.
pub fn lock(
    conn: &mut DbConnection,
    mailbox_hash: &str,
    phone: Option<&str>,
) -> Result<(), ApiError> {
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(());
    };
    let mut keys = vec![(MAILBOX_LOCK_CLASS, lock_key(mailbox_hash))];
    keys.extend(phone.map(|phone| (PHONE_LOCK_CLASS, lock_key(phone))));
    for (class, key) in keys {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<Integer, _>(class)
            .bind::<Integer, _>(key)
            .execute(pg)?;
    }
    Ok(())
}

/// 32 bits of `text`: two patients sharing a lock only wait for each other.
fn lock_key(text: &str) -> i32 {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Rows written before these keys existed get theirs: the bookings still
/// ahead (only they are counted by the cap) and the patients' messages of
/// the last hour other than reminders (only they are counted by the mail
/// cap: `outbox::Kept::of`). Idempotent, and cheap once done, so every
/// instance runs it at start-up. Returns how many rows it keyed.
pub fn backfill(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, ApiError> {
    let unkeyed: Vec<(String, String)> = bookings::table
        .filter(bookings::mailbox_hash.is_null())
        .filter(bookings::email.ne(""))
        .filter(bookings::start_at.gt(now))
        .select((bookings::reference, bookings::email))
        .load(conn)?;
    let mut keyed = 0;
    for (reference, email) in unkeyed {
        keyed += diesel::update(bookings::table.find(reference))
            .set(bookings::mailbox_hash.eq(mailbox_key(&email)))
            .execute(conn)?;
    }
    let messages: Vec<(i64, String)> = outbox::table
        .filter(outbox::recipient_key.is_null())
        .filter(outbox::audience.eq("patient"))
        .filter(outbox::kind.ne(outbox_kind::BOOKING_REMINDER))
        .filter(outbox::created_at.ge(now - Duration::hours(1)))
        .select((outbox::id, outbox::recipient))
        .load(conn)?;
    for (id, recipient) in messages {
        keyed += diesel::update(outbox::table.find(id))
            .set(outbox::recipient_key.eq(mailbox_key(&recipient)))
            .execute(conn)?;
    }
    Ok(keyed)
}
