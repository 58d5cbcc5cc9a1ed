//! Personal data under the APPI: erasure of one patient's data on request,
//! and retention, the purge that anonymises what is no longer needed (by
//! `clinic-booking purge --older-than DAYS` and, hourly, inside the service).
//!
//! Anonymising keeps a record for statistics (reference, type, times,
//! status, first_visit, consent time and version) and replaces everything
//! that names or describes the person: name, kana, email (and the hash of
//! its mailbox), phone, message,
//! staff note, source and the manage token's hash; the answers to its
//! intake questionnaire are deleted. The record's emails
//! (outbox rows) and stored idempotency responses are deleted, and so are
//! `.eml` files that mention its reference. Its webhook deliveries lose
//! name, email and phone on erasure (a pending one still goes out, without
//! them) and are deleted by the purge.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::configuration::Settings;
use crate::db::bookings::BookingRow;
use crate::db::schema::{bookings, idempotency_keys, inquiries, outbox};
use crate::db::{Db, DbConnection};
use crate::domain::{BookingStatus, Reference};
use crate::error::ApiError;
use crate::state::AppState;
use crate::workflows::booking::{self, Actor};
use crate::workflows::webhooks;

/// What the manage token's hash becomes: no token hashes to it, so the
/// manage link of an erased booking answers 404.
pub const ERASED_TOKEN_HASH: &str = "erased";

/// How many records one purge transaction anonymises (keeps each short).
const BATCH: i64 = 200;

/// Counts of what a purge or an erasure did; never any personal data.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PurgeSummary {
    pub bookings: usize,
    pub inquiries: usize,
    pub outbox_rows: usize,
    pub idempotency_records: usize,
    pub mail_files: usize,
    /// Deleted by a purge; stripped of personal data by an erasure.
    pub webhook_deliveries: usize,
    /// Waiting-list entries deleted (with their offers and holds).
    pub waitlist_entries: usize,
}

impl PurgeSummary {
    fn add(&mut self, other: PurgeSummary) {
        self.bookings += other.bookings;
        self.inquiries += other.inquiries;
        self.outbox_rows += other.outbox_rows;
        self.idempotency_records += other.idempotency_records;
        self.mail_files += other.mail_files;
        self.webhook_deliveries += other.webhook_deliveries;
        self.waitlist_entries += other.waitlist_entries;
    }
}

impl std::fmt::Display for PurgeSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "anonymised {} bookings and {} inquiries; deleted {} outbox rows, {} idempotency records, {} mail files, {} webhook deliveries and {} waiting-list entries",
            self.bookings, self.inquiries, self.outbox_rows, self.idempotency_records, self.mail_files, self.webhook_deliveries, self.waitlist_entries
        )
    }
}

/// What a purge anonymises: bookings that ended before `bookings`,
/// closed inquiries last changed before `inquiries`, inquiries never closed
/// last changed before `open_inquiries`, and idempotency records stored
/// before `idempotency` (each `None`: nothing of that kind).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cutoffs {
    pub bookings: Option<NaiveDateTime>,
    pub inquiries: Option<NaiveDateTime>,
    pub open_inquiries: Option<NaiveDateTime>,
    pub idempotency: Option<NaiveDateTime>,
}

impl Cutoffs {
    /// Everything older than `days` days (the command line).
    pub fn older_than_days(days: u32, now: DateTime<Utc>) -> Cutoffs {
        let cutoff = Some(now.naive_utc() - chrono::Duration::days(days.into()));
        Cutoffs {
            bookings: cutoff,
            inquiries: cutoff,
            open_inquiries: cutoff,
            idempotency: cutoff,
        }
    }

    /// The configured retention; a setting of 0 keeps that kind for ever.
    pub fn from_settings(settings: &Settings, now: DateTime<Utc>) -> Cutoffs {
        let privacy = &settings.privacy;
        let days =
            |days: u32| (days > 0).then(|| now.naive_utc() - chrono::Duration::days(days.into()));
        Cutoffs {
            bookings: days(privacy.retention_days),
            inquiries: days(privacy.inquiry_retention_days),
            open_inquiries: days(privacy.open_inquiry_retention_days),
            idempotency: (privacy.idempotency_retention_hours > 0).then(|| {
                now.naive_utc()
                    - chrono::Duration::hours(privacy.idempotency_retention_hours.into())
            }),
        }
    }
}

