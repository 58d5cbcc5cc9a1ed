//! Webhooks: every event reaches a real HTTP receiver that checks it as
//! the Standard Webhooks specification says, once per id and in order per
//! booking, across an outage, a secret rotation, a staff retry and an
//! erasure; and staff see the deliveries.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clinic_booking::webhooks::EndpointSettings;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{
    assert_problem, local, manage_token, open_day, spawn_app_with, spawn_on, Backend, TestApp,
    TestDatabase,
};
use crate::staff_helpers::{
    reference, staff_delete, staff_get, staff_patch, staff_post, staff_token,
};
use crate::webhook_receiver::{Received, WebhookReceiver};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Another key of 32 bytes, for rotations.
const NEW_SECRET: &str = "whsec_S2V5IG9mIHRoZSBuZXh0IHllYXIsIDMyIGJ5dGVzISE=";
const UNRELATED_SECRET: &str = "whsec_VW5yZWxhdGVkIGtleSwgZm9yIG5vYm9keSEhISEhISE=";

fn receiver_at(url: String, secret: &str) -> EndpointSettings {
    EndpointSettings {
        url,
        secret: SecretString::from(secret),
        previous_secrets: Vec::new(),
        events: None,
        include_personal_data: false,
    }
}

/// An app posting to `endpoints`, retrying fast.
async fn app_with(backend: Backend, endpoints: Vec<EndpointSettings>) -> TestApp {
    app_tuned(backend, endpoints, |_| {}).await
}

async fn app_tuned(
    backend: Backend,
    endpoints: Vec<EndpointSettings>,
    tune: impl FnOnce(&mut clinic_booking::configuration::Settings),
) -> TestApp {
    spawn_app_with(backend, |settings| {
        settings.webhooks.endpoints = endpoints;
        settings.webhooks.retry_initial_seconds = 0.05;
        settings.webhooks.retry_max_seconds = 0.2;
        settings.webhooks.poll_interval_ms = 20;
        tune(settings);
    })
    .await
}

