use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{booking_body, local, open_day, spawn_app, spawn_app_with, Backend};

async fn every_response_carries_the_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/api/v1/clinic", "/api/v1/nothing", "/docs/", "/healthz"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
    }
}

async fn answers_with_personal_data_are_never_cached(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_booking(&booking_body(&local(open_day(3), "10:00")))
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let missing = app.get("/api/v1/bookings/ABCD-EFGH?token=x").await;
    assert_eq!(missing.headers()["cache-control"], "no-store");
}

async fn cors_is_off_unless_an_origin_is_allowed(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(app.url("/api/v1/clinic"))
        .header("origin", "https://n2clinic-ginza.com")
        .send()
        .await
        .unwrap();
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

async fn the_allowed_origin_gets_cors_and_others_do_not(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.http.cors_allowed_origins = vec!["https://n2clinic-ginza.com".into()];
    })
    .await;
    let allowed = app
        .client
        .get(app.url("/api/v1/clinic"))
        .header("origin", "https://n2clinic-ginza.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://n2clinic-ginza.com"
    );
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/bookings"))
        .header("origin", "https://n2clinic-ginza.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://n2clinic-ginza.com"
    );
    let denied = app
        .client
        .get(app.url("/api/v1/clinic"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(denied
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

async fn a_compressed_body_is_not_inflated_past_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = booking_body(&local(open_day(3), "10:00"));
    body["message"] = serde_json::Value::String(" ".repeat(1024 * 1024));
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body.to_string().as_bytes()).unwrap();
    let compressed = encoder.finish().unwrap();
    assert!(
        compressed.len() < 16 * 1024,
        "the compressed body itself is small"
    );
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(compressed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

async fn a_client_too_slow_to_send_its_request_is_cut_off(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.server.client_request_timeout_seconds = 1).await;
    let address = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"POST /api/v1/bookings HTTP/1.1\r\nHost: clinic\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server closed the connection within the timeout"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

crate::backend_tests!(
    every_response_carries_the_security_headers,
    answers_with_personal_data_are_never_cached,
    cors_is_off_unless_an_origin_is_allowed,
    the_allowed_origin_gets_cors_and_others_do_not,
    a_compressed_body_is_not_inflated_past_the_limit,
    a_client_too_slow_to_send_its_request_is_cut_off,
);