/// Replaces the personal fields of one booking with neutral values.
fn anonymise_booking(
    conn: &mut DbConnection,
    reference: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(bookings::table.find(reference))
        .set((
            bookings::name.eq(""),
            bookings::name_kana.eq(None::<String>),
            bookings::email.eq(""),
            bookings::mailbox_hash.eq(None::<String>),
            bookings::phone.eq(""),
            bookings::message.eq(None::<String>),
            bookings::source.eq(None::<String>),
            bookings::staff_note.eq(None::<String>),
            bookings::manage_token_hash.eq(ERASED_TOKEN_HASH),
            bookings::updated_at.eq(now),
        ))
        .execute(conn)?;
    // The intake questionnaire's answers are health data: gone with it.
    crate::db::questionnaire_answers::delete(conn, reference)?;
    Ok(())
}

/// Replaces the personal fields of one inquiry with neutral values.
fn anonymise_inquiry(
    conn: &mut DbConnection,
    reference: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(inquiries::table.find(reference))
        .set((
            inquiries::name.eq(""),
            inquiries::email.eq(""),
            inquiries::phone.eq(None::<String>),
            inquiries::message.eq(""),
            inquiries::source.eq(None::<String>),
            inquiries::staff_note.eq(None::<String>),
            inquiries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes the emails (sent, pending or failed: all carry the data) and the
/// stored idempotency responses of `reference`.
fn forget_traces(conn: &mut DbConnection, reference: &str) -> Result<PurgeSummary, ApiError> {
    let outbox_rows =
        diesel::delete(outbox::table.filter(outbox::reference.eq(reference))).execute(conn)?;
    // A stored response names its record in `location` (a new booking or
    // inquiry) or in its scope (a booking's cancel and reschedule); its
    // body is sealed. (Bodies stored in clear by earlier versions named it
    // as `"reference":"K7QM-3XWD"`.)
    let idempotency_records = diesel::delete(
        idempotency_keys::table.filter(
            idempotency_keys::location
                .eq_any([
                    format!("/api/v1/bookings/{reference}"),
                    format!("/api/v1/inquiries/{reference}"),
                ])
                .or(idempotency_keys::scope.eq_any([
                    format!("bookings/{reference}/cancel"),
                    format!("bookings/{reference}/reschedule"),
                ]))
                .or(idempotency_keys::response_body.like(format!("%\"{reference}\"%"))),
        ),
    )
    .execute(conn)?;
    Ok(PurgeSummary {
        outbox_rows,
        idempotency_records,
        ..PurgeSummary::default()
    })
}

/// Whether a booking's personal fields were replaced (by erasure or purge).
pub fn is_erased(row: &BookingRow) -> bool {
    row.manage_token_hash == ERASED_TOKEN_HASH
}

/// One batch of the purge, in the caller's transaction: the references it
/// anonymised (so the caller can delete their mail files) and the counts.
fn purge_batch(
    conn: &mut DbConnection,
    cutoffs: Cutoffs,
    now: DateTime<Utc>,
) -> Result<(Vec<String>, PurgeSummary), ApiError> {
    let mut summary = PurgeSummary::default();
    let mut references = Vec::new();
    if let Some(cutoff) = cutoffs.bookings {
        // Every booking that ended before the cutoff is finished, whatever
        // its status says (completed, no_show, cancelled, or a confirmed
        // one nobody marked): none of them needs its contact data.
        let due: Vec<String> = bookings::table
            .filter(bookings::end_at.lt(cutoff))
            // Written out (not bound) so the planner can match the partial
            // index `bookings_to_purge`.
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "manage_token_hash <> 'erased'",
            ))
            .order(bookings::end_at)
            .select(bookings::reference)
            .limit(BATCH)
            .load(conn)?;
        for reference in due {
            anonymise_booking(conn, &reference, now.naive_utc())?;
            summary.add(forget_traces(conn, &reference)?);
            summary.webhook_deliveries +=
                crate::db::webhooks::delete_for_reference(conn, &reference)?;
            summary.bookings += 1;
            references.push(reference);
        }
    }
    if let Some(cutoff) = cutoffs.inquiries {
        let due: Vec<String> = inquiries::table
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "status = 'closed' AND email <> ''",
            ))
            .filter(inquiries::updated_at.lt(cutoff))
            .order(inquiries::updated_at)
            .select(inquiries::reference)
            .limit(BATCH)
            .load(conn)?;
        for reference in due {
            anonymise_inquiry(conn, &reference, now.naive_utc())?;
            summary.add(forget_traces(conn, &reference)?);
            summary.webhook_deliveries +=
                crate::db::webhooks::delete_for_reference(conn, &reference)?;
            summary.inquiries += 1;
            references.push(reference);
        }
    }
    if let Some(cutoff) = cutoffs.open_inquiries {
        // Rule: an inquiry nobody closed is not kept for ever either; once
        // untouched that long it is anonymised and closed (there is no one
        // left to answer).
        let due: Vec<String> = inquiries::table
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "status <> 'closed' AND email <> ''",
            ))
            .filter(inquiries::updated_at.lt(cutoff))
            .order(inquiries::updated_at)
            .select(inquiries::reference)
            .limit(BATCH)
            .load(conn)?;
        for reference in due {
            anonymise_inquiry(conn, &reference, now.naive_utc())?;
            diesel::update(inquiries::table.find(&reference))
                .set(inquiries::status.eq("closed"))
                .execute(conn)?;
            summary.add(forget_traces(conn, &reference)?);
            summary.inquiries += 1;
            references.push(reference);
        }
    }
    // Waiting-list entries serve no purpose once their day is over (their
    // UTC date is a day behind at most): deleted whatever the retention.
    let yesterday = now.date_naive() - chrono::Duration::days(1);
    for reference in crate::workflows::waitlist::purge_past(conn, yesterday, BATCH)? {
        summary.add(forget_traces(conn, &reference)?);
        summary.webhook_deliveries += crate::db::webhooks::delete_for_reference(conn, &reference)?;
        summary.waitlist_entries += 1;
        references.push(reference);
    }
    if let Some(cutoff) = cutoffs.idempotency {
        summary.idempotency_records +=
            diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(cutoff)))
                .execute(conn)?;
    }
    if summary.bookings + summary.inquiries > 0 {
        let detail = serde_json::json!({
            "bookings": summary.bookings,
            "inquiries": summary.inquiries,
        });
        crate::db::audit::record(
            conn,
            now.naive_utc(),
            "retention",
            "personal_data.purged",
            None,
            Some(&detail.to_string()),
        )?;
    }
    Ok((references, summary))
}

