//! The waiting list (キャンセル待ち): joining and leaving, the offer of a
//! freed seat to the earliest matching entry, the hold that keeps it for
//! that entry alone, accepting it as a booking, and the worker that makes
//! offers and passes lapsed ones on.
//!
//! A freed seat is queued as a job (`db::waitlist::queue_job`) in the very
//! transaction that frees it; each instance's `WaitlistWorker` takes jobs
//! one transaction each (deleting the job first, so two instances never do
//! one twice and a dying instance leaves it for another), and an offer's
//! seats are claimed in `slot_claims` (its practitioner, room and daily
//! place in `resource_claims`) under the offer's id, so the database
//! itself refuses anybody else that time while it is held.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::db::outbox::kind;
use crate::db::resource_claims::Holder;
use crate::db::waitlist::{self as store, offer_status, EntryRow, JobRow, OfferRow};
use crate::db::DbConnection;
use crate::domain::{
    is_token_shaped, token_matches, Booker, EmailAddress, Fields, ManageToken, NameKana,
    NewBooking, NewWaitlistEntry, PatientName, PhoneNumber, Reference, SlotStart, WaitlistStatus,
};
use crate::error::ApiError;
use crate::schedule::availability::{rfc3339, utc_range};
use crate::schedule::ConsultationType;
use crate::state::AppState;
use crate::webhooks::event;
use crate::workflows::audit::{audit, Actor};
use crate::workflows::booking::{self, Booked};
use crate::workflows::outbox::enqueue_patient_message;
use crate::workflows::resources;

/// How many jobs or lapsed offers one pass of the worker takes.
const BATCH: i64 = 20;

fn render_error(error: askama::Error) -> ApiError {
    ApiError::Internal(anyhow::anyhow!(
        "cannot render a waiting-list email: {error}"
    ))
}

/// A stored entry and the manage token its patient was given (shown once).
pub struct Joined {
    pub row: EntryRow,
    pub manage_token: ManageToken,
}

/// Adds `entry` to the list and mails the acknowledgement with its manage
/// link. A named practitioner must take the type (`invalid_practitioner`).
pub fn join(
    conn: &mut DbConnection,
    state: &AppState,
    entry: &NewWaitlistEntry,
    now: DateTime<Utc>,
) -> Result<Joined, ApiError> {
    let practitioner =
        resources::named_practitioner(state, &entry.kind, entry.practitioner.as_deref())?;
    let manage_token = ManageToken::generate();
    let time = |t: Option<NaiveTime>| t.map(|t| t.format("%H:%M").to_string());
    let mut row = EntryRow {
        reference: Reference::generate().to_string(),
        manage_token_hash: manage_token.hash(),
        status: WaitlistStatus::Waiting.as_str().to_string(),
        type_code: entry.kind.code.clone(),
        wanted_date: entry.date,
        from_time: time(entry.from),
        to_time: time(entry.to),
        practitioner,
        name: entry.name.as_str().to_string(),
        name_kana: entry.name_kana.as_ref().map(|k| k.as_str().to_string()),
        email: entry.email.as_str().to_string(),
        phone: entry.phone.as_str().to_string(),
        mailbox_hash: Some(entry.email.mailbox_key()),
        consent_at: now.naive_utc(),
        consent_version: state.settings.privacy.notice_version.clone(),
        offers_made: 0,
        booking_reference: None,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
    };
    store::insert_entry(conn, &mut row)?;
    audit(
        conn,
        &Actor::Patient,
        "waitlist.joined",
        &row.reference,
        None,
        now,
    )?;
    let url = state.waitlist_url(&row.reference, manage_token.expose());
    let mail = crate::mail::waitlist::joined(&state.settings, &state.calendar, &row, &url)
        .map_err(render_error)?;
    enqueue_patient_message(
        conn,
        state,
        kind::WAITLIST_JOINED,
        &row.reference,
        &row.email,
        mail,
        now,
    )?;
    tracing::info!(reference = %row.reference, "waiting-list entry added");
    Ok(Joined { row, manage_token })
}

