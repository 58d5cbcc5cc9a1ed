//! Webhook deliveries: one row per (event, receiver), written in the
//! transaction of the change, claimed and posted by the webhook worker of
//! any instance (a lease, as the mail outbox has), listed and retried by
//! staff.

use chrono::NaiveDateTime;
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::schema::webhook_deliveries as deliveries;
use super::DbConnection;
use crate::error::ApiError;

/// Where a delivery stands: `pending` until a receiver answered 2xx
/// (`delivered`) or its retries ran out (`failed`).
pub mod status {
    pub const PENDING: &str = "pending";
    pub const DELIVERED: &str = "delivered";
    pub const FAILED: &str = "failed";

    pub const ALL: [&str; 3] = [PENDING, DELIVERED, FAILED];
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: String,
    pub event_type: String,
    pub reference: String,
    pub url: String,
    pub body: String,
    pub personal_data: bool,
    pub status: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: NaiveDateTime,
    pub retry_until: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub lease_owner: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = deliveries, treat_none_as_default_value = false)]
pub struct NewDelivery {
    pub webhook_id: String,
    pub event_type: String,
    pub reference: String,
    pub url: String,
    pub body: String,
    pub personal_data: bool,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub retry_until: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Stores deliveries, in the order given (their ids follow it, which is
/// the order they are delivered in for one booking and receiver).
pub fn insert_all(conn: &mut DbConnection, rows: &[NewDelivery]) -> Result<(), ApiError> {
    for row in rows {
        diesel::insert_into(deliveries::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

diesel::alias!(deliveries as earlier: Earlier);

/// Up to `limit` deliveries that may be attempted now, soonest due first:
/// pending, due, not leased, and (the order rule) with no earlier delivery
/// of the same booking or inquiry to the same receiver still pending:
/// event N+1 waits until N was delivered (or failed for good). The rule is
/// in the query, so that the waiting ones never crowd out others.
macro_rules! attemptable {
    ($now:expr, $limit:expr) => {
        deliveries::table
            .filter(deliveries::status.eq(status::PENDING))
            .filter(deliveries::next_attempt_at.le($now))
            .filter(
                deliveries::locked_until
                    .is_null()
                    .or(deliveries::locked_until.lt($now)),
            )
            .filter(not(exists(
                earlier
                    .filter(
                        earlier
                            .field(deliveries::reference)
                            .eq(deliveries::reference),
                    )
                    .filter(earlier.field(deliveries::url).eq(deliveries::url))
                    .filter(earlier.field(deliveries::status).eq(status::PENDING))
                    .filter(earlier.field(deliveries::id).lt(deliveries::id)),
            )))
            .order((deliveries::next_attempt_at.asc(), deliveries::id.asc()))
            .select(deliveries::id)
            .limit($limit)
    };
}

/// Whether any delivery may be attempted now (a read, so that idle
/// workers write nothing).
pub fn has_due(conn: &mut DbConnection, now: NaiveDateTime) -> Result<bool, ApiError> {
    let due: Vec<i64> = attemptable!(now, 1).load(conn)?;
    Ok(!due.is_empty())
}

/// Claims the delivery due soonest for `owner` until `lease_until`
/// (`None`: nothing is due, or others hold it). On PostgreSQL the
/// candidate is locked as it is read (`FOR UPDATE SKIP LOCKED`), so an
/// instance claiming at the same moment takes another; the UPDATE checks
/// again that it is pending and free.
pub fn claim(
    conn: &mut DbConnection,
    owner: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> Result<Option<DeliveryRow>, ApiError> {
    let candidates: Vec<i64> = match conn {
        DbConnection::Postgresql(pg) => attemptable!(now, 1).for_update().skip_locked().load(pg)?,
        DbConnection::Sqlite(sqlite) => attemptable!(now, 1).load(sqlite)?,
    };
    let Some(id) = candidates.first().copied() else {
        return Ok(None);
    };
    let claimed: Vec<DeliveryRow> = super::each_backend!(conn, c => diesel::update(
        deliveries::table
            .filter(deliveries::id.eq(id))
            .filter(deliveries::status.eq(status::PENDING))
            .filter(
                deliveries::locked_until
                    .is_null()
                    .or(deliveries::locked_until.lt(now)),
            ),
    )
    .set((
        deliveries::locked_until.eq(Some(lease_until)),
        deliveries::lease_owner.eq(Some(owner)),
    ))
    .returning(DeliveryRow::as_returning())
    .get_results(c))?;
    Ok(claimed.into_iter().next())
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The receiver answered 2xx.
    Delivered { status: i32 },
    /// Anything else; tried again at `at`.
    Retry {
        at: NaiveDateTime,
        status: Option<i32>,
        error: String,
    },
    /// Anything else, and its retries have run out (or its receiver is no
    /// longer configured).
    Failed { status: Option<i32>, error: String },
}

/// Records an attempt on a delivery `owner` holds; `false` when the lease
/// was lost meanwhile (it expired and another worker took it over, or
/// staff asked for it to be sent again while it was in flight).
pub fn record(
    conn: &mut DbConnection,
    id: i64,
    owner: &str,
    outcome: &Outcome,
    now: NaiveDateTime,
) -> Result<bool, ApiError> {
    let mine = deliveries::table
        .filter(deliveries::id.eq(id))
        .filter(deliveries::lease_owner.eq(owner))
        .filter(deliveries::status.eq(status::PENDING));
    let release = (
        deliveries::attempts.eq(deliveries::attempts + 1),
        deliveries::locked_until.eq(None::<NaiveDateTime>),
        deliveries::lease_owner.eq(None::<String>),
        deliveries::updated_at.eq(now),
    );
    let updated = match outcome {
        Outcome::Delivered { status: answer } => diesel::update(mine)
            .set((
                deliveries::status.eq(status::DELIVERED),
                deliveries::last_status.eq(Some(*answer)),
                deliveries::last_error.eq(None::<String>),
                deliveries::delivered_at.eq(Some(now)),
                release,
            ))
            .execute(conn)?,
        Outcome::Retry {
            at,
            status: answer,
            error,
        } => diesel::update(mine)
            .set((
                deliveries::next_attempt_at.eq(at),
                deliveries::last_status.eq(answer),
                deliveries::last_error.eq(Some(error)),
                release,
            ))
            .execute(conn)?,
        Outcome::Failed {
            status: answer,
            error,
        } => diesel::update(mine)
            .set((
                deliveries::status.eq(status::FAILED),
                deliveries::last_status.eq(answer),
                deliveries::last_error.eq(Some(error)),
                release,
            ))
            .execute(conn)?,
    };
    Ok(updated == 1)
}

/// Staff ask for a delivery to be sent again (whatever its status): it is
/// pending at once, with a new retry window, and taken from any worker
/// holding it (that worker's outcome is not recorded). `false`: no such
/// delivery.
pub fn retry(
    conn: &mut DbConnection,
    id: i64,
    now: NaiveDateTime,
    retry_until: NaiveDateTime,
) -> Result<bool, ApiError> {
    let updated = diesel::update(deliveries::table.find(id))
        .set((
            deliveries::status.eq(status::PENDING),
            deliveries::next_attempt_at.eq(now),
            deliveries::retry_until.eq(retry_until),
            deliveries::locked_until.eq(None::<NaiveDateTime>),
            deliveries::lease_owner.eq(None::<String>),
            deliveries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

pub fn find(conn: &mut DbConnection, id: i64) -> Result<Option<DeliveryRow>, ApiError> {
    Ok(deliveries::table
        .find(id)
        .select(DeliveryRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Deliveries for staff, newest first, optionally of one status, below
/// the delivery `before` (an id): the pages of the staff list.
pub fn page(
    conn: &mut DbConnection,
    wanted: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, ApiError> {
    let mut query = deliveries::table
        .select(DeliveryRow::as_select())
        .order(deliveries::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(wanted) = wanted {
        query = query.filter(deliveries::status.eq(wanted.to_string()));
    }
    if let Some(before) = before {
        query = query.filter(deliveries::id.lt(before));
    }
    Ok(query.load(conn)?)
}

/// The deliveries of one booking or inquiry that carry personal data:
/// (id, body).
pub fn with_personal_data(
    conn: &mut DbConnection,
    reference: &str,
) -> Result<Vec<(i64, String)>, ApiError> {
    Ok(deliveries::table
        .filter(deliveries::reference.eq(reference))
        .filter(deliveries::personal_data.eq(true))
        .select((deliveries::id, deliveries::body))
        .load(conn)?)
}

/// Replaces a delivery's body with one that carries no personal data.
pub fn set_body_without_personal_data(
    conn: &mut DbConnection,
    id: i64,
    body: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(deliveries::table.find(id))
        .set((
            deliveries::body.eq(body),
            deliveries::personal_data.eq(false),
            deliveries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes every delivery of one booking or inquiry; how many.
pub fn delete_for_reference(conn: &mut DbConnection, reference: &str) -> Result<usize, ApiError> {
    Ok(
        diesel::delete(deliveries::table.filter(deliveries::reference.eq(reference)))
            .execute(conn)?,
    )
}