/// Anonymises everything `cutoffs` select, batch by batch (each batch one
/// transaction), then deletes the `.eml` files under `mail_dir` that
/// mention an anonymised reference.
pub async fn purge(
    db: &Db,
    cutoffs: Cutoffs,
    mail_dir: Option<&Path>,
    now: DateTime<Utc>,
) -> Result<PurgeSummary, ApiError> {
    let mut summary = PurgeSummary::default();
    loop {
        let (references, batch) = db
            .write(move |conn| purge_batch(conn, cutoffs, now))
            .await?;
        summary.add(batch);
        if let Some(dir) = mail_dir {
            summary.mail_files += delete_mail_files(dir, &references);
        }
        let full = i64::try_from(
            batch
                .bookings
                .max(batch.inquiries)
                .max(batch.waitlist_entries),
        )
        .unwrap_or(i64::MAX)
            >= BATCH;
        if !full {
            return Ok(summary);
        }
    }
}

/// Deletes the `.eml` files (written when no SMTP server is configured)
/// whose Message-ID or text names one of `references`. Returns how many.
pub fn delete_mail_files(dir: &Path, references: &[String]) -> usize {
    if references.is_empty() {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut deleted = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("eml") {
            continue;
        }
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&text);
        if references.iter().any(|r| text.contains(r.as_str())) {
            match std::fs::remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(error) => tracing::warn!(%error, "cannot delete a mail file"),
            }
        }
    }
    deleted
}