/// The entry a reference and token open: the entry's manage token, or the
/// token of an offer made to it (the offer email's link). Anything wrong is
/// the same 404, as with bookings.
pub fn find_with_token(
    conn: &mut DbConnection,
    reference: &str,
    tokens: &[String],
) -> Result<EntryRow, ApiError> {
    let reference = Reference::parse(reference).ok_or(ApiError::NotFound)?;
    let tokens: Vec<&String> = tokens.iter().filter(|t| is_token_shaped(t)).collect();
    if tokens.is_empty() {
        return Err(ApiError::NotFound);
    }
    let row = store::find_entry(conn, reference.as_str())?.ok_or(ApiError::NotFound)?;
    let offers = store::offers_of(conn, &row.reference)?;
    let opens = |token: &String| {
        token_matches(token, &row.manage_token_hash)
            || offers
                .iter()
                .any(|offer| token_matches(token, &offer.token_hash))
    };
    if tokens.into_iter().any(opens) {
        Ok(row)
    } else {
        Err(ApiError::NotFound)
    }
}

/// An entry as its patient or the reception sees it.
pub struct EntryView {
    pub row: EntryRow,
    /// The offer now held for it (`offered`).
    pub offer: Option<OfferRow>,
}

pub fn view(conn: &mut DbConnection, row: EntryRow) -> Result<EntryView, ApiError> {
    let offer = store::held_offer_of(conn, &row.reference)?;
    Ok(EntryView { row, offer })
}

/// The patient leaves the list. An offer held for them is withdrawn and
/// its seat passed on at once. Leaving twice changes nothing; an entry
/// that was booked or has expired cannot leave (`invalid_status`).
pub fn leave(
    conn: &mut DbConnection,
    row: EntryRow,
    now: DateTime<Utc>,
) -> Result<EntryRow, ApiError> {
    match row.status() {
        WaitlistStatus::Cancelled => return Ok(row),
        WaitlistStatus::Booked | WaitlistStatus::Expired => {
            return Err(ApiError::Conflict {
                field: "status",
                code: "invalid_status",
            })
        }
        WaitlistStatus::Waiting | WaitlistStatus::Offered => {}
    }
    if let Some(offer) = store::held_offer_of(conn, &row.reference)? {
        pass_on(conn, &offer, offer_status::WITHDRAWN, now)?;
    }
    store::set_entry_status(
        conn,
        &row.reference,
        WaitlistStatus::Cancelled,
        now.naive_utc(),
    )?;
    audit(
        conn,
        &Actor::Patient,
        "waitlist.left",
        &row.reference,
        None,
        now,
    )?;
    tracing::info!(reference = %row.reference, "waiting-list entry left");
    store::find_entry(conn, &row.reference)?.ok_or(ApiError::NotFound)
}

/// Ends a held offer and queues its time for the next entry.
fn pass_on(
    conn: &mut DbConnection,
    offer: &OfferRow,
    to: &str,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    if !store::close_offer(conn, offer.id, to, now.naive_utc())? {
        return Ok(false);
    }
    seat_freed(conn, offer.start_at, offer.end_at, now)?;
    Ok(true)
}

/// Books the seat held for `row` (one transaction): the hold is released
/// and the seat claimed by the new booking at once, so nobody can come
/// between. No held offer, or one whose hold has ended, is 409
/// `offer_expired`.
pub fn accept(
    conn: &mut DbConnection,
    state: &AppState,
    row: EntryRow,
    now: DateTime<Utc>,
) -> Result<Booked, ApiError> {
    let expired = ApiError::Conflict {
        field: "offer",
        code: "offer_expired",
    };
    let offer = match store::held_offer_of(conn, &row.reference)? {
        Some(offer) if offer.expires_at > now.naive_utc() => offer,
        _ => return Err(expired),
    };
    let kind = state
        .calendar
        .consultation_type(&row.type_code)
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("type {} is gone", row.type_code)))?;
    let new_booking = booking_of(state, &row, &kind, offer.start_at, now)?;
    store::close_offer(conn, offer.id, offer_status::ACCEPTED, now.naive_utc())?;
    let prepared = booking::prepare(state, &new_booking, now)?;
    let booked = booking::book(conn, state, &new_booking, prepared, now)?;
    store::mark_booked(conn, &row.reference, &booked.row.reference, now.naive_utc())?;
    let detail = json!({"booking": booked.row.reference});
    audit(
        conn,
        &Actor::Patient,
        "waitlist.booked",
        &row.reference,
        Some(&detail),
        now,
    )?;
    tracing::info!(reference = %row.reference, booking = %booked.row.reference, "waiting-list offer accepted");
    Ok(booked)
}