async fn reschedule(app: &TestApp, booking: &Value, start: &str) {
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{}/reschedule",
            reference(booking)
        )))
        .bearer_auth(manage_token(booking))
        .json(&json!({"start": start}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn cancel(app: &TestApp, booking: &Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{}/cancel", reference(booking))))
        .bearer_auth(manage_token(booking))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn inquire(app: &TestApp) -> String {
    let response = app
        .post_json(
            "/api/v1/inquiries",
            &json!({"name": "問合 花子", "email": "hanako@example.jp", "phone": "03-1234-5678",
                    "message": "費用について", "consent": true}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let receipt: Value = response.json().await.unwrap();
    receipt["reference"].as_str().unwrap().to_string()
}

fn kinds_for<'a>(received: &'a [Received], path: &str, reference: &str) -> Vec<&'a str> {
    received
        .iter()
        .filter(|r| r.path == path && r.reference() == reference)
        .map(Received::kind)
        .collect()
}

fn is_rfc3339(text: &Value) -> bool {
    text.as_str()
        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
}

async fn deliveries(app: &TestApp, token: &str, query: &str) -> Value {
    let response = staff_get(
        app,
        token,
        &format!("/api/v1/staff/webhooks/deliveries{query}"),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// Polls the staff list until `done` holds for its items.
async fn deliveries_until(
    app: &TestApp,
    token: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = deliveries(app, token, "?limit=500").await;
        let items = list["items"].as_array().unwrap().clone();
        if done(&items) {
            return items;
        }
        assert!(Instant::now() < deadline, "not in time: {items:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn every_event_reaches_its_receivers_signed_as_standard_webhooks_says(backend: Backend) {
    let receiver = WebhookReceiver::start(&[SECRET]).await;
    let mut personal = receiver_at(receiver.url("/personal"), SECRET);
    personal.include_personal_data = true;
    personal.events = Some(vec!["booking.created".into(), "inquiry.created".into()]);
    let app = app_with(
        backend,
        vec![receiver_at(receiver.url("/plain"), SECRET), personal],
    )
    .await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(3);

    let first = app.book(&local(day, "10:00")).await;
    reschedule(&app, &first, &local(day, "11:00")).await;
    let response = staff_patch(
        &app,
        &token,
        &reference(&first),
        json!({"status": "completed"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let second = app.book(&local(day, "12:00")).await;
    cancel(&app, &second).await;
    let inquiry = inquire(&app).await;

    let received = receiver.until(|received| received.len() >= 9).await;
    assert_eq!(received.len(), 9, "{received:#?}");
    let (first, second) = (reference(&first), reference(&second));
    assert_eq!(
        kinds_for(&received, "/plain", &first),
        [
            "booking.created",
            "booking.rescheduled",
            "booking.status_changed"
        ]
    );
    assert_eq!(
        kinds_for(&received, "/plain", &second),
        ["booking.created", "booking.cancelled"]
    );
    assert_eq!(
        kinds_for(&received, "/plain", &inquiry),
        ["inquiry.created"]
    );
    assert_eq!(
        kinds_for(&received, "/personal", &first),
        ["booking.created"]
    );
    assert_eq!(
        kinds_for(&received, "/personal", &second),
        ["booking.created"]
    );
    assert_eq!(
        kinds_for(&received, "/personal", &inquiry),
        ["inquiry.created"]
    );

    let mut ids: Vec<&str> = received.iter().map(|r| r.webhook_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 9, "a webhook-id per message");
    for request in &received {
        assert!(
            request.verified,
            "signature or timestamp refused: {request:#?}"
        );
        assert!(request.webhook_id.starts_with("msg_"));
        assert_eq!(request.signatures.len(), 1);
        assert_eq!(request.content_type, "application/json");
        assert!(is_rfc3339(&request.body["timestamp"]), "{}", request.body);
        let now = chrono::Utc::now().timestamp();
        assert!(
            (now - request.timestamp).abs() < 60,
            "webhook-timestamp is Unix seconds"
        );
        let data = request.body["data"].as_object().unwrap();
        let personal = ["name", "email", "phone"]
            .iter()
            .any(|f| data.contains_key(*f));
        assert_eq!(personal, request.path == "/personal", "{}", request.body);
    }
    let find = |path: &str, reference: &str, kind: &str| -> Value {
        received
            .iter()
            .find(|r| r.path == path && r.reference() == reference && r.kind() == kind)
            .map(|r| r.body["data"].clone())
            .unwrap()
    };
    let created = find("/plain", &first, "booking.created");
    assert_eq!(
        created,
        json!({"reference": first, "type": "consultation", "status": "confirmed",
               "start": format!("{day}T10:00:00+09:00"), "end": format!("{day}T10:30:00+09:00"),
               "practitioner": null})
    );
    let moved = find("/plain", &first, "booking.rescheduled");
    assert_eq!(moved["start"], format!("{day}T11:00:00+09:00"));
    assert_eq!(moved["previous_start"], format!("{day}T10:00:00+09:00"));
    assert_eq!(moved["previous_end"], format!("{day}T10:30:00+09:00"));
    let completed = find("/plain", &first, "booking.status_changed");
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["previous_status"], "confirmed");
    let cancelled = find("/plain", &second, "booking.cancelled");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["previous_status"], "confirmed");
    let inquired = find("/plain", &inquiry, "inquiry.created");
    assert_eq!(inquired["category"], "general");
    assert_eq!(inquired["status"], "received");
    assert!(is_rfc3339(&inquired["created_at"]));
    let with_data = find("/personal", &first, "booking.created");
    assert_eq!(with_data["name"], "予約 太郎");
    assert_eq!(with_data["email"], "taro@example.jp");
    assert_eq!(with_data["phone"], "090-1234-5678");
    let inquirer = find("/personal", &inquiry, "inquiry.created");
    assert_eq!(inquirer["name"], "問合 花子");
    assert_eq!(inquirer["phone"], "03-1234-5678");
}

async fn a_receiver_that_was_down_gets_every_event_once_and_in_order(backend: Backend) {
    let receiver = WebhookReceiver::start(&[SECRET]).await;
    receiver.down().await;
    let app = app_with(backend, vec![receiver_at(receiver.url("/hooks"), SECRET)]).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(4);
    let mut references = Vec::new();
    for (from, to) in [("10:00", "14:00"), ("11:00", "15:00"), ("12:00", "16:00")] {
        let booking = app.book(&local(day, from)).await;
        reschedule(&app, &booking, &local(day, to)).await;
        cancel(&app, &booking).await;
        references.push(reference(&booking));
    }
    // Down: each booking's first event is tried again and again (no
    // answer); its later ones wait their turn and are not tried at all.
    let items = deliveries_until(&app, &token, |items| {
        items.len() == 9
            && items
                .iter()
                .filter(|d| d["type"] == "booking.created")
                .all(|d| d["attempts"].as_i64().unwrap() >= 3)
    })
    .await;
    for delivery in &items {
        assert_eq!(delivery["status"], "pending");
        assert_eq!(delivery["last_status"], Value::Null);
        assert!(delivery["next_attempt_at"].is_string());
        if delivery["type"] != "booking.created" {
            assert_eq!(delivery["attempts"], 0, "tried before its turn: {delivery}");
        } else {
            assert!(delivery["last_error"].as_str().unwrap().contains("connect"));
        }
    }
    // Up, but failing: the same messages again, with the same ids.
    receiver.answer_with(503);
    receiver.up().await;
    receiver.until(|received| received.len() >= 6).await;
    receiver.answer_with(200);
    receiver
        .until(|received| received.iter().filter(|r| r.answered == 200).count() >= 9)
        .await;
    let items = deliveries_until(&app, &token, |items| {
        items.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let received = receiver.received();
    assert!(received.iter().all(|r| r.verified), "{received:#?}");
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for request in received.iter().filter(|r| r.answered == 200) {
        *accepted.entry(&request.webhook_id).or_default() += 1;
    }
    assert_eq!(accepted.len(), 9, "{accepted:?}");
    assert!(
        accepted.values().all(|count| *count == 1),
        "delivered twice: {accepted:?}"
    );
    let listed: Vec<&str> = items
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap())
        .collect();
    assert!(listed.iter().all(|id| accepted.contains_key(id)));
    // In order, per booking: nothing about a booking arrives (not even a
    // failed attempt) before the event before it was accepted; every
    // attempt of one event carries the same webhook-id.
    for reference in &references {
        let expected = [
            "booking.created",
            "booking.rescheduled",
            "booking.cancelled",
        ];
        let mut turn = 0;
        let mut id_of_turn: Option<&str> = None;
        for request in received.iter().filter(|r| r.reference() == reference) {
            assert_eq!(
                request.kind(),
                expected[turn],
                "out of order for {reference}"
            );
            match id_of_turn {
                Some(id) => assert_eq!(request.webhook_id, id, "a retry changed its id"),
                None => id_of_turn = Some(&request.webhook_id),
            }
            if request.answered == 200 {
                turn += 1;
                id_of_turn = None;
            }
        }
        assert_eq!(turn, 3);
    }
    for delivery in &items {
        assert_eq!(delivery["last_status"], 200);
        assert!(delivery["delivered_at"]
            .as_str()
            .unwrap()
            .ends_with("+09:00"));
        assert_eq!(delivery["last_error"], Value::Null);
    }
}

async fn a_rotation_signs_with_the_new_and_the_previous_secret(backend: Backend) {
    let knows_old = WebhookReceiver::start(&[SECRET]).await;
    let knows_new = WebhookReceiver::start(&[NEW_SECRET]).await;
    let knows_neither = WebhookReceiver::start(&[UNRELATED_SECRET]).await;
    let rotating = |url: String| EndpointSettings {
        previous_secrets: vec![SecretString::from(SECRET)],
        ..receiver_at(url, NEW_SECRET)
    };
    let app = app_with(
        backend,
        vec![
            rotating(knows_old.url("/")),
            rotating(knows_new.url("/")),
            rotating(knows_neither.url("/")),
        ],
    )
    .await;
    app.book(&local(open_day(3), "10:00")).await;
    for receiver in [&knows_old, &knows_new, &knows_neither] {
        let received = receiver.until(|received| !received.is_empty()).await;
        assert_eq!(
            received[0].signatures.len(),
            2,
            "{:?}",
            received[0].signatures
        );
        assert!(received[0].signatures.iter().all(|s| s.starts_with("v1,")));
    }
    assert!(knows_old.received()[0].verified);
    assert!(knows_new.received()[0].verified);
    assert!(
        !knows_neither.received()[0].verified,
        "the receiver checks nothing"
    );
}

async fn staff_list_deliveries_and_send_one_again(backend: Backend) {
    let receiver = WebhookReceiver::start(&[SECRET]).await;
    let app = app_with(backend, vec![receiver_at(receiver.url("/hooks"), SECRET)]).await;
    let token = staff_token(&app, "desk").await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let items = deliveries_until(&app, &token, |items| {
        items.len() == 1 && items[0]["status"] == "delivered"
    })
    .await;
    let delivery = &items[0];
    assert_eq!(delivery["type"], "booking.created");
    assert_eq!(delivery["url"], receiver.url("/hooks"));
    assert_eq!(delivery["reference"], reference(&booking).as_str());
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["last_status"], 200);
    assert!(delivery["delivered_at"]
        .as_str()
        .unwrap()
        .ends_with("+09:00"));
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    assert!(delivery.get("body").is_none());
    let webhook_id = delivery["webhook_id"].as_str().unwrap().to_string();
    assert_eq!(receiver.received()[0].webhook_id, webhook_id);

    // Sent again after its success, with the same id.
    let id = delivery["id"].as_i64().unwrap();
    let path = format!("/api/v1/staff/webhooks/deliveries/{id}/retry");
    let response = staff_post(&app, &token, &path, json!({})).await;
    assert_eq!(response.status(), 202);
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["status"], "pending");
    assert_eq!(queued["id"], id);
    let received = receiver.until(|received| received.len() == 2).await;
    assert_eq!(received[1].webhook_id, webhook_id);
    assert!(received[1].verified);
    assert_eq!(received[1].body, received[0].body);
    let items = deliveries_until(&app, &token, |items| {
        items[0]["status"] == "delivered" && items[0]["attempts"] == 2
    })
    .await;
    assert_eq!(items.len(), 1);

    // A receiver answering 500: the status shows, the delivery waits.
    receiver.answer_with(500);
    cancel(&app, &booking).await;
    let items = deliveries_until(&app, &token, |items| {
        items.len() == 2 && items[0]["last_status"] == 500
    })
    .await;
    assert_eq!(items[0]["type"], "booking.cancelled");
    assert_eq!(items[0]["status"], "pending");
    assert!(items[0]["last_error"].as_str().unwrap().contains("500"));
    let pending = deliveries(&app, &token, "?status=pending").await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    let page = deliveries(&app, &token, "?limit=1").await;
    assert_eq!(page["items"][0]["id"], items[0]["id"]);
    let next = page["next"].as_str().expect("a next page");
    let next = format!("/api/v1{}", next.split_once("/api/v1").unwrap().1);
    let rest: Value = staff_get(&app, &token, &next).await.json().await.unwrap();
    assert_eq!(rest["items"][0]["id"], id);
    assert_eq!(rest["next"], Value::Null);

    let response = staff_post(
        &app,
        &token,
        "/api/v1/staff/webhooks/deliveries/999999/retry",
        json!({}),
    )
    .await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let response = staff_get(
        &app,
        &token,
        "/api/v1/staff/webhooks/deliveries?status=lost",
    )
    .await;
    assert_problem(response, 422, "status", "invalid").await;
    let response = app.get("/api/v1/staff/webhooks/deliveries").await;
    assert_eq!(response.status(), 401);
    let audit: Value = staff_get(&app, &token, "/api/v1/staff/audit")
        .await
        .json()
        .await
        .unwrap();
    assert!(audit.to_string().contains("webhook.retried"), "{audit}");
}

async fn a_slow_receiver_does_not_hold_up_patients_mail(backend: Backend) {
    let receiver = WebhookReceiver::start(&[SECRET]).await;
    // One webhook task, stuck for 10 s on its first attempt.
    receiver.answer_slowly(Duration::from_secs(10));
    let app = app_tuned(
        backend,
        vec![receiver_at(receiver.url("/slow"), SECRET)],
        |s| {
            s.webhooks.concurrent_deliveries = 1;
            s.webhooks.timeout_seconds = 30;
        },
    )
    .await;
    let day = open_day(3);
    for time in ["10:00", "11:00", "12:00"] {
        app.book(&local(day, time)).await;
    }
    let confirmations = app
        .mail
        .wait_for(3, Duration::from_secs(6), |mail| {
            mail.is_to("taro@example.jp")
        })
        .await;
    assert_eq!(confirmations.len(), 3, "mail waited for the webhooks");
    assert!(
        receiver.received().is_empty(),
        "the receiver answered already: the test shows nothing"
    );
}

async fn an_erasure_takes_personal_data_out_of_webhooks_not_yet_sent(backend: Backend) {
    let receiver = WebhookReceiver::start(&[SECRET]).await;
    receiver.down().await;
    let mut personal = receiver_at(receiver.url("/personal"), SECRET);
    personal.include_personal_data = true;
    let app = app_with(backend, vec![personal]).await;
    let token = staff_token(&app, "desk").await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = reference(&booking);
    let response = staff_delete(
        &app,
        &token,
        &format!("/api/v1/staff/bookings/{reference}/personal-data"),
    )
    .await;
    assert_eq!(response.status(), 200);
    receiver.up().await;
    let received = receiver.until(|received| received.len() == 2).await;
    assert_eq!(
        received.iter().map(Received::kind).collect::<Vec<_>>(),
        ["booking.created", "booking.cancelled"]
    );
    for request in &received {
        assert!(request.verified);
        let text = request.body.to_string();
        assert!(
            !text.contains("taro@example.jp") && !text.contains("予約"),
            "{text}"
        );
        assert!(request.body["data"].get("name").is_none());
    }
}

/// Two instances on one PostgreSQL database share a backlog: each
/// delivery is claimed by one of them at a time, so every message arrives
/// once, and each booking's in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_database_deliver_each_webhook_once() {
    if !Backend::Postgres.available() {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    }
    let receiver = WebhookReceiver::start(&[SECRET]).await;
    receiver.down().await;
    let db = TestDatabase::create(Backend::Postgres);
    let endpoint = receiver_at(receiver.url("/hooks"), SECRET);
    let tune = |settings: &mut clinic_booking::configuration::Settings| {
        settings.webhooks.endpoints = vec![endpoint.clone()];
        settings.webhooks.retry_initial_seconds = 0.05;
        settings.webhooks.retry_max_seconds = 0.1;
        settings.webhooks.poll_interval_ms = 10;
    };
    let one = spawn_on(db.clone(), tune).await;
    let two = spawn_on(db, tune).await;
    let day = open_day(4);
    let mut references = Vec::new();
    for (index, time) in ["10:00", "11:00", "12:00", "13:00", "14:00", "15:00"]
        .iter()
        .enumerate()
    {
        let app = if index % 2 == 0 { &one } else { &two };
        let booking = app.book(&local(day, time)).await;
        cancel(app, &booking).await;
        references.push(reference(&booking));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    receiver.up().await;
    receiver
        .until(|received| received.iter().filter(|r| r.answered == 200).count() >= 12)
        .await;
    // Long enough for a second delivery of anything to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 12, "{received:#?}");
    let mut ids: Vec<&str> = received.iter().map(|r| r.webhook_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "a message arrived twice");
    for reference in &references {
        assert_eq!(
            kinds_for(&received, "/hooks", reference),
            ["booking.created", "booking.cancelled"]
        );
    }
}

backend_tests!(
    every_event_reaches_its_receivers_signed_as_standard_webhooks_says,
    a_receiver_that_was_down_gets_every_event_once_and_in_order,
    a_rotation_signs_with_the_new_and_the_previous_secret,
    staff_list_deliveries_and_send_one_again,
    a_slow_receiver_does_not_hold_up_patients_mail,
    an_erasure_takes_personal_data_out_of_webhooks_not_yet_sent,
);
