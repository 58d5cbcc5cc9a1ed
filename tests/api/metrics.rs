use serde_json::Value;

use crate::helpers::{
    booking_body, local, open_day, spawn_app, spawn_app_with, Backend, METRICS_TOKEN,
};

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
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
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
    let before = count(&app.metrics().await);
    let _: Value = app.get("/api/v1/clinic").await.json().await.unwrap();
    let after = count(&app.metrics().await);
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
    let before = app.metrics().await;
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
    let after = app.metrics().await;
    assert!(
        value(&after, "bookings_created_total") >= value(&before, "bookings_created_total") + 1.0
    );
    assert!(
        value(&after, "bookings_cancelled_total")
            >= value(&before, "bookings_cancelled_total") + 1.0
    );
}

async fn metrics_are_not_served_without_a_token_or_an_address_of_their_own(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.metrics.token = String::new().into();
        s.metrics.bind = String::new();
    })
    .await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    let with_a_guess = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(with_a_guess.status(), 404);
    assert!(!with_a_guess
        .text()
        .await
        .unwrap()
        .contains("http_requests_total"));
}

async fn metrics_with_a_token_answer_only_to_that_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let without = app.get("/metrics").await;
    assert_eq!(without.status(), 401);
    assert_eq!(without.headers()["www-authenticate"], "Bearer");
    assert!(!without
        .text()
        .await
        .unwrap()
        .contains("http_requests_total"));
    for wrong in ["wrong", "test-metrics-token-and-more", "test-metrics-toke"] {
        let response = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth(wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{wrong}");
    }
    let staff = crate::staff_helpers::staff_token(&app, "desk").await;
    let as_staff = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(staff)
        .send()
        .await
        .unwrap();
    assert_eq!(
        as_staff.status(),
        401,
        "a staff token is not the metrics token"
    );
    assert!(app.metrics().await.contains("http_requests_total"));
}

async fn metrics_on_an_address_of_their_own_are_not_on_the_public_listener(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.metrics.token = String::new().into();
        s.metrics.bind = "127.0.0.1:0".into();
    })
    .await;
    app.get("/api/v1/clinic").await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    let port = app.metrics_port.expect("a metrics listener");
    assert_ne!(format!("http://127.0.0.1:{port}"), app.address);
    let scraped = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped
        .text()
        .await
        .unwrap()
        .contains("http_requests_total"));
    // Only /metrics lives there.
    let other = app
        .client
        .get(format!("http://127.0.0.1:{port}/api/v1/clinic"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    // With a token as well, the own address asks for it.
    let guarded = spawn_app_with(backend, |s| s.metrics.bind = "127.0.0.1:0".into()).await;
    let port = guarded.metrics_port.expect("a metrics listener");
    let url = format!("http://127.0.0.1:{port}/metrics");
    assert_eq!(guarded.client.get(&url).send().await.unwrap().status(), 401);
    let with_token = guarded
        .client
        .get(&url)
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 200);
    assert_eq!(
        guarded
            .client
            .get(guarded.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

crate::backend_tests!(
    metrics_are_not_served_without_a_token_or_an_address_of_their_own,
    metrics_with_a_token_answer_only_to_that_token,
    metrics_on_an_address_of_their_own_are_not_on_the_public_listener,
    booking_counters_move_with_bookings_and_cancellations,
    metrics_count_requests_by_route_pattern_without_references,
    the_request_counter_moves,
);