/// Erases the personal data of booking `reference` at the patient's
/// request, leaving an anonymised record for statistics.
///
/// Rule: a booking still `confirmed` is first cancelled through the usual
/// workflow, so its slots are free again (whether or not its time has
/// passed: a visit that took place is `completed`). No mail tells the
/// patient: every email of the booking, the cancellation notice included,
/// is deleted with the data, so nothing pending goes out with it. Webhook
/// receivers still hear of the cancellation, without name, email or phone
/// (every delivery of the booking loses them). Erasing twice changes
/// nothing more.
pub fn erase_booking(
    conn: &mut DbConnection,
    state: &AppState,
    reference: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(BookingRow, PurgeSummary), ApiError> {
    let mut row = booking::find_for_staff(conn, reference)?;
    if row.status() == BookingStatus::Confirmed {
        row = booking::cancel_by_staff(conn, state, row, actor, now)?;
    }
    let already = is_erased(&row);
    // The patient's waiting-list entries go with it (found by mailbox).
    let mut waitlist = Vec::new();
    if let Some(mailbox) = row.mailbox_hash.clone() {
        waitlist = crate::workflows::waitlist::erase_mailbox(conn, &mailbox, now)?;
    }
    anonymise_booking(conn, &row.reference, now.naive_utc())?;
    let mut summary = forget_traces(conn, &row.reference)?;
    summary.webhook_deliveries =
        webhooks::forget_personal_data(conn, &row.reference, now.naive_utc())?;
    for entry in &waitlist {
        summary.add(forget_traces(conn, entry)?);
        summary.webhook_deliveries += crate::db::webhooks::delete_for_reference(conn, entry)?;
    }
    summary.waitlist_entries = waitlist.len();
    summary.bookings = 1;
    if !already {
        booking::audit(
            conn,
            actor,
            "booking.personal_data_erased",
            &row.reference,
            None,
            now,
        )?;
        tracing::info!(reference = %row.reference, "booking personal data erased");
    }
    let row = crate::db::bookings::find(conn, &row.reference)?.ok_or(ApiError::NotFound)?;
    Ok((row, summary))
}

/// Erases a waiting-list patient on request: the entry `reference` and
/// every other entry of the same mailbox are deleted with their offers
/// (a held seat is passed on), emails and stored answers; the audit log
/// keeps that it happened.
pub fn erase_waitlist_entry(
    conn: &mut DbConnection,
    reference: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<PurgeSummary, ApiError> {
    let reference = Reference::parse(reference).ok_or(ApiError::NotFound)?;
    let row =
        crate::db::waitlist::find_entry(conn, reference.as_str())?.ok_or(ApiError::NotFound)?;
    let mut erased = match row.mailbox_hash.as_deref() {
        Some(mailbox) => crate::workflows::waitlist::erase_mailbox(conn, mailbox, now)?,
        None => Vec::new(),
    };
    if !erased.contains(&row.reference) {
        crate::workflows::waitlist::erase_entry(conn, &row.reference, now)?;
        erased.push(row.reference.clone());
    }
    let mut summary = PurgeSummary::default();
    for entry in &erased {
        summary.add(forget_traces(conn, entry)?);
        summary.webhook_deliveries += crate::db::webhooks::delete_for_reference(conn, entry)?;
    }
    summary.waitlist_entries = erased.len();
    booking::audit(
        conn,
        actor,
        "waitlist.personal_data_erased",
        &row.reference,
        None,
        now,
    )?;
    tracing::info!(reference = %row.reference, entries = erased.len(), "waiting-list personal data erased");
    Ok(summary)
}

/// Erases the personal data of inquiry `reference` on request. The inquiry
/// is closed (nobody can be answered any more) and keeps its reference,
/// category and times for statistics; its emails are deleted.
pub fn erase_inquiry(
    conn: &mut DbConnection,
    reference: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<PurgeSummary, ApiError> {
    let reference = Reference::parse(reference).ok_or(ApiError::NotFound)?;
    let row = crate::db::inquiries::find(conn, reference.as_str())?.ok_or(ApiError::NotFound)?;
    anonymise_inquiry(conn, &row.reference, now.naive_utc())?;
    diesel::update(inquiries::table.find(&row.reference))
        .set(inquiries::status.eq("closed"))
        .execute(conn)?;
    let mut summary = forget_traces(conn, &row.reference)?;
    summary.webhook_deliveries =
        webhooks::forget_personal_data(conn, &row.reference, now.naive_utc())?;
    summary.inquiries = 1;
    booking::audit(
        conn,
        actor,
        "inquiry.personal_data_erased",
        &row.reference,
        None,
        now,
    )?;
    tracing::info!(reference = %row.reference, "inquiry personal data erased");
    Ok(summary)
}

/// The folder of `.eml` files, when mail goes there (no SMTP server).
pub fn mail_dir(settings: &Settings) -> Option<&Path> {
    settings
        .mail
        .smtp_url
        .trim()
        .is_empty()
        .then(|| Path::new(&settings.mail.file_dir))
}

/// `clinic-booking purge --older-than DAYS`: prints a summary (counts only).
pub async fn run_command(db: &Db, settings: &Settings, args: &[&str]) -> anyhow::Result<()> {
    let days = match args {
        ["--older-than", days] => *days,
        [arg] if arg.starts_with("--older-than=") => &arg["--older-than=".len()..],
        _ => bail!("usage: clinic-booking purge --older-than DAYS"),
    };
    let days: u32 = days
        .parse()
        .map_err(|_| anyhow!("--older-than takes a whole number of days, e.g. 1825"))?;
    let now = Utc::now();
    let summary = purge(
        db,
        Cutoffs::older_than_days(days, now),
        mail_dir(settings),
        now,
    )
    .await
    .map_err(|error| match error {
        ApiError::Internal(error) => error,
        other => anyhow!("{other}"),
    })
    .context("purge failed")?;
    println!("purged data older than {days} days: {summary}");
    Ok(())
}

/// The retention purge running inside the service, every
/// `privacy.purge_interval_minutes` (first right after start).
pub struct RetentionWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RetentionWorker {
    pub fn start(db: Db, settings: Settings) -> RetentionWorker {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(db, settings, stopped));
        RetentionWorker { stop, task }
    }

    /// Stops the worker, letting a running purge batch commit.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "retention worker ended abnormally");
        }
    }
}