/// The booking request an entry makes at `start` (its stored contact data
/// was parsed when it joined, and is parsed again as any request is).
fn booking_of(
    state: &AppState,
    row: &EntryRow,
    kind: &ConsultationType,
    start: NaiveDateTime,
    now: DateTime<Utc>,
) -> Result<NewBooking, ApiError> {
    let invalid = |error: crate::domain::FieldError| ApiError::Validation(vec![error]);
    let start = state.calendar.local(start);
    // The offer was made within the rules; its notice is the hold itself.
    let start = SlotStart::parse(
        Some(rfc3339(start)),
        kind,
        &state.calendar,
        now,
        Booker::Staff,
    )
    .map_err(invalid)?;
    Ok(NewBooking {
        name: PatientName::parse("name", &row.name).map_err(invalid)?,
        name_kana: row
            .name_kana
            .as_deref()
            .map(|kana| NameKana::parse("name_kana", kana))
            .transpose()
            .map_err(invalid)?,
        email: EmailAddress::parse("email", &row.email).map_err(invalid)?,
        phone: PhoneNumber::parse("phone", &row.phone).map_err(invalid)?,
        kind: kind.clone(),
        start,
        first_visit: None,
        message: None,
        source: Some("waitlist".to_string()),
        practitioner: row.practitioner.clone(),
        // Asked afterwards through the manage link, like any booking made
        // without them.
        answers: None,
    })
}

/// Rule: time freed on a day someone waits for (a cancellation, a move
/// away, a closure removed, a hold that ended) is queued, in the freeing
/// transaction, to be offered by the waitlist worker.
pub fn seat_freed(
    conn: &mut DbConnection,
    start: NaiveDateTime,
    end: NaiveDateTime,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    // The clinic days of a UTC stretch lie within a day of its UTC dates
    // (the worker matches them exactly).
    let first = start.date() - Duration::days(1);
    let last = end.date() + Duration::days(1);
    if store::anyone_waiting_between(conn, first, last)? {
        store::queue_job(conn, start, end, now.naive_utc(), now.naive_utc())?;
    }
    Ok(())
}

/// Rule: when an instance starts, every day someone waits for is queued
/// to be looked at again, so that seats its configuration added while it
/// was down (capacity raised, hours extended, a day off removed) are
/// offered as freed seats are. A day with no seat free offers nothing.
pub fn recheck_waited_days(
    conn: &mut DbConnection,
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let dates = store::waited_dates_from(conn, state.calendar.today(now))?;
    for date in &dates {
        let (start, end) = utc_range(&state.calendar, *date, *date);
        store::queue_job(conn, start, end, now.naive_utc(), now.naive_utc())?;
    }
    Ok(dates.len())
}

/// Whether `start` lies in the entry's window (both ends inclusive).
fn in_window(row: &EntryRow, start: DateTime<Tz>) -> bool {
    let time = start.time();
    let bound = |raw: &Option<String>| {
        raw.as_deref()
            .and_then(|raw| NaiveTime::parse_from_str(raw, "%H:%M").ok())
    };
    bound(&row.from_time).is_none_or(|from| time >= from)
        && bound(&row.to_time).is_none_or(|to| time <= to)
}

/// Offers the time of `job` to the entries waiting on its day, earliest
/// first: each gets the first start in its window that overlaps the freed
/// time and can be held (a start it already let lapse is not offered to it
/// again). Returns how many offers were made.
fn offer_freed_time(
    conn: &mut DbConnection,
    state: &AppState,
    job: &JobRow,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let first = state.calendar.local(job.start_at).date_naive();
    let last = state.calendar.local(job.end_at).date_naive();
    let max_offers = i32::try_from(state.settings.waitlist.max_offers).unwrap_or(i32::MAX);
    let mut made = 0;
    let mut day = first;
    while day <= last {
        for entry in store::waiting_on(conn, day)? {
            if entry.offers_made >= max_offers {
                store::set_entry_status(
                    conn,
                    &entry.reference,
                    WaitlistStatus::Expired,
                    now.naive_utc(),
                )?;
                continue;
            }
            if offer_to(conn, state, &entry, job, now)? {
                made += 1;
            }
        }
        day += Duration::days(1);
    }
    Ok(made)
}

