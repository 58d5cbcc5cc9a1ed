use serde_json::{json, Value};

use crate::helpers::{
    assert_problem, local, manage_token, open_day, spawn_app, sunday, Backend, TestApp,
};

async fn get_with_token(app: &TestApp, reference: &str, token: &str) -> reqwest::Response {
    app.get(&format!("/api/v1/bookings/{reference}?token={token}"))
        .await
}

async fn post_with_bearer(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn the_patient_sees_their_booking_with_the_token_as_query_or_bearer(backend: Backend) {
    let app = spawn_app(backend).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let (reference, token) = (
        booking["reference"].as_str().unwrap(),
        manage_token(&booking),
    );
    let response = get_with_token(&app, reference, &token).await;
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["reference"], reference);
    assert_eq!(seen["start"], booking["start"]);
    assert!(seen.get("manage_url").is_none());
    let response = app
        .client
        .get(app.url(&format!("/api/v1/bookings/{reference}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Typed in lower case without the hyphen, as over the phone.
    let relaxed = reference.replace('-', "").to_lowercase();
    assert_eq!(get_with_token(&app, &relaxed, &token).await.status(), 200);
}

async fn a_wrong_or_missing_token_is_the_same_404_as_an_unknown_reference(backend: Backend) {
    let app = spawn_app(backend).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let wrong = get_with_token(&app, reference, "not-the-token").await;
    let missing = app.get(&format!("/api/v1/bookings/{reference}")).await;
    let unknown = get_with_token(&app, "ABCD-EFGH", &manage_token(&booking)).await;
    let mut bodies = Vec::new();
    for response in [wrong, missing, unknown] {
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        bodies.push(response.text().await.unwrap());
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "indistinguishable: {bodies:?}"
    );
    let cancel = post_with_bearer(
        &app,
        &format!("/api/v1/bookings/{reference}/cancel"),
        "nope",
        None,
    )
    .await;
    assert_eq!(cancel.status(), 404);
}

async fn cancelling_frees_the_slot_for_someone_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let booking = app.book(&local(day, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let response = post_with_bearer(
        &app,
        &format!("/api/v1/bookings/{reference}/cancel"),
        &manage_token(&booking),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(app.slot_available(day, &format!("{day}T10:00")).await);
    app.book(&local(day, "10:00")).await;
}

async fn cancelling_twice_is_not_an_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let path = format!(
        "/api/v1/bookings/{}/cancel",
        booking["reference"].as_str().unwrap()
    );
    let token = manage_token(&booking);
    assert_eq!(
        post_with_bearer(&app, &path, &token, None).await.status(),
        200
    );
    let again = post_with_bearer(&app, &path, &token, None).await;
    assert_eq!(again.status(), 200);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
}

async fn rescheduling_moves_the_booking_and_frees_the_old_slot(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let booking = app.book(&local(day, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let response = post_with_bearer(
        &app,
        &format!("/api/v1/bookings/{reference}/reschedule"),
        &manage_token(&booking),
        Some(json!({"start": local(day, "16:00")})),
    )
    .await;
    assert_eq!(response.status(), 200);
    let moved: Value = response.json().await.unwrap();
    assert_eq!(moved["reference"], reference);
    assert_eq!(moved["status"], "confirmed");
    assert_eq!(moved["start"], format!("{day}T16:00:00+09:00"));
    assert!(app.slot_available(day, &format!("{day}T10:00")).await);
    assert!(!app.slot_available(day, &format!("{day}T16:00")).await);
}

async fn rescheduling_into_a_full_slot_is_a_409_and_keeps_the_booking(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    app.book(&local(day, "16:00")).await;
    let booking = app.book(&local(day, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    let response = post_with_bearer(
        &app,
        &format!("/api/v1/bookings/{reference}/reschedule"),
        &token,
        Some(json!({"start": local(day, "16:00")})),
    )
    .await;
    let problem = assert_problem(response, 409, "start", "slot_unavailable").await;
    assert!(!problem["alternatives"].as_array().unwrap().is_empty());
    let kept: Value = get_with_token(&app, reference, &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kept["start"], format!("{day}T10:00:00+09:00"));
    assert!(
        !app.slot_available(day, &format!("{day}T10:00")).await,
        "old slot still held"
    );
}

async fn rescheduling_follows_the_same_calendar_rules_as_booking(backend: Backend) {
    let app = spawn_app(backend).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let path = format!(
        "/api/v1/bookings/{}/reschedule",
        booking["reference"].as_str().unwrap()
    );
    let token = manage_token(&booking);
    let response = post_with_bearer(
        &app,
        &path,
        &token,
        Some(json!({"start": local(sunday(3), "10:00")})),
    )
    .await;
    assert_problem(response, 422, "start", "closed_day").await;
    let response = post_with_bearer(
        &app,
        &path,
        &token,
        Some(json!({"start": local(open_day(3), "10:10")})),
    )
    .await;
    assert_problem(response, 422, "start", "not_slot_aligned").await;
    let response = post_with_bearer(&app, &path, &token, Some(json!({}))).await;
    assert_problem(response, 422, "start", "required").await;
}

async fn a_cancelled_booking_cannot_be_rescheduled(backend: Backend) {
    let app = spawn_app(backend).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    post_with_bearer(
        &app,
        &format!("/api/v1/bookings/{reference}/cancel"),
        &token,
        None,
    )
    .await;
    let response = post_with_bearer(
        &app,
        &format!("/api/v1/bookings/{reference}/reschedule"),
        &token,
        Some(json!({"start": local(open_day(4), "11:00")})),
    )
    .await;
    assert_problem(response, 422, "status", "invalid_status").await;
}

async fn the_query_token_works_beside_a_bearer_header_meant_for_something_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let (reference, token) = (
        booking["reference"].as_str().unwrap(),
        manage_token(&booking),
    );
    let with_foreign_header = app
        .client
        .get(app.url(&format!("/api/v1/bookings/{reference}?token={token}")))
        .bearer_auth("a-staff-token-or-anything-else")
        .send()
        .await
        .unwrap();
    assert_eq!(with_foreign_header.status(), 200);
    let neither = app
        .client
        .get(app.url(&format!("/api/v1/bookings/{reference}?token=wrong")))
        .bearer_auth("also-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(neither.status(), 404);
}

crate::backend_tests!(
    the_query_token_works_beside_a_bearer_header_meant_for_something_else,
    the_patient_sees_their_booking_with_the_token_as_query_or_bearer,
    a_wrong_or_missing_token_is_the_same_404_as_an_unknown_reference,
    cancelling_frees_the_slot_for_someone_else,
    cancelling_twice_is_not_an_error,
    rescheduling_moves_the_booking_and_frees_the_old_slot,
    rescheduling_into_a_full_slot_is_a_409_and_keeps_the_booking,
    rescheduling_follows_the_same_calendar_rules_as_booking,
    a_cancelled_booking_cannot_be_rescheduled,
);
