//! Email through the outbox, received by a real SMTP server: confirmations
//! with calendar files, updates, the clinic's notices, outages, permanent
//! rejections, the per-recipient cap, reminders and several instances.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clinic_booking::configuration::Settings;
use clinic_booking::db::outbox::{self, OutboxSummary};
use clinic_booking::db::Db;
use clinic_booking::server_key::ServerKey;
use diesel::RunQueryDsl;
use icalendar::{Calendar, Component, EventStatus};
use serde_json::{json, Value};
use smtp_sink::{free_port, Mail, SmtpSink};

use crate::backend_tests;
use crate::helpers::{
    booking_body, local, manage_token, open_day, spawn_app, spawn_app_with, spawn_on, Backend,
    TestApp, TestDatabase, TEST_KEY,
};

const CLINIC_INBOX: &str = "info@n2clinic-ginza.com";
const PATIENT: &str = "taro@example.jp";
pub(crate) const WAIT: Duration = Duration::from_secs(15);

fn db_of(app: &TestApp) -> Db {
    let settings = Settings::defaults().unwrap();
    Db::connect(&settings.database, &app.database_url()).unwrap()
}

fn outbox_of(app: &TestApp, reference: &str) -> Vec<OutboxSummary> {
    let db = db_of(app);
    let mut conn = db.connection().unwrap();
    outbox::for_reference(&mut conn, reference).unwrap()
}

pub(crate) fn run_sql(app: &TestApp, sql: &str) {
    let db = db_of(app);
    let mut conn = db.connection().unwrap();
    diesel::sql_query(sql).execute(&mut *conn).unwrap();
}

fn parse_ics(mail: &Mail) -> (Calendar, Option<String>) {
    let (text, method) = mail.ics().expect("an .ics attachment");
    (text.parse().expect("the .ics parses"), method)
}

fn start_of(calendar: &Calendar) -> DateTime<Utc> {
    match calendar.events().next().unwrap().get_start().unwrap() {
        icalendar::DatePerhapsTime::DateTime(at) => at.try_into_utc().unwrap(),
        other => panic!("a date without time: {other:?}"),
    }
}

