use serde_json::Value;

use crate::helpers::{booking_body, local, open_day, spawn_app, Backend};

async fn metrics_count_requests_by_route_pattern_without_references(backend: Backend) {
    let app = spawn_app(backend).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    app.get(&format!("/api/v1/bookings/{reference}?token=wrong"))
        .await;
    let conflict = app
        .post_booking(&booking_body(&local(open_day(3), "10:00")))
        .await;
    assert_eq!(conflict.status(), 409);
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            "http_requests_total{method=\"POST\",route=\"/api/v1/bookings\",status=\"201\"}"
        ),
        "{text}"
    );
    assert!(text.contains("route=\"/api/v1/bookings/{reference}\""));
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains("booking_conflicts_total"));
    assert!(text.contains("db_pool_in_use"));
    assert!(text.contains("bookings_created_total"));
    assert!(
        text.contains("outbox_messages{status=\"pending\"}")
            || text.contains("outbox_messages{status=\"sent\"}")
    );
    assert!(text.contains("outbox_oldest_pending_age_seconds"));
    assert!(!text.contains(reference), "no reference in labels");
    assert!(!text.contains("wrong"), "no token in labels");
}

async fn the_request_counter_moves(backend: Backend) {
    let app = spawn_app(backend).await;
    let count = |text: &str| -> f64 {
        text.lines()
            .find(|line| {
                line.starts_with(
                    "http_requests_total{method=\"GET\",route=\"/api/v1/clinic\",status=\"200\"}",
                )
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0)
    };
    app.get("/api/v1/clinic").await;
    let before = count(&app.get("/metrics").await.text().await.unwrap());
    let _: Value = app.get("/api/v1/clinic").await.json().await.unwrap();
    let after = count(&app.get("/metrics").await.text().await.unwrap());
    assert!(after >= before + 1.0, "{before} -> {after}");
}

async fn booking_counters_move_with_bookings_and_cancellations(backend: Backend) {
    let app = spawn_app(backend).await;
    let value = |text: &str, name: &str| -> f64 {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0)
    };
    let before = app.get("/metrics").await.text().await.unwrap();
    let booking = app.book(&local(open_day(3), "11:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = crate::helpers::manage_token(&booking);
    let cancel = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{reference}/cancel")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    let after = app.get("/metrics").await.text().await.unwrap();
    assert!(
        value(&after, "bookings_created_total") >= value(&before, "bookings_created_total") + 1.0
    );
    assert!(
        value(&after, "bookings_cancelled_total")
            >= value(&before, "bookings_cancelled_total") + 1.0
    );
}

crate::backend_tests!(
    booking_counters_move_with_bookings_and_cancellations,
    metrics_count_requests_by_route_pattern_without_references,
    the_request_counter_moves,
);
