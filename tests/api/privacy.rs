//! Privacy (APPI): erasure on request and the retention purge leave nothing
//! personal in any table, keep the records for statistics, delete the
//! emails and keep the slots consistent.

use std::process::Command;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use clinic_booking::configuration::Settings;
use clinic_booking::db::audit::AuditRow;
use clinic_booking::db::bookings::BookingRow;
use clinic_booking::db::idempotency::StoredResponse;
use clinic_booking::db::inquiries::InquiryRow;
use clinic_booking::db::outbox::{OutboxContent, OutboxRow};
use clinic_booking::db::schema::{
    audit_log, bookings, idempotency_keys, inquiries, outbox, outbox_contents, slot_claims,
};
use clinic_booking::db::Db;
use clinic_booking::workflows::privacy::Cutoffs;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{local, open_day, spawn_on, Backend, TestApp, TestDatabase};
use crate::staff_helpers::{reference, staff_delete, staff_get, staff_token};

/// Values that appear nowhere but in what the patient typed.
struct Canary {
    name: String,
    kana: String,
    email: String,
    phone: String,
    message: String,
}

/// `n` spelled in katakana (a reading the kana field accepts).
fn katakana(n: u32) -> String {
    let letters: Vec<char> = "アイウエオカキクケコ".chars().collect();
    n.to_string()
        .bytes()
        .map(|digit| letters[usize::from(digit - b'0')])
        .collect()
}

impl Canary {
    fn new(tag: &str) -> Canary {
        let n: u32 = rand::random::<u32>() % 9000 + 1000;
        Canary {
            name: format!("カナリア{tag}{n} 太郎"),
            kana: format!("カナリア{}", katakana(n)),
            email: format!("canary.{tag}.{n}@example.jp"),
            phone: format!("090-{n}-{:04}", 7000 + tag.len()),
            message: format!("canary-message-{tag}-{n} 膝が痛みます"),
        }
    }

    fn values(&self) -> [&str; 5] {
        [
            &self.name,
            &self.kana,
            &self.email,
            &self.phone,
            &self.message,
        ]
    }

    fn booking(&self, start: &str) -> Value {
        json!({
            "name": self.name, "name_kana": self.kana, "email": self.email,
            "phone": self.phone, "start": start, "type": "stem-cell",
            "first_visit": true, "message": self.message, "consent": true,
            "source": "knee-pain-and-cartilage-regeneration",
        })
    }

    fn inquiry(&self) -> Value {
        json!({
            "name": self.name, "email": self.email, "phone": self.phone,
            "category": "treatment", "message": self.message, "consent": true,
        })
    }
}

fn open(url: &str) -> Db {
    let settings = Settings::defaults().expect("settings");
    Db::connect(&settings.database, url).expect("database")
}

/// Every row of every table that may hold personal data, as text.
async fn everything(db: &Db) -> String {
    db.read(|conn| {
        let bookings: Vec<BookingRow> =
            bookings::table.select(BookingRow::as_select()).load(conn)?;
        let inquiries: Vec<InquiryRow> = inquiries::table
            .select(InquiryRow::as_select())
            .load(conn)?;
        let outbox: Vec<OutboxRow> = outbox::table.select(OutboxRow::as_select()).load(conn)?;
        let contents: Vec<OutboxContent> = outbox_contents::table
            .select(OutboxContent::as_select())
            .load(conn)?;
        let stored: Vec<StoredResponse> = idempotency_keys::table
            .select(StoredResponse::as_select())
            .load(conn)?;
        let audit: Vec<AuditRow> = audit_log::table.select(AuditRow::as_select()).load(conn)?;
        Ok(format!(
            "{bookings:?}\n{inquiries:?}\n{outbox:?}\n{contents:?}\n{stored:?}\n{audit:?}"
        ))
    })
    .await
    .expect("read")
}

async fn assert_nothing_of(db: &Db, canary: &Canary) {
    let text = everything(db).await;
    let tables = [
        "bookings",
        "inquiries",
        "outbox",
        "outbox_contents",
        "idempotency_keys",
        "audit_log",
    ];
    for value in canary.values() {
        let holders: Vec<&str> = text
            .lines()
            .zip(tables)
            .filter(|(rows, _)| rows.contains(value))
            .map(|(_, table)| table)
            .collect();
        assert!(
            holders.is_empty(),
            "{value:?} is still stored in {holders:?}: {}",
            context_of(&text, value)
        );
    }
}

