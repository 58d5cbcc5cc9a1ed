use serde_json::Value;

use crate::helpers::{booking_body, local, open_day, spawn_app, Backend};

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["type"].is_string() && body["detail"].is_string());
    body
}

async fn malformed_json_is_a_400_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
}

async fn a_json_body_that_is_not_an_object_is_a_400_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("content-type", "application/json")
        .body("[1, 2, 3]")
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
}

async fn an_unsupported_content_type_is_a_415_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("content-type", "text/plain")
        .body("name=taro")
        .send()
        .await
        .unwrap();
    problem(response, 415).await;
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(response, 415).await;
}

async fn a_body_over_the_limit_is_a_413_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = booking_body(&local(open_day(3), "10:00"));
    body["message"] = Value::String("x".repeat(20 * 1024));
    let response = app.post_booking(&body).await;
    problem(response, 413).await;
}

async fn a_body_over_the_limit_sent_in_chunks_is_a_413_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok(vec![b' '; 1024])).collect();
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    problem(response, 413).await;
}

async fn an_unknown_path_is_a_404_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    problem(app.get("/api/v1/nothing-here").await, 404).await;
}

async fn an_invalid_idempotency_key_is_a_400_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("Idempotency-Key", "x".repeat(300))
        .json(&booking_body(&local(open_day(3), "10:00")))
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
}

crate::backend_tests!(
    malformed_json_is_a_400_problem,
    a_json_body_that_is_not_an_object_is_a_400_problem,
    an_unsupported_content_type_is_a_415_problem,
    a_body_over_the_limit_is_a_413_problem,
    a_body_over_the_limit_sent_in_chunks_is_a_413_problem,
    an_unknown_path_is_a_404_problem,
    an_invalid_idempotency_key_is_a_400_problem,
);