fn utc(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

async fn a_booking_sends_a_confirmation_with_a_calendar_file_and_notifies_the_clinic(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let booking = app.book(&local(day, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap().to_string();
    let mails = app
        .mail
        .wait_for(2, WAIT, |m| m.subject().contains(&reference))
        .await;
    assert_eq!(mails.len(), 2);

    let confirmation = mails.iter().find(|m| m.is_to(PATIENT)).unwrap();
    assert_eq!(confirmation.to, vec![PATIENT.to_string()]);
    assert_eq!(confirmation.from, "noreply@n2clinic-ginza.com");
    assert!(confirmation.subject().contains("ご予約を承りました"));
    let text = confirmation.text();
    let weekday = ["月", "火", "水", "木", "金", "土", "日"]
        [chrono::Datelike::weekday(&day).num_days_from_monday() as usize];
    let when = format!(
        "{}年{}月{}日({weekday}) 10:00〜10:30",
        chrono::Datelike::year(&day),
        chrono::Datelike::month(&day),
        chrono::Datelike::day(&day)
    );
    for expected in [
        "予約 太郎 様",
        reference.as_str(),
        "無料カウンセリング・診察",
        when.as_str(),
        booking["manage_url"].as_str().unwrap(),
        "東京都中央区銀座",
        "03-3289-0202",
        "10:00〜18:30",
        "お薬手帳",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let (calendar, method) = parse_ics(confirmation);
    assert_eq!(method.as_deref(), Some("PUBLISH"));
    assert_eq!(calendar.property_value("METHOD"), Some("PUBLISH"));
    assert_eq!(start_of(&calendar), utc(booking["start"].as_str().unwrap()));
    let event = calendar.events().next().unwrap();
    assert_eq!(
        event.get_uid(),
        Some(format!("booking-{reference}@clinic-booking").as_str())
    );
    assert_eq!(event.get_sequence(), Some(0));

    let notice = mails.iter().find(|m| m.is_to(CLINIC_INBOX)).unwrap();
    let text = notice.text();
    for expected in [
        "新しいご予約",
        "予約 太郎",
        "ヨヤク タロウ",
        PATIENT,
        "090-1234-5678",
        "初診",
        "右膝が痛みます。",
        when.as_str(),
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(notice.ics().is_none());
}

async fn a_reschedule_and_a_cancellation_update_the_patients_calendar(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let booking = app.book(&local(day, "11:00")).await;
    let reference = booking["reference"].as_str().unwrap().to_string();
    let token = manage_token(&booking);
    let moved = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{reference}/reschedule?token={token}"
        )))
        .json(&json!({"start": local(day, "15:30")}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    let moved: Value = moved.json().await.unwrap();
    let cancelled = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{reference}/cancel?token={token}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);

    let patient = app
        .mail
        .wait_for(3, WAIT, |m| {
            m.is_to(PATIENT) && m.subject().contains(&reference)
        })
        .await;
    assert_eq!(patient.len(), 3);
    let calendars: Vec<(Calendar, Option<String>)> = patient.iter().map(parse_ics).collect();
    let uids: Vec<String> = calendars
        .iter()
        .map(|(c, _)| c.events().next().unwrap().get_uid().unwrap().to_string())
        .collect();
    assert!(uids.iter().all(|uid| uid == &uids[0]), "one UID: {uids:?}");
    let sequences: Vec<u32> = calendars
        .iter()
        .map(|(c, _)| c.events().next().unwrap().get_sequence().unwrap())
        .collect();
    assert!(
        sequences[0] < sequences[1] && sequences[1] < sequences[2],
        "{sequences:?}"
    );

    let rescheduled = &patient[1];
    assert!(rescheduled.subject().contains("変更"));
    assert!(rescheduled.text().contains("15:30〜16:00"));
    assert!(rescheduled.text().contains("変更前"));
    assert!(
        !rescheduled.text().contains("token="),
        "no manage token after booking"
    );
    assert_eq!(
        start_of(&calendars[1].0),
        utc(moved["start"].as_str().unwrap())
    );

    let cancellation = &patient[2];
    assert!(cancellation.subject().contains("キャンセル"));
    assert_eq!(calendars[2].1.as_deref(), Some("CANCEL"));
    assert_eq!(calendars[2].0.property_value("METHOD"), Some("CANCEL"));
    assert_eq!(
        calendars[2].0.events().next().unwrap().get_status(),
        Some(EventStatus::Cancelled)
    );

    let clinic = app
        .mail
        .wait_for(3, WAIT, |m| {
            m.is_to(CLINIC_INBOX) && m.subject().contains(&reference)
        })
        .await;
    assert_eq!(
        clinic.len(),
        3,
        "the clinic hears of booking, move and cancellation"
    );
    assert!(clinic[1].text().contains("日時変更"));
    assert!(clinic[2].text().contains("キャンセル"));
}

async fn mail_waits_out_an_smtp_outage_and_arrives_exactly_once(backend: Backend) {
    let port = free_port();
    let app = spawn_app_with(backend, |settings| {
        settings.mail.smtp_url = format!("smtp://127.0.0.1:{port}");
    })
    .await;
    let mut references = Vec::new();
    for i in 0..20 {
        let day = open_day(2 + i / 10);
        let time = format!("{:02}:{:02}", 10 + (i % 10) / 2, (i % 2) * 30);
        let mut body = booking_body(&local(day, &time));
        body["email"] = json!(format!("patient{i}@example.jp"));
        let started = Instant::now();
        let response = app.post_booking(&body).await;
        assert_eq!(response.status(), 201);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a booking does not wait for the mail server"
        );
        let booking: Value = response.json().await.unwrap();
        references.push(booking["reference"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sink = SmtpSink::start_on(port);
    let mails = sink.wait_for(40, Duration::from_secs(30), |_| true).await;
    assert_eq!(mails.len(), 40);
    // Let any duplicate show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 40, "nothing twice");
    for (i, reference) in references.iter().enumerate() {
        let patient = format!("patient{i}@example.jp");
        let to_patient: Vec<&Mail> = mails.iter().filter(|m| m.is_to(&patient)).collect();
        assert_eq!(to_patient.len(), 1, "one confirmation to {patient}");
        assert!(to_patient[0].subject().contains(reference));
        let to_clinic = mails
            .iter()
            .filter(|m| m.is_to(CLINIC_INBOX) && m.subject().contains(reference))
            .count();
        assert_eq!(to_clinic, 1, "one notification of {reference}");
    }
}

async fn a_permanently_rejected_message_ends_failed_after_the_configured_attempts(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.mail.reject_with_550();
    let booking = app.book(&local(open_day(3), "12:00")).await;
    let reference = booking["reference"].as_str().unwrap().to_string();
    let deadline = Instant::now() + WAIT;
    let failed = loop {
        let messages = outbox_of(&app, &reference);
        let sendable: Vec<&OutboxSummary> = messages
            .iter()
            .filter(|m| m.kind != "booking_reminder")
            .collect();
        if sendable.len() == 2 && sendable.iter().all(|m| m.status == "failed") {
            break messages;
        }
        assert!(
            Instant::now() < deadline,
            "not failed in time: {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for message in failed.iter().filter(|m| m.kind != "booking_reminder") {
        assert_eq!(message.attempts, 3, "{message:?}");
        let error = message.last_error.as_deref().unwrap();
        assert!(error.contains("550"), "{error}");
        assert!(!error.contains('@'), "no address in {error}");
    }
    // Given up for good: no further attempts.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.mail.rejected(), 6);
    let db = db_of(&app);
    let mut conn = db.connection().unwrap();
    let counts: HashMap<String, i64> = outbox::count_by_status(&mut conn)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(counts.get("failed"), Some(&2));
    let listed = outbox::list(&mut conn, Some("failed"), 100).unwrap();
    assert_eq!(listed.len(), 2);
}

async fn a_patient_gets_at_most_the_hourly_cap_but_the_clinic_hears_of_every_booking(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |settings| {
        settings.mail.max_per_recipient_per_hour = 2;
    })
    .await;
    let day = open_day(3);
    let mut references = Vec::new();
    // The same inbox, however its local part is capitalised.
    for (time, email) in [
        ("10:00", PATIENT),
        ("10:30", PATIENT),
        ("11:00", "TARO@example.jp"),
    ] {
        let mut body = booking_body(&local(day, time));
        body["email"] = json!(email);
        let response = app.post_booking(&body).await;
        assert_eq!(response.status(), 201, "the booking stands over the cap");
        let booking: Value = response.json().await.unwrap();
        references.push(booking["reference"].as_str().unwrap().to_string());
    }
    let clinic = app.mail.wait_for(3, WAIT, |m| m.is_to(CLINIC_INBOX)).await;
    assert_eq!(clinic.len(), 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.mail.mails_to(PATIENT).len(), 2);
    let third = outbox_of(&app, &references[2]);
    let confirmation = third
        .iter()
        .find(|m| m.kind == "booking_confirmed")
        .unwrap();
    assert_eq!(confirmation.status, "suppressed");
}

async fn tagged_and_dotted_spellings_of_one_mailbox_share_its_hourly_cap(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.mail.max_per_recipient_per_hour = 2;
    })
    .await;
    let day = open_day(3);
    let mut references = Vec::new();
    for (time, email) in [
        ("10:00", "taro.yamada@gmail.com"),
        ("10:30", "taroyamada+1@gmail.com"),
        ("11:00", "Taro.Yamada+2@googlemail.com"),
    ] {
        let mut body = booking_body(&local(day, time));
        body["email"] = json!(email);
        let response = app.post_booking(&body).await;
        assert_eq!(response.status(), 201);
        let booking: Value = response.json().await.unwrap();
        references.push(booking["reference"].as_str().unwrap().to_string());
    }
    let statuses: Vec<String> = references
        .iter()
        .map(|reference| {
            outbox_of(&app, reference)
                .into_iter()
                .find(|m| m.kind == "booking_confirmed")
                .unwrap()
                .status
        })
        .collect();
    assert_ne!(statuses[0], "suppressed");
    assert_ne!(statuses[1], "suppressed");
    assert_eq!(statuses[2], "suppressed", "{statuses:?}");
}

/// Messages written before the cap's keys existed count against it after
/// an upgrade; the reminders, which the cap never counts, stay unkeyed.
async fn messages_from_before_the_upgrade_count_against_the_hourly_cap(backend: Backend) {
    let db = TestDatabase::create(backend);
    let cap = |settings: &mut Settings| settings.mail.max_per_recipient_per_hour = 2;
    let app = spawn_on(db.clone(), cap).await;
    for time in ["10:00", "10:30"] {
        app.book(&local(open_day(3), time)).await;
    }
    app.stop().await;
    // As a database from before the upgrade holds them: without a key.
    run_sql(&app, "UPDATE outbox SET recipient_key = NULL");
    let upgraded = spawn_on(db, cap).await;
    let third = upgraded.book(&local(open_day(3), "11:00")).await;
    let messages = outbox_of(&upgraded, third["reference"].as_str().unwrap());
    let confirmation = messages.iter().find(|m| m.kind == "booking_confirmed");
    assert_eq!(confirmation.unwrap().status, "suppressed");
    let of_kind = |kind: &str, keyed: &str| {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM outbox WHERE kind = '{kind}' AND recipient_key IS {keyed}"
        );
        count(&upgraded, &sql)
    };
    assert_eq!(of_kind("booking_confirmed", "NOT NULL"), 3);
    assert_eq!(of_kind("booking_reminder", "NULL"), 3);
}

async fn a_reminder_goes_out_once_for_a_confirmed_booking(backend: Backend) {
    let app = spawn_app(backend).await;
    let booking = app.book(&local(open_day(3), "13:00")).await;
    let reference = booking["reference"].as_str().unwrap().to_string();
    let reminder = outbox_of(&app, &reference)
        .into_iter()
        .find(|m| m.kind == "booking_reminder")
        .expect("a reminder is scheduled");
    assert_eq!(reminder.status, "pending");
    let start = utc(booking["start"].as_str().unwrap()).naive_utc();
    assert_eq!(
        start - reminder.next_attempt_at,
        chrono::Duration::hours(24)
    );
    // The day before has come.
    run_sql(
        &app,
        &format!(
            "UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00' WHERE id = {}",
            reminder.id
        ),
    );
    let reminders = app
        .mail
        .wait_for(1, WAIT, |m| m.subject().contains("ご予約日時のお知らせ"))
        .await;
    assert_eq!(reminders.len(), 1);
    assert!(reminders[0].is_to(PATIENT));
    assert!(reminders[0].text().contains(&reference));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = app
        .mail
        .mails()
        .into_iter()
        .filter(|m| m.subject().contains("ご予約日時のお知らせ"))
        .count();
    assert_eq!(sent, 1, "sent once");
}

async fn no_reminder_goes_out_for_a_cancelled_booking(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    // Cancelled by the patient: the reminder is withdrawn at once.
    let booking = app.book(&local(day, "14:00")).await;
    let reference = booking["reference"].as_str().unwrap().to_string();
    let token = manage_token(&booking);
    let cancelled = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{reference}/cancel?token={token}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    // Cancelled behind the outbox's back (as a staff tool might): the worker
    // checks again when the reminder is due.
    let other = app.book(&local(day, "16:00")).await;
    let other_reference = other["reference"].as_str().unwrap().to_string();
    run_sql(
        &app,
        &format!("UPDATE bookings SET status = 'cancelled' WHERE reference = '{other_reference}'"),
    );
    run_sql(
        &app,
        "UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00' WHERE kind = 'booking_reminder'",
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let reminders: Vec<OutboxSummary> = [&reference, &other_reference]
            .iter()
            .flat_map(|r| outbox_of(&app, r))
            .filter(|m| m.kind == "booking_reminder")
            .collect();
        if reminders.len() == 2 && reminders.iter().all(|m| m.status == "cancelled") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reminders not withdrawn: {reminders:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app
        .mail
        .mails()
        .iter()
        .all(|m| !m.subject().contains("ご予約日時のお知らせ")));
}

/// Several instances share PostgreSQL only; SQLite is single-instance.
async fn two_instances_on_one_database_never_send_a_message_twice() {
    let sink = SmtpSink::start();
    let url = sink.url();
    let db = TestDatabase::create(Backend::Postgres);
    let first = spawn_on(db.clone(), |s| s.mail.smtp_url = url.clone()).await;
    let second = spawn_on(db.clone(), |s| s.mail.smtp_url = url.clone()).await;
    let day = open_day(2);
    for i in 0..12 {
        let app = if i % 2 == 0 { &first } else { &second };
        let time = format!("{:02}:{:02}", 10 + i / 2, (i % 2) * 30);
        let mut body = booking_body(&local(day, &time));
        body["email"] = json!(format!("twin{i}@example.jp"));
        assert_eq!(app.post_booking(&body).await.status(), 201);
    }
    let mails = sink.wait_for(24, WAIT, |_| true).await;
    assert_eq!(mails.len(), 24);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 24, "nothing sent twice");
    let mut ids: Vec<String> = mails
        .iter()
        .map(|m| {
            mail_parser::MessageParser::default()
                .parse(&m.raw)
                .and_then(|p| p.message_id().map(str::to_string))
                .unwrap()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 24);
}

/// A pending message, due a second ago.
fn due_message(
    conn: &mut clinic_booking::db::DbConnection,
    kind: &str,
    reference: &str,
    recipient: &str,
) -> i64 {
    let now = Utc::now().naive_utc();
    let audience = if recipient == CLINIC_INBOX {
        "clinic"
    } else {
        "patient"
    };
    let key = ServerKey::from_material(TEST_KEY.as_bytes()).unwrap();
    outbox::insert(
        conn,
        &outbox::NewOutboxRow {
            kind: kind.into(),
            audience: audience.into(),
            reference: reference.into(),
            recipient: recipient.into(),
            subject: "件名".into(),
            body: "本文".into(),
            ics: None,
            kept: outbox::Kept::of(kind, audience, recipient, "本文", None, &key).unwrap(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: now - chrono::Duration::seconds(1),
            locked_until: None,
            lease_owner: None,
            created_at: now,
            updated_at: now,
        },
    )
    .unwrap()
}

/// An idle mail poll on PostgreSQL reads the due index, however many sent
/// messages and waiting reminders the outbox holds: planned as an unordered
/// LIMIT 1, it scanned the whole table to find that nothing was due.
async fn an_idle_mail_poll_on_postgres_reads_the_due_index_not_the_table() {
    use diesel::Connection;
    let app = spawn_app(Backend::Postgres).await;
    // A year of sent mail, and reminders waiting for their day.
    run_sql(
        &app,
        "INSERT INTO outbox (kind, audience, reference, recipient, status, attempts,
             next_attempt_at, created_at, updated_at)
         SELECT CASE WHEN i % 4 = 0 THEN 'booking_reminder' ELSE 'booking_confirmed' END,
             'patient', 'R' || i, 'taro@example.jp',
             CASE WHEN i % 4 = 0 THEN 'pending' ELSE 'sent' END, 0,
             CASE WHEN i % 4 = 0 THEN now() + interval '3 days'
                 ELSE now() - interval '1 day' * (i % 365) END,
             now(), now()
         FROM generate_series(1, 20000) AS i",
    );
    run_sql(&app, "ANALYZE outbox");
    let db = db_of(&app);
    let mut conn = db.connection().unwrap();
    let table_scans = conn
        .transaction(|conn| {
            let now = Utc::now().naive_utc();
            for _ in 0..10 {
                assert!(!outbox::has_due(conn, now)?, "nothing is due");
            }
            let sql = "SELECT seq_scan AS n FROM pg_stat_xact_user_tables WHERE relname = 'outbox'";
            Ok::<_, clinic_booking::error::ApiError>(
                diesel::sql_query(sql).get_result::<Count>(conn)?.n,
            )
        })
        .unwrap();
    assert_eq!(table_scans, 0);
}

/// Two workers claiming at the same moment on PostgreSQL get different
/// messages, and the second does not wait for the first one's commit.
async fn concurrent_claims_on_postgres_skip_each_others_rows() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let (_test_db, db) = TestDatabase::migrated(Backend::Postgres);
    let mut first = db.connection().unwrap();
    let ids: Vec<i64> = (1..=4)
        .map(|i| {
            due_message(
                &mut first,
                "booking_confirmed",
                &format!("S000000000{i}"),
                &format!("p{i}@example.jp"),
            )
        })
        .collect();
    let mut second = db.connection().unwrap();
    // Without SKIP LOCKED the second claim would wait for the first one's
    // transaction, which this thread holds open: fail instead of hanging.
    second
        .batch_execute("SET statement_timeout = '3s'")
        .unwrap();
    let now = Utc::now().naive_utc();
    let lease = now + chrono::Duration::seconds(300);
    let (mine, theirs) = first
        .transaction::<_, diesel::result::Error, _>(|first| {
            let mine = outbox::claim_due(first, "one", now, lease, 2).unwrap();
            let theirs = outbox::claim_due(&mut second, "two", now, lease, 8)
                .expect("the second claim does not wait for the first");
            Ok((mine, theirs))
        })
        .unwrap();
    let ids_of = |rows: &[outbox::OutboxRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids_of(&mine), ids[..2].to_vec());
    assert_eq!(ids_of(&theirs), ids[2..].to_vec());
}

/// The worker's batch claim, on the database alone: a batch never holds two
/// messages to one person about one booking, respects its size, and what a
/// worker gives back untried is claimable again with no attempt counted.
async fn a_batch_claim_keeps_each_persons_mail_in_order_and_gives_back_what_was_not_tried(
    backend: Backend,
) {
    let (_test_db, db) = TestDatabase::migrated(backend);
    let mut conn = db.connection().unwrap();
    let now = Utc::now().naive_utc();
    let lease = now + chrono::Duration::seconds(300);
    let mut add = |kind: &str, reference: &str, recipient: &str| {
        due_message(&mut conn, kind, reference, recipient)
    };
    let confirmed = add("booking_confirmed", "S0000000001", PATIENT);
    let clinic = add("clinic_booking_confirmed", "S0000000001", CLINIC_INBOX);
    let cancelled = add("booking_cancelled", "S0000000001", PATIENT);
    let other = add("booking_confirmed", "S0000000002", "hanako@example.jp");
    let ids = |rows: Vec<outbox::OutboxRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();

    assert_eq!(
        ids(outbox::claim_due(&mut conn, "one", now, lease, 2).unwrap()),
        vec![confirmed, clinic],
        "the batch size is respected"
    );
    assert_eq!(
        ids(outbox::claim_due(&mut conn, "two", now, lease, 8).unwrap()),
        vec![other],
        "the cancellation waits for the confirmation still in hand"
    );
    assert_eq!(
        outbox::release(&mut conn, &[confirmed], "two").unwrap(),
        0,
        "not its lease"
    );
    assert_eq!(outbox::release(&mut conn, &[confirmed], "one").unwrap(), 1);
    assert_eq!(
        ids(outbox::claim_due(&mut conn, "three", now, lease, 8).unwrap()),
        vec![confirmed],
        "given back, and still ahead of the cancellation"
    );
    let again = outbox::for_reference(&mut conn, "S0000000001").unwrap();
    assert!(again
        .iter()
        .all(|m| m.attempts == 0 && m.status == "pending"));
    assert!(again.iter().any(|m| m.id == cancelled));
}

/// A batch hands its messages over in the order they came due: one that
/// failed and is due again goes behind one its batch did not get to, so a
/// message retried at every claim cannot keep the others from being tried.
async fn a_batch_claim_puts_a_message_retried_behind_those_not_yet_tried(backend: Backend) {
    let (_test_db, db) = TestDatabase::migrated(backend);
    let mut conn = db.connection().unwrap();
    let first = due_message(&mut conn, "booking_confirmed", "S0000000001", PATIENT);
    let second = due_message(
        &mut conn,
        "booking_confirmed",
        "S0000000002",
        "hanako@example.jp",
    );
    let now = Utc::now().naive_utc();
    let lease = now + chrono::Duration::seconds(300);
    let ids = |rows: Vec<outbox::OutboxRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();

    assert_eq!(
        ids(outbox::claim_due(&mut conn, "one", now, lease, 8).unwrap()),
        vec![first, second]
    );
    // The batch stopped at the first message's temporary failure, its
    // retry already due, and gave the second back untried.
    let retry = outbox::Outcome::Retry {
        at: now - chrono::Duration::milliseconds(500),
        error: "cannot connect".into(),
        failing_since: now,
    };
    assert!(outbox::record_attempt(&mut conn, first, "one", &retry, now).unwrap());
    assert_eq!(outbox::release(&mut conn, &[second], "one").unwrap(), 1);

    assert_eq!(
        ids(outbox::claim_due(&mut conn, "one", now, lease, 8).unwrap()),
        vec![second, first],
        "the message not yet tried comes first"
    );
}

async fn without_an_smtp_server_mail_is_written_as_eml_files(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mail");
    let file_dir = path.display().to_string();
    let app = spawn_app_with(backend, |settings| {
        settings.mail.smtp_url = String::new();
        settings.mail.file_dir = file_dir;
    })
    .await;
    let booking = app.book(&local(open_day(3), "17:00")).await;
    let reference = booking["reference"].as_str().unwrap().to_string();
    let deadline = Instant::now() + WAIT;
    let files = loop {
        let files: Vec<Vec<u8>> = std::fs::read_dir(&path)
            .unwrap()
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().extension().is_some_and(|e| e == "eml"))
            .map(|entry| std::fs::read(entry.path()).unwrap())
            .collect();
        if files.len() >= 2 || Instant::now() >= deadline {
            break files;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(files.len(), 2);
    let mails: Vec<Mail> = files
        .into_iter()
        .map(|raw| Mail {
            from: String::new(),
            to: Vec::new(),
            raw,
        })
        .collect();
    assert!(mails.iter().all(|m| m.subject().contains(&reference)));
    assert!(mails.iter().any(|m| m.ics().is_some()));
    assert!(app.mail.mails().is_empty(), "nothing went to SMTP");
}

async fn an_invalid_sender_address_stops_start_up(backend: Backend) {
    let db = TestDatabase::create(backend);
    let mut settings = crate::helpers::test_settings(&db);
    settings.mail.from = "N2クリニック <not an address>".into();
    let error = clinic_booking::startup::Application::build(settings)
        .await
        .err()
        .expect("start-up fails")
        .to_string();
    assert!(error.contains("mail.from"), "{error}");
}

async fn stopping_the_service_stops_the_mail_worker(backend: Backend) {
    let db = TestDatabase::create(backend);
    let sink = SmtpSink::start();
    let mut settings = crate::helpers::test_settings(&db);
    settings.mail.smtp_url = sink.url();
    let app = clinic_booking::startup::Application::build(settings)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    let response = reqwest::Client::new()
        .post(format!("{address}/api/v1/bookings"))
        .json(&booking_body(&local(open_day(3), "10:00")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(sink.wait_for(2, WAIT, |_| true).await.len(), 2);
    handle.stop(true).await;
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("server and mail worker stop in time")
        .unwrap()
        .unwrap();
}

/// A server that accepts connections and never says a word: a delivery to
/// it waits out `mail.smtp_timeout_seconds`.
async fn silent_smtp_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    port
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(app: &TestApp, sql: &str) -> i64 {
    let db = db_of(app);
    let mut conn = db.connection().unwrap();
    diesel::sql_query(sql)
        .get_result::<Count>(&mut *conn)
        .unwrap()
        .n
}

/// A new booking's mail is stored leased to its instance's worker and handed
/// to it in memory. What that worker has not tried when the service stops
/// goes back to the database at once (not leased for minutes), and a
/// restart sends it, once.
async fn mail_handed_over_and_not_sent_at_a_stop_is_sent_once_after_a_restart(backend: Backend) {
    let db = TestDatabase::create(backend);
    let silent = silent_smtp_server().await;
    let app = spawn_on(db.clone(), |settings| {
        settings.mail.smtp_url = format!("smtp://127.0.0.1:{silent}");
        settings.mail.smtp_timeout_seconds = 2;
        settings.mail.concurrent_deliveries = 1;
    })
    .await;
    // The one delivery takes the first booking's two messages and waits on
    // the silent server; the next bookings' messages wait in memory.
    let mut references = vec![app.book(&local(open_day(3), "10:00")).await];
    tokio::time::sleep(Duration::from_millis(300)).await;
    for time in ["11:00", "12:00"] {
        references.push(app.book(&local(open_day(3), time)).await);
    }
    let leased = "SELECT COUNT(*) AS n FROM outbox WHERE lease_owner IS NOT NULL";
    assert!(count(&app, leased) >= 4, "fresh mail is stored leased");
    app.stop().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&app, leased) > 0 {
        assert!(
            Instant::now() < deadline,
            "mail stays leased after the service stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = "SELECT COUNT(*) AS n FROM outbox WHERE status <> 'pending'";
    assert_eq!(count(&app, sent), 0);

    let restarted = spawn_on(db, |_| {}).await;
    let mails = restarted.mail.wait_for(6, WAIT, |_| true).await;
    assert_eq!(mails.len(), 6);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = restarted.mail.mails();
    assert_eq!(mails.len(), 6, "nothing twice");
    for booking in &references {
        let reference = booking["reference"].as_str().unwrap();
        let about = mails
            .iter()
            .filter(|m| m.subject().contains(reference))
            .count();
        assert_eq!(about, 2, "the confirmation and the notice of {reference}");
    }
}

backend_tests!(
    mail_handed_over_and_not_sent_at_a_stop_is_sent_once_after_a_restart,
    a_booking_sends_a_confirmation_with_a_calendar_file_and_notifies_the_clinic,
    a_reschedule_and_a_cancellation_update_the_patients_calendar,
    mail_waits_out_an_smtp_outage_and_arrives_exactly_once,
    a_permanently_rejected_message_ends_failed_after_the_configured_attempts,
    a_patient_gets_at_most_the_hourly_cap_but_the_clinic_hears_of_every_booking,
    tagged_and_dotted_spellings_of_one_mailbox_share_its_hourly_cap,
    messages_from_before_the_upgrade_count_against_the_hourly_cap,
    a_reminder_goes_out_once_for_a_confirmed_booking,
    no_reminder_goes_out_for_a_cancelled_booking,
    a_batch_claim_keeps_each_persons_mail_in_order_and_gives_back_what_was_not_tried,
    a_batch_claim_puts_a_message_retried_behind_those_not_yet_tried,
    without_an_smtp_server_mail_is_written_as_eml_files,
    an_invalid_sender_address_stops_start_up,
    stopping_the_service_stops_the_mail_worker;
    postgres_only:
    an_idle_mail_poll_on_postgres_reads_the_due_index_not_the_table,
    two_instances_on_one_database_never_send_a_message_twice,
    concurrent_claims_on_postgres_skip_each_others_rows,
);