fn offer_to(
    conn: &mut DbConnection,
    state: &AppState,
    entry: &EntryRow,
    job: &JobRow,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let Some(kind) = state.calendar.consultation_type(&entry.type_code).cloned() else {
        return Ok(false);
    };
    let tried: Vec<NaiveDateTime> = store::offers_of(conn, &entry.reference)?
        .into_iter()
        .map(|offer| offer.start_at)
        .collect();
    for start in state.calendar.slot_starts(entry.wanted_date, &kind) {
        let end = state.calendar.end_of(start, &kind);
        let overlaps = start.naive_utc() < job.end_at && end.naive_utc() > job.start_at;
        if !overlaps
            || !in_window(entry, start)
            || tried.contains(&start.naive_utc())
            || state
                .calendar
                .check_start_ignoring_notice(start, &kind, now)
                .is_err()
            || closed(conn, start.naive_utc(), end.naive_utc())?
        {
            continue;
        }
        if make_offer(conn, state, entry, &kind, start, now)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn closed(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<bool, ApiError> {
    Ok(crate::db::closures::overlapping(conn, from, to)?
        .iter()
        .any(|closure| closure.resource.is_none()))
}

/// Holds the seats of `start` for `entry` for `waitlist.hold_minutes` (not
/// beyond the start) and tells the patient (email) and the receivers
/// (`waitlist.offered`). `false`, and nothing stored, when a seat is taken.
fn make_offer(
    conn: &mut DbConnection,
    state: &AppState,
    entry: &EntryRow,
    kind: &ConsultationType,
    start: DateTime<Tz>,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let token = ManageToken::generate();
    let hold = Duration::minutes(i64::from(state.settings.waitlist.hold_minutes));
    let expires_at = (now.naive_utc() + hold).min(start.naive_utc());
    let end = state.calendar.end_of(start, kind);
    let id = store::insert_offer(
        conn,
        &entry.reference,
        start.naive_utc(),
        end.naive_utc(),
        &token.hash(),
        now.naive_utc(),
        expires_at,
    )?;
    if !hold_time(conn, state, id, entry, kind, start)? {
        store::delete_offer(conn, id)?;
        return Ok(false);
    }
    store::mark_offered(conn, &entry.reference, now.naive_utc())?;
    let offer = OfferRow {
        id,
        entry_reference: entry.reference.clone(),
        start_at: start.naive_utc(),
        end_at: end.naive_utc(),
        status: offer_status::HELD.to_string(),
        token_hash: token.hash(),
        offered_at: now.naive_utc(),
        expires_at,
        closed_at: None,
    };
    let url = state.waitlist_url(&entry.reference, token.expose());
    // Mail and events are due now by the wall clock, whatever time the
    // waiting list's clock reads (a test may have moved it on).
    let now = now.min(Utc::now());
    let mail = crate::mail::waitlist::offer(&state.settings, &state.calendar, entry, &offer, &url)
        .map_err(render_error)?;
    enqueue_patient_message(
        conn,
        state,
        kind::WAITLIST_OFFER,
        &entry.reference,
        &entry.email,
        mail,
        now,
    )?;
    offered_event(conn, state, entry, &offer, now)?;
    let detail =
        json!({"start": rfc3339(start), "expires_at": rfc3339(state.calendar.local(expires_at))});
    audit(
        conn,
        &Actor::Staff("waitlist".to_string()),
        "waitlist.offered",
        &entry.reference,
        Some(&detail),
        now,
    )?;
    tracing::info!(reference = %entry.reference, offer = id, "waiting-list seat offered");
    Ok(true)
}

/// Holds for offer `id` what a booking of `kind` at `start` would take:
/// its seats, or the practitioner (the one the entry asked for, else any
/// free one), room and daily place. `false` when one of them is taken.
fn hold_time(
    conn: &mut DbConnection,
    state: &AppState,
    id: i64,
    entry: &EntryRow,
    kind: &ConsultationType,
    start: DateTime<Tz>,
) -> Result<bool, ApiError> {
    let slots = resources::seat_slots(state, kind, start);
    if !store::hold_seats(conn, id, &slots, state.calendar.capacity_per_slot())? {
        return Ok(false);
    }
    let wanted = entry.practitioner.as_deref();
    match resources::claim_for(conn, state, Holder::Offer(id), kind, start, wanted) {
        Ok(_) => Ok(true),
        Err(ApiError::SlotUnavailable { .. }) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Queues `waitlist.offered` for the receivers that want it.
fn offered_event(
    conn: &mut DbConnection,
    state: &AppState,
    entry: &EntryRow,
    offer: &OfferRow,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if !state.webhooks.wanted(event::WAITLIST_OFFERED) {
        return Ok(());
    }
    let at = |t: NaiveDateTime| rfc3339(state.calendar.local(t));
    let data = json!({
        "reference": entry.reference,
        "type": entry.type_code,
        "status": WaitlistStatus::Offered.as_str(),
        "date": entry.wanted_date.to_string(),
        "start": at(offer.start_at),
        "end": at(offer.end_at),
        "expires_at": at(offer.expires_at),
        "offers_made": entry.offers_made + 1,
        "practitioner": entry.practitioner,
    });
    let personal = json!({"name": entry.name, "email": entry.email, "phone": entry.phone});
    crate::workflows::webhooks::enqueue(
        conn,
        state,
        event::WAITLIST_OFFERED,
        &entry.reference,
        data,
        personal,
        now,
    )
}

/// Ends a hold that ran out: the entry waits again (or, after
/// `waitlist.max_offers` offers, is expired) and the seat is passed on.
fn lapse(
    conn: &mut DbConnection,
    state: &AppState,
    offer: &OfferRow,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if !pass_on(conn, offer, offer_status::LAPSED, now)? {
        return Ok(());
    }
    if let Some(entry) = store::find_entry(conn, &offer.entry_reference)? {
        if entry.status() == WaitlistStatus::Offered {
            let max_offers = i32::try_from(state.settings.waitlist.max_offers).unwrap_or(i32::MAX);
            let next = if entry.offers_made >= max_offers {
                WaitlistStatus::Expired
            } else {
                WaitlistStatus::Waiting
            };
            // The lapsed time (queued by `pass_on`) goes to the others:
            // it is never offered to this entry again.
            store::set_entry_status(conn, &entry.reference, next, now.naive_utc())?;
        }
    }
    audit(
        conn,
        &Actor::Staff("waitlist".to_string()),
        "waitlist.offer_lapsed",
        &offer.entry_reference,
        None,
        now,
    )?;
    tracing::info!(reference = %offer.entry_reference, offer = offer.id, "waiting-list offer lapsed");
    Ok(())
}

/// One pass of the worker: entries whose day has passed expire, holds that
/// ran out are passed on, and queued freed time is offered. Returns how
/// many holds ended and offers were made.
pub async fn work_once(state: &Arc<AppState>) -> Result<usize, ApiError> {
    let now = state.clock.now();
    let today = state.calendar.today(now);
    // A read first: most passes find nothing to write.
    let yesterday = today - Duration::days(1);
    let stale = state
        .db
        .read(move |conn| {
            store::anyone_waiting_between(conn, yesterday - Duration::days(3650), yesterday)
        })
        .await?;
    if stale {
        let expired = state
            .db
            .write_unannounced(move |conn| store::expire_past(conn, today, now.naive_utc()))
            .await?;
        tracing::info!(expired, "waiting-list entries of past days expired");
    }
    let lapsed = state
        .db
        .read(move |conn| store::lapsed(conn, now.naive_utc(), BATCH))
        .await?;
    let mut done = 0;
    for offer in lapsed {
        let shared = Arc::clone(state);
        state
            .db
            .write(move |conn| lapse(conn, &shared, &offer, now))
            .await?;
        done += 1;
    }
    let jobs = state
        .db
        .read(move |conn| store::due_jobs(conn, now.naive_utc(), BATCH))
        .await?;
    for job in jobs {
        let shared = Arc::clone(state);
        let id = job.id;
        let made = state
            .db
            .write(move |conn| {
                if !store::take_job(conn, job.id)? {
                    return Ok(0);
                }
                offer_freed_time(conn, &shared, &job, now)
            })
            .await;
        match made {
            Ok(made) => done += made,
            // Its transaction undid everything: the job stays queued for
            // the next pass.
            Err(error) => tracing::warn!(%error, job = id, "waiting-list offer failed; will retry"),
        }
    }
    Ok(done)
}

/// Each instance's waitlist worker: a pass every `waitlist.poll_interval_ms`.
pub struct WaitlistWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WaitlistWorker {
    pub fn start(state: Arc<AppState>) -> WaitlistWorker {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(state, stopped));
        WaitlistWorker { stop, task }
    }

    /// Stops the worker, letting a pass in hand finish its transaction.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "waitlist worker ended abnormally");
        }
    }
}

async fn run(state: Arc<AppState>, mut stopped: watch::Receiver<bool>) {
    let every = StdDuration::from_millis(state.settings.waitlist.poll_interval_ms.max(10));
    let now = state.clock.now();
    let shared = Arc::clone(&state);
    match state
        .db
        .write(move |conn| recheck_waited_days(conn, &shared, now))
        .await
    {
        Ok(0) => {}
        Ok(days) => tracing::info!(
            days,
            "waiting-list days queued to be offered again at start"
        ),
        Err(error) => tracing::warn!(%error, "waiting-list days not queued at start"),
    }
    loop {
        if *stopped.borrow() {
            break;
        }
        if let Err(error) = work_once(&state).await {
            tracing::warn!(%error, "waitlist pass failed; will retry");
        }
        tokio::select! {
            changed = stopped.changed() => if changed.is_err() || *stopped.borrow() { break },
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// The day's entries for the reception, recorded as `waitlist.listed`
/// (staff reads of patient data are on the audit log).
pub fn list_for_staff(
    conn: &mut DbConnection,
    date: NaiveDate,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<EntryView>, ApiError> {
    let rows = store::entries_on(conn, date)?;
    crate::db::audit::record(
        conn,
        now.naive_utc(),
        actor.name(),
        "waitlist.listed",
        None,
        Some(&json!({"count": rows.len(), "date": date.to_string()}).to_string()),
    )?;
    rows.into_iter().map(|row| view(conn, row)).collect()
}

/// Deletes the entries of one patient's mailbox (erasure on request), with
/// their offers, holds (a held seat is passed on), emails and stored
/// answers. Returns the references deleted.
pub fn erase_mailbox(
    conn: &mut DbConnection,
    mailbox_hash: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ApiError> {
    let references = store::entries_of_mailbox(conn, mailbox_hash)?;
    for reference in &references {
        erase_entry(conn, reference, now)?;
    }
    Ok(references)
}

/// Deletes one entry and everything about it (see `erase_mailbox`).
pub fn erase_entry(
    conn: &mut DbConnection,
    reference: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(offer) = store::held_offer_of(conn, reference)? {
        pass_on(conn, &offer, offer_status::WITHDRAWN, now)?;
    }
    store::delete_entry(conn, reference)?;
    Ok(())
}

/// Deletes entries whose day is over (retention: they are of no use after
/// it), at most `limit`; returns their references.
pub fn purge_past(
    conn: &mut DbConnection,
    today: NaiveDate,
    limit: i64,
) -> Result<Vec<String>, ApiError> {
    let references = store::entries_before(conn, today, limit)?;
    for reference in &references {
        store::delete_entry(conn, reference)?;
    }
    Ok(references)
}

/// Parses a join request (for the API and the page alike).
pub fn parse(
    fields: &Fields,
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<NewWaitlistEntry, ApiError> {
    NewWaitlistEntry::parse(fields, &state.calendar, now).map_err(ApiError::Validation)
}