async fn run(db: Db, settings: Settings, mut stopped: watch::Receiver<bool>) {
    let every = Duration::from_secs(settings.privacy.purge_interval_minutes.max(1) * 60);
    loop {
        if *stopped.borrow() {
            break;
        }
        let now = Utc::now();
        let cutoffs = Cutoffs::from_settings(&settings, now);
        // A long first purge (years of history) must not hold up a
        // shutdown: stopping drops it between batches, each of which has
        // committed on its own.
        let purged = tokio::select! {
            purged = purge(&db, cutoffs, mail_dir(&settings), now) => purged,
            _ = stopped.changed() => break,
        };
        match purged {
            Ok(summary) if summary == PurgeSummary::default() => {}
            Ok(summary) => tracing::info!(
                bookings = summary.bookings,
                inquiries = summary.inquiries,
                outbox_rows = summary.outbox_rows,
                idempotency_records = summary.idempotency_records,
                mail_files = summary.mail_files,
                "retention purge"
            ),
            Err(error) => tracing::warn!(%error, "retention purge failed; will retry"),
        }
        tokio::select! {
            changed = stopped.changed() => if changed.is_err() || *stopped.borrow() { break },
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_mail_files_that_name_an_erased_reference_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let write = |file: &str, text: &str| std::fs::write(dir.path().join(file), text).unwrap();
        write(
            "a.eml",
            "Message-ID: <outbox-1-K7QM-3XWD-1700000000@example.jp>\r\n",
        );
        write(
            "b.eml",
            "Message-ID: <outbox-2-ABCD-EFGH-1700000000@example.jp>\r\n",
        );
        write("c.txt", "K7QM-3XWD");
        let deleted = delete_mail_files(dir.path(), &["K7QM-3XWD".to_string()]);
        assert_eq!(deleted, 1);
        assert!(!dir.path().join("a.eml").exists());
        assert!(dir.path().join("b.eml").exists());
        assert!(dir.path().join("c.txt").exists(), "only .eml files");
        assert_eq!(
            delete_mail_files(&dir.path().join("missing"), &["X".into()]),
            0
        );
    }

    #[test]
    fn the_command_takes_a_whole_number_of_days() {
        let now = Utc::now();
        let cutoffs = Cutoffs::older_than_days(30, now);
        let expected = now.naive_utc() - chrono::Duration::days(30);
        assert_eq!(cutoffs.bookings, Some(expected));
        assert_eq!(cutoffs.inquiries, Some(expected));
        assert_eq!(cutoffs.open_inquiries, Some(expected));
        assert_eq!(cutoffs.idempotency, Some(expected));
    }
}