/// The text around the first `value` in `text`, to say which row holds it.
fn context_of(text: &str, value: &str) -> String {
    let at = text.find(value).unwrap_or(0);
    let from = text[..at]
        .char_indices()
        .rev()
        .nth(200)
        .map_or(0, |(index, _)| index);
    text[from..].chars().take(600).collect()
}

async fn booking_row(db: &Db, reference: &str) -> BookingRow {
    let reference = reference.to_string();
    db.read(move |conn| clinic_booking::db::bookings::find(conn, &reference))
        .await
        .expect("read")
        .expect("the booking stays")
}

async fn outbox_rows_of(db: &Db, reference: &str) -> i64 {
    let reference = reference.to_string();
    db.read(move |conn| {
        Ok(outbox::table
            .filter(outbox::reference.eq(reference))
            .count()
            .get_result::<i64>(conn)?)
    })
    .await
    .expect("read")
}

async fn claims_of(db: &Db, reference: &str) -> i64 {
    let reference = reference.to_string();
    db.read(move |conn| {
        Ok(slot_claims::table
            .filter(slot_claims::booking_reference.eq(reference))
            .count()
            .get_result::<i64>(conn)?)
    })
    .await
    .expect("read")
}

/// Moves a booking into the past, finished with `status`.
async fn finish_in_the_past(db: &Db, reference: &str, status: &str, days_ago: i64) {
    let (reference, status) = (reference.to_string(), status.to_string());
    let end: NaiveDateTime = Utc::now().naive_utc() - chrono::Duration::days(days_ago);
    db.write(move |conn| {
        diesel::update(bookings::table.find(&reference))
            .set((
                bookings::status.eq(status),
                bookings::start_at.eq(end - chrono::Duration::hours(1)),
                bookings::end_at.eq(end),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await
    .expect("write");
}

async fn close_in_the_past(db: &Db, reference: &str, days_ago: i64) {
    let reference = reference.to_string();
    let at: NaiveDateTime = Utc::now().naive_utc() - chrono::Duration::days(days_ago);
    db.write(move |conn| {
        diesel::update(inquiries::table.find(&reference))
            .set((inquiries::status.eq("closed"), inquiries::updated_at.eq(at)))
            .execute(conn)?;
        Ok(())
    })
    .await
    .expect("write");
}

async fn book(app: &TestApp, canary: &Canary, start: &str) -> Value {
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("Idempotency-Key", format!("key-{}", rand::random::<u64>()))
        .json(&canary.booking(start))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

async fn inquire(app: &TestApp, canary: &Canary) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/inquiries"))
        .header("Idempotency-Key", format!("key-{}", rand::random::<u64>()))
        .json(&canary.inquiry())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    reference(&body)
}

/// Waits until the mail worker has sent everything it was given.
async fn mails_delivered(app: &TestApp, count: usize) {
    app.mail
        .wait_for(count, Duration::from_secs(10), |_| true)
        .await;
}

async fn erasing_a_future_booking_cancels_it_frees_its_slot_and_keeps_statistics(backend: Backend) {
    let database = TestDatabase::create(backend);
    let app = spawn_on(database.clone(), |_| {}).await;
    let db = open(&database.url);
    let token = staff_token(&app, "reception").await;
    let date = open_day(3);
    let canary = Canary::new("erase");
    let booking = book(&app, &canary, &local(date, "10:00")).await;
    let reference = reference(&booking);
    let manage = crate::helpers::manage_token(&booking);
    mails_delivered(&app, 2).await;
    assert!(!app.slot_available(date, &local(date, "10:30")).await);

    let response = staff_delete(
        &app,
        &token,
        &format!("/api/v1/staff/bookings/{reference}/personal-data"),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let erased: Value = response.json().await.unwrap();
    assert_eq!(erased["reference"], reference.as_str());
    assert_eq!(erased["status"], "cancelled");
    assert_eq!(erased["type"], "stem-cell");
    assert_eq!(erased["name"], "");
    assert_eq!(erased["email"], "");
    assert_eq!(erased["phone"], "");
    assert_eq!(erased["message"], Value::Null);
    assert_eq!(erased["first_visit"], true);

    assert_nothing_of(&db, &canary).await;
    let row = booking_row(&db, &reference).await;
    assert_eq!(row.type_code, "stem-cell");
    assert_eq!(row.first_visit, Some(true));
    assert_eq!(row.source, None);
    assert_eq!(outbox_rows_of(&db, &reference).await, 0);
    assert_eq!(claims_of(&db, &reference).await, 0);
    assert!(app.slot_available(date, &local(date, "10:00")).await);
    assert!(app.slot_available(date, &local(date, "10:30")).await);
    // The manage link is dead; no cancellation mail went out.
    let gone = app
        .get(&format!("/api/v1/bookings/{reference}?token={manage}"))
        .await;
    assert_eq!(gone.status(), 404);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.mail.mails().len(), 2);

    let view: Value = staff_get(&app, &token, &format!("/api/v1/staff/bookings/{reference}"))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = view["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"booking.cancelled"), "{actions:?}");
    assert!(
        actions.contains(&"booking.personal_data_erased"),
        "{actions:?}"
    );

    let again = staff_delete(
        &app,
        &token,
        &format!("/api/v1/staff/bookings/{reference}/personal-data"),
    )
    .await;
    assert_eq!(again.status(), 200, "erasing twice is not an error");
    let changed = crate::staff_helpers::staff_patch(
        &app,
        &token,
        &reference,
        json!({"status": "confirmed", "staff_note": canary.name}),
    )
    .await;
    assert_eq!(changed.status(), 422, "an erased booking stays as it is");
    assert_nothing_of(&db, &canary).await;
}

async fn erasing_a_completed_booking_keeps_its_status_and_seats(backend: Backend) {
    let database = TestDatabase::create(backend);
    let app = spawn_on(database.clone(), |_| {}).await;
    let db = open(&database.url);
    let token = staff_token(&app, "reception").await;
    let canary = Canary::new("done");
    let booking = book(&app, &canary, &local(open_day(4), "11:00")).await;
    let reference = reference(&booking);
    crate::staff_helpers::patched(
        &app,
        &token,
        &reference,
        json!({"status": "completed", "staff_note": canary.message}),
    )
    .await;
    let claims = claims_of(&db, &reference).await;
    let response = staff_delete(
        &app,
        &token,
        &format!("/api/v1/staff/bookings/{reference}/personal-data"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let erased: Value = response.json().await.unwrap();
    assert_eq!(erased["status"], "completed");
    assert_nothing_of(&db, &canary).await;
    assert_eq!(claims_of(&db, &reference).await, claims);
}

async fn erasing_needs_a_staff_token_and_a_known_reference(backend: Backend) {
    let database = TestDatabase::create(backend);
    let app = spawn_on(database.clone(), |_| {}).await;
    let token = staff_token(&app, "reception").await;
    let canary = Canary::new("auth");
    let booking = book(&app, &canary, &local(open_day(3), "12:00")).await;
    let path = format!(
        "/api/v1/staff/bookings/{}/personal-data",
        reference(&booking)
    );
    let anonymous = app.client.delete(app.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = staff_delete(&app, "not-a-token", &path).await;
    assert_eq!(wrong.status(), 401);
    for unknown in ["ABCD-EFGH", "nonsense", "%00"] {
        let response = staff_delete(
            &app,
            &token,
            &format!("/api/v1/staff/bookings/{unknown}/personal-data"),
        )
        .await;
        assert_eq!(response.status(), 404, "{unknown}");
        let response = staff_delete(
            &app,
            &token,
            &format!("/api/v1/staff/inquiries/{unknown}/personal-data"),
        )
        .await;
        assert_eq!(response.status(), 404, "{unknown}");
    }
    let db = open(&database.url);
    let text = everything(&db).await;
    assert!(text.contains(&canary.email), "nothing was erased");
}

async fn erasing_an_inquiry_closes_it_and_deletes_its_mail(backend: Backend) {
    let database = TestDatabase::create(backend);
    let app = spawn_on(database.clone(), |_| {}).await;
    let db = open(&database.url);
    let token = staff_token(&app, "reception").await;
    let canary = Canary::new("inq");
    let reference = inquire(&app, &canary).await;
    let other = Canary::new("keep");
    let kept = inquire(&app, &other).await;
    mails_delivered(&app, 4).await;
    let response = staff_delete(
        &app,
        &token,
        &format!("/api/v1/staff/inquiries/{reference}/personal-data"),
    )
    .await;
    assert_eq!(response.status(), 204);
    assert_nothing_of(&db, &canary).await;
    assert_eq!(outbox_rows_of(&db, &reference).await, 0);
    assert_eq!(outbox_rows_of(&db, &kept).await, 2);
    assert!(everything(&db).await.contains(&other.email));
    let reference_copy = reference.clone();
    let row = db
        .read(move |conn| clinic_booking::db::inquiries::find(conn, &reference_copy))
        .await
        .unwrap()
        .expect("the inquiry stays");
    assert_eq!(row.status, "closed");
    assert_eq!(row.category, "treatment");
}

fn run_purge(url: &str, days: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_clinic-booking"))
        .args(["purge", "--older-than", days])
        .current_dir(dir.path())
        .env("CLINIC__DATABASE__URL", url)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run clinic-booking");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

async fn the_purge_command_anonymises_what_is_finished_and_old_only(backend: Backend) {
    let database = TestDatabase::create(backend);
    let app = spawn_on(database.clone(), |_| {}).await;
    let db = open(&database.url);
    let date = open_day(5);
    let old = Canary::new("old");
    let recent = Canary::new("recent");
    let active = Canary::new("active");
    let stale = Canary::new("stale");
    let old_inquiry = Canary::new("oldinq");
    let open_inquiry = Canary::new("openinq");
    let old_ref = reference(&book(&app, &old, &local(date, "10:00")).await);
    let recent_ref = reference(&book(&app, &recent, &local(date, "11:00")).await);
    let active_ref = reference(&book(&app, &active, &local(date, "12:00")).await);
    let stale_ref = reference(&book(&app, &stale, &local(date, "14:00")).await);
    let old_inq_ref = inquire(&app, &old_inquiry).await;
    inquire(&app, &open_inquiry).await;
    mails_delivered(&app, 12).await;
    finish_in_the_past(&db, &old_ref, "no_show", 40).await;
    // Left confirmed, never marked: ended long ago all the same.
    finish_in_the_past(&db, &stale_ref, "confirmed", 40).await;
    finish_in_the_past(&db, &recent_ref, "completed", 10).await;
    close_in_the_past(&db, &old_inq_ref, 40).await;

    let (ok, printed) = run_purge(&database.url, "30");
    assert!(ok, "{printed}");
    // Read what the other process wrote through connections opened after it.
    let db = open(&database.url);
    assert!(
        printed.contains("anonymised 2 bookings and 1 inquiries"),
        "{printed}"
    );
    for canary in [&old, &stale, &recent, &active, &old_inquiry, &open_inquiry] {
        for value in canary.values() {
            assert!(!printed.contains(value), "the summary names no one");
        }
    }
    assert_nothing_of(&db, &old).await;
    assert_nothing_of(&db, &stale).await;
    assert_nothing_of(&db, &old_inquiry).await;
    let text = everything(&db).await;
    for kept in [&recent, &active, &open_inquiry] {
        assert!(text.contains(&kept.email), "{} was kept", kept.email);
    }
    let row = booking_row(&db, &old_ref).await;
    assert_eq!(row.status.as_str(), "no_show");
    assert_eq!(row.type_code, "stem-cell");
    assert_eq!(row.first_visit, Some(true));
    assert_eq!(outbox_rows_of(&db, &old_ref).await, 0);
    assert_eq!(outbox_rows_of(&db, &old_inq_ref).await, 0);
    assert!(outbox_rows_of(&db, &active_ref).await > 0);

    let (ok, printed) = run_purge(&database.url, "30");
    assert!(ok);
    assert!(
        printed.contains("anonymised 0 bookings and 0 inquiries"),
        "{printed}"
    );
    let (ok, printed) = run_purge(&database.url, "soon");
    assert!(!ok, "{printed}");
}

async fn the_service_purges_on_its_own_by_the_configured_retention(backend: Backend) {
    let database = TestDatabase::create(backend);
    let first = spawn_on(database.clone(), |_| {}).await;
    let db = open(&database.url);
    let old = Canary::new("auto");
    let kept = Canary::new("autokeep");
    let old_ref = reference(&book(&first, &old, &local(open_day(3), "10:00")).await);
    book(&first, &kept, &local(open_day(3), "15:00")).await;
    let inquiry = inquire(&first, &old).await;
    mails_delivered(&first, 6).await;
    first.stop().await;
    finish_in_the_past(&db, &old_ref, "cancelled", 3).await;
    close_in_the_past(&db, &inquiry, 3).await;

    let _second = spawn_on(database.clone(), |settings| {
        settings.privacy.retention_days = 2;
        settings.privacy.inquiry_retention_days = 2;
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = everything(&db).await;
        if !old.values().iter().any(|value| text.contains(value)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not purged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(everything(&db).await.contains(&kept.email));
}

/// Sets an inquiry's status and last change, `days_ago` days back.
async fn left_in_the_past(db: &Db, reference: &str, status: &str, days_ago: i64) {
    let (reference, status) = (reference.to_string(), status.to_string());
    let at: NaiveDateTime = Utc::now().naive_utc() - chrono::Duration::days(days_ago);
    db.write(move |conn| {
        diesel::update(inquiries::table.find(&reference))
            .set((inquiries::status.eq(status), inquiries::updated_at.eq(at)))
            .execute(conn)?;
        Ok(())
    })
    .await
    .expect("write");
}

async fn an_inquiry_never_closed_is_purged_a_year_after_its_last_change(backend: Backend) {
    let database = TestDatabase::create(backend);
    let first = spawn_on(database.clone(), |_| {}).await;
    let db = open(&database.url);
    let forgotten = Canary::new("forgotten");
    let pending = Canary::new("pending");
    let current = Canary::new("current");
    let forgotten_ref = inquire(&first, &forgotten).await;
    let pending_ref = inquire(&first, &pending).await;
    let current_ref = inquire(&first, &current).await;
    mails_delivered(&first, 6).await;
    first.stop().await;
    left_in_the_past(&db, &forgotten_ref, "received", 366).await;
    left_in_the_past(&db, &pending_ref, "in_progress", 400).await;
    left_in_the_past(&db, &current_ref, "in_progress", 300).await;

    // The defaults: 365 days after the last change.
    let _second = spawn_on(database.clone(), |_| {}).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = everything(&db).await;
        let left = [&forgotten, &pending]
            .iter()
            .any(|canary| canary.values().iter().any(|value| text.contains(value)));
        if !left {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not purged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(everything(&db).await.contains(&current.email));
    for reference in [&forgotten_ref, &pending_ref] {
        let wanted = reference.clone();
        let row = db
            .read(move |conn| clinic_booking::db::inquiries::find(conn, &wanted))
            .await
            .unwrap()
            .expect("the inquiry stays for statistics");
        assert_eq!(row.status, "closed", "nobody is left to answer");
        assert_eq!(row.category, "treatment");
        assert_eq!(outbox_rows_of(&db, reference).await, 0);
    }
}

#[tokio::test]
async fn a_retention_of_zero_days_keeps_that_kind_for_ever() {
    let mut settings = Settings::defaults().unwrap();
    assert_eq!(settings.privacy.retention_days, 1825);
    assert_eq!(settings.privacy.inquiry_retention_days, 365);
    assert_eq!(settings.privacy.open_inquiry_retention_days, 365);
    settings.privacy.retention_days = 0;
    settings.privacy.idempotency_retention_hours = 0;
    settings.privacy.open_inquiry_retention_days = 0;
    let cutoffs = Cutoffs::from_settings(&settings, Utc::now());
    assert!(cutoffs.bookings.is_none());
    assert!(cutoffs.idempotency.is_none());
    assert!(cutoffs.open_inquiries.is_none());
    assert!(cutoffs.inquiries.is_some());
}

backend_tests!(
    erasing_a_future_booking_cancels_it_frees_its_slot_and_keeps_statistics,
    erasing_a_completed_booking_keeps_its_status_and_seats,
    erasing_needs_a_staff_token_and_a_known_reference,
    erasing_an_inquiry_closes_it_and_deletes_its_mail,
    the_purge_command_anonymises_what_is_finished_and_old_only,
    the_service_purges_on_its_own_by_the_configured_retention,
    an_inquiry_never_closed_is_purged_a_year_after_its_last_change,
);
