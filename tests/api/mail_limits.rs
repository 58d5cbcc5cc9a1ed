//! How long mail is retried, and how much of it goes out in an hour: the
//! retry window (`mail.retry_for_hours`), staff sending a failed message
//! again, and the global hourly cap (`mail.max_per_hour`).

use std::time::{Duration, Instant};

use clinic_booking::configuration::{MailSettings, Settings};
use clinic_booking::db::outbox::{self, OutboxSummary};
use clinic_booking::db::Db;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{local, open_day, spawn_app_with, spawn_on, Backend, TestApp, TestDatabase};
use crate::staff_helpers::{calendar_token, staff_get, staff_post, staff_token};
use smtp_sink::{free_port, SmtpSink};

const WAIT: Duration = Duration::from_secs(20);

fn all_mail(app: &TestApp) -> Vec<OutboxSummary> {
    let settings = Settings::defaults().unwrap();
    let db = Db::connect(&settings.database, &app.database_url()).unwrap();
    let mut conn = db.connection().unwrap();
    outbox::list(&mut conn, None, 1000).unwrap()
}

/// Polls the outbox until `done` holds for it.
async fn mail_until(
    app: &TestApp,
    what: &str,
    done: impl Fn(&[OutboxSummary]) -> bool,
) -> Vec<OutboxSummary> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mail = all_mail(app);
        if done(&mail) {
            return mail;
        }
        assert!(Instant::now() < deadline, "{what}: {mail:?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn post_inquiry(app: &TestApp) -> String {
    let response = app
        .post_json(
            "/api/v1/inquiries",
            &json!({
                "name": "問合 花子", "email": "hanako@example.jp",
                "message": "費用について", "consent": true,
            }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let receipt: Value = response.json().await.unwrap();
    receipt["reference"].as_str().unwrap().to_string()
}

/// A mail server that is down does not make a message fail after a number
/// of attempts: with the default window (72 hours) it is still waiting
/// after many more tries than the 30 that used to end it (about four hours
/// at the default delays).
async fn a_message_keeps_being_retried_past_thirty_attempts_within_its_window(backend: Backend) {
    let down = free_port();
    let app = spawn_app_with(backend, |settings| {
        // The shipped retry policy, its delays shortened.
        settings.mail = MailSettings {
            smtp_url: format!("smtp://127.0.0.1:{down}"),
            retry_initial_seconds: 0.005,
            retry_max_seconds: 0.01,
            poll_interval_ms: settings.mail.poll_interval_ms,
            file_dir: settings.mail.file_dir.clone(),
            ..Settings::defaults().unwrap().mail
        };
    })
    .await;
    let reference = post_inquiry(&app).await;
    let mail = mail_until(&app, "40 attempts", |mail| {
        mail.iter()
            .all(|m| m.attempts >= 40 || m.status != "pending")
    })
    .await;
    assert_eq!(mail.len(), 2);
    for message in &mail {
        assert_eq!(message.reference, reference);
        assert_eq!(message.status, "pending", "{message:?}");
        assert!(message.attempts >= 40, "{message:?}");
        let error = message.last_error.as_deref().unwrap_or_default();
        assert!(error.contains("cannot connect"), "{error}");
    }
}

/// Past its window a message fails; staff send it again once the server
/// is back, and it is delivered, once. Only a failed message can be sent
/// again; the action needs a full staff token and is audited.
async fn a_failed_message_is_sent_again_when_staff_ask(backend: Backend) {
    let port = free_port();
    let app = spawn_app_with(backend, |settings| {
        settings.mail.smtp_url = format!("smtp://127.0.0.1:{port}");
        settings.mail.retry_initial_seconds = 0.05;
        settings.mail.retry_max_seconds = 0.2;
        settings.mail.retry_for_hours = 1.0 / 3600.0;
    })
    .await;
    let token = staff_token(&app, "desk").await;
    let started = Instant::now();
    let reference = post_inquiry(&app).await;
    let failed = mail_until(&app, "failed after the window", |mail| {
        mail.len() == 2 && mail.iter().all(|m| m.status == "failed")
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "failed before its one-second window ended"
    );
    for message in &failed {
        assert!(
            message.attempts > 1,
            "retried within the window: {message:?}"
        );
    }
    let acknowledgement = failed
        .iter()
        .find(|m| m.kind == "inquiry_received")
        .unwrap()
        .id;
    let clinic_copy = failed
        .iter()
        .find(|m| m.kind == "clinic_inquiry")
        .unwrap()
        .id;

    let sink = SmtpSink::start_on(port);
    let retry = |id: i64| format!("/api/v1/staff/outbox/{id}/retry");
    let calendar = calendar_token(&app, "wall").await;
    let refused = staff_post(&app, &calendar, &retry(acknowledgement), json!({})).await;
    assert_eq!(refused.status(), 401);
    let response = staff_post(&app, &token, &retry(acknowledgement), json!({})).await;
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["id"], acknowledgement);
    assert_eq!(view["status"], "pending");
    assert_eq!(view["reference"], reference.as_str());

    let delivered = sink
        .wait_for(1, WAIT, |m| m.is_to("hanako@example.jp"))
        .await;
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].subject().contains(&reference));
    mail_until(&app, "recorded as sent", |mail| {
        mail.iter()
            .any(|m| m.id == acknowledgement && m.status == "sent")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.mails().len(), 1, "the clinic's copy stays failed");
    let copy = all_mail(&app)
        .into_iter()
        .find(|m| m.id == clinic_copy)
        .unwrap();
    assert_eq!(copy.status, "failed");

    // Sent (or waiting) messages are not sent again; unknown ids are 404.
    let again = staff_post(&app, &token, &retry(acknowledgement), json!({})).await;
    let problem = crate::helpers::assert_problem(again, 409, "status", "not_failed").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("失敗"),
        "{problem}"
    );
    let unknown = staff_post(&app, &token, &retry(acknowledgement + 1000), json!({})).await;
    assert_eq!(unknown.status(), 404);
    let malformed = staff_post(&app, &token, "/api/v1/staff/outbox/abc/retry", json!({})).await;
    assert_eq!(malformed.status(), 404);
    assert_eq!(
        staff_get(&app, &token, &retry(clinic_copy)).await.status(),
        405
    );

    let audit: Value = staff_get(&app, &token, "/api/v1/staff/audit")
        .await
        .json()
        .await
        .unwrap();
    let entries = audit["items"].as_array().unwrap();
    let retried: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "outbox.retried")
        .collect();
    assert_eq!(retried.len(), 1, "{audit}");
    assert_eq!(retried[0]["actor"], "desk");
    assert_eq!(retried[0]["reference"], reference.as_str());
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

