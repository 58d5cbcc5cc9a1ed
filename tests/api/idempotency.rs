use serde_json::{json, Value};

use crate::helpers::{assert_problem, booking_body, local, open_day, spawn_app, Backend, TestApp};

async fn post_with_key(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/bookings"))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn a_retry_with_the_same_key_returns_the_first_response_and_books_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let body = booking_body(&local(day, "10:00"));
    let first = post_with_key(&app, "retry-1", &body).await;
    assert_eq!(first.status(), 201);
    let first_location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();
    let second = post_with_key(&app, "retry-1", &body).await;
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers()["location"], first_location);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second);
    // Only one seat is taken: a different patient can still not book it,
    // but the slot next to it is untouched.
    assert!(!app.slot_available(day, &format!("{day}T10:00")).await);
    let other = app.post_booking(&booking_body(&local(day, "10:00"))).await;
    assert_eq!(other.status(), 409);
}

async fn the_same_key_with_another_body_is_rejected_with_idempotency_key_reused(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = post_with_key(&app, "retry-2", &booking_body(&local(open_day(3), "10:00"))).await;
    assert_eq!(first.status(), 201);
    let second = post_with_key(&app, "retry-2", &booking_body(&local(open_day(3), "11:00"))).await;
    assert_problem(second, 422, "Idempotency-Key", "idempotency_key_reused").await;
}

async fn concurrent_retries_with_one_key_create_one_booking(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let body = booking_body(&local(day, "13:00"));
    let requests = (0..8).map(|_| post_with_key(&app, "retry-3", &body));
    let responses = futures_util::future::join_all(requests).await;
    let mut references = std::collections::BTreeSet::new();
    for response in responses {
        assert_eq!(response.status(), 201);
        let booking: Value = response.json().await.unwrap();
        references.insert(booking["reference"].as_str().unwrap().to_string());
    }
    assert_eq!(references.len(), 1, "{references:?}");
}

async fn a_failed_request_does_not_use_up_its_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = booking_body(&local(open_day(3), "10:00"));
    body["consent"] = json!(false);
    assert_eq!(post_with_key(&app, "retry-4", &body).await.status(), 422);
    body["consent"] = json!(true);
    assert_eq!(post_with_key(&app, "retry-4", &body).await.status(), 201);
}

async fn reschedule(app: &TestApp, booking: &Value, key: &str, start: &str) -> reqwest::Response {
    let reference = booking["reference"].as_str().unwrap();
    app.client
        .post(app.url(&format!("/api/v1/bookings/{reference}/reschedule")))
        .bearer_auth(crate::helpers::manage_token(booking))
        .header("Idempotency-Key", key)
        .json(&json!({ "start": start }))
        .send()
        .await
        .unwrap()
}

async fn a_retried_reschedule_answers_as_the_first_and_moves_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let booking = app.book(&local(day, "10:00")).await;
    let first = reschedule(&app, &booking, "move-1", &local(day, "15:00")).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again = reschedule(&app, &booking, "move-1", &local(day, "15:00")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again);
    let other = reschedule(&app, &booking, "move-1", &local(day, "16:00")).await;
    assert_problem(other, 422, "Idempotency-Key", "idempotency_key_reused").await;
    assert!(!app.slot_available(day, &format!("{day}T15:00")).await);
    assert!(app.slot_available(day, &format!("{day}T16:00")).await);
}

async fn an_idempotency_key_belongs_to_its_own_booking(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let one = app.book(&local(day, "10:00")).await;
    let two = app.book(&local(day, "11:00")).await;
    assert_eq!(
        reschedule(&app, &one, "same-key", &local(day, "15:00"))
            .await
            .status(),
        200
    );
    let moved: Value = reschedule(&app, &two, "same-key", &local(day, "16:00"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["reference"], two["reference"]);
    assert_eq!(moved["start"], format!("{day}T16:00:00+09:00"));
}

crate::backend_tests!(
    a_retry_with_the_same_key_returns_the_first_response_and_books_once,
    the_same_key_with_another_body_is_rejected_with_idempotency_key_reused,
    concurrent_retries_with_one_key_create_one_booking,
    a_failed_request_does_not_use_up_its_key,
    a_retried_reschedule_answers_as_the_first_and_moves_once,
    an_idempotency_key_belongs_to_its_own_booking,
);