/// Over `mail.max_per_hour` messages wait in the outbox (pending, not
/// dropped), a metric counts that the cap was reached, and they go once
/// the cap allows (here: a restart with a higher cap).
async fn over_the_hourly_cap_mail_waits_and_is_never_lost(backend: Backend) {
    let db = TestDatabase::create(backend);
    let app = spawn_on(db.clone(), |settings| settings.mail.max_per_hour = 3).await;
    let before = metric(&app.metrics().await, "mail_hourly_cap_reached_total");
    // Two bookings: two confirmations and two notices to the clinic.
    let day = open_day(3);
    let references = [
        app.book(&local(day, "10:00")).await,
        app.book(&local(day, "11:00")).await,
    ]
    .map(|booking| booking["reference"].as_str().unwrap().to_string());
    let sent = app.mail.wait_for(3, WAIT, |_| true).await;
    assert_eq!(sent.len(), 3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.mail.mails().len(), 3, "the fourth waits for the cap");
    let due: Vec<OutboxSummary> = all_mail(&app)
        .into_iter()
        .filter(|m| m.kind != "booking_reminder")
        .collect();
    let waiting: Vec<&OutboxSummary> = due.iter().filter(|m| m.status == "pending").collect();
    assert_eq!(waiting.len(), 1, "{due:?}");
    assert_eq!(waiting[0].attempts, 0, "waiting is not a failed attempt");
    assert_eq!(due.iter().filter(|m| m.status == "sent").count(), 3);
    let after = metric(&app.metrics().await, "mail_hourly_cap_reached_total");
    assert!(after >= before + 1.0, "{before} -> {after}");
    assert!(app.metrics().await.contains("mail_hourly_cap_holding"));

    app.stop().await;
    let restarted = spawn_on(db, |settings| settings.mail.max_per_hour = 10).await;
    let late = restarted.mail.wait_for(1, WAIT, |_| true).await;
    assert_eq!(late.len(), 1);
    let subjects: Vec<String> = sent.iter().chain(&late).map(|m| m.subject()).collect();
    assert_eq!(subjects.len(), 4);
    for reference in &references {
        let about = subjects.iter().filter(|s| s.contains(reference)).count();
        assert_eq!(about, 2, "{reference}: {subjects:?}");
    }
}

backend_tests!(
    a_message_keeps_being_retried_past_thirty_attempts_within_its_window,
    a_failed_message_is_sent_again_when_staff_ask,
    over_the_hourly_cap_mail_waits_and_is_never_lost,
);
