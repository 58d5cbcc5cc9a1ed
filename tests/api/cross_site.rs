//! Browser POSTs from another site's page are refused (API and forms);
//! the service's own pages, listed origins and clients that send neither
//! header (curl, servers) are not affected.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{
    assert_problem, booking_body, local, manage_token, open_day, spawn_app, spawn_app_with,
    Backend, TestApp,
};
use crate::staff_helpers::staff_token;

const WEBSITE: &str = "https://n2clinic-ginza.com";

async fn post_booking_with(
    app: &TestApp,
    start: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/bookings"))
        .json(&booking_body(start));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn a_booking_posted_from_another_sites_page_is_refused_with_cross_site_request(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let start = local(open_day(3), "10:00");
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        // The same host on another scheme or port is another origin.
        vec![("origin", "https://127.0.0.1")],
    ] {
        let refused = post_booking_with(&app, &start, &headers).await;
        let problem = assert_problem(refused, 403, "Origin", "cross_site_request").await;
        assert_eq!(
            problem["type"], "/problems/cross-site-request",
            "{headers:?}"
        );
    }
    let english = post_booking_with(
        &app,
        &start,
        &[
            ("origin", "https://evil.example"),
            ("accept-language", "en"),
        ],
    )
    .await;
    let problem: Value = english.json().await.unwrap();
    assert_eq!(problem["title"], "Cross-site request refused");
    assert!(app.slot_available(open_day(3), &start).await);
    let inquiry = app
        .client
        .post(app.url("/api/v1/inquiries"))
        .header("origin", "https://evil.example")
        .json(&json!({"name": "問合 花子", "email": "hanako@example.jp", "message": "膝", "consent": true}))
        .send()
        .await
        .unwrap();
    assert_problem(inquiry, 403, "Origin", "cross_site_request").await;
}

async fn the_services_own_pages_listed_origins_and_plain_clients_may_post(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.http.cors_allowed_origins = vec![WEBSITE.into()];
    })
    .await;
    let own = app.address.clone();
    let cases: [(&str, Vec<(&str, &str)>); 5] = [
        ("10:00", vec![]),
        (
            "10:30",
            vec![("origin", own.as_str()), ("sec-fetch-site", "same-origin")],
        ),
        ("11:00", vec![("origin", WEBSITE)]),
        // The clinic's website on another site, listed: trusted.
        (
            "11:30",
            vec![("origin", WEBSITE), ("sec-fetch-site", "cross-site")],
        ),
        ("12:00", vec![("sec-fetch-site", "none")]),
    ];
    for (n, (time, headers)) in cases.into_iter().enumerate() {
        let mut body = booking_body(&local(open_day(3), time));
        body["email"] = json!(format!("patient{n}@example.jp"));
        let mut request = app.client.post(app.url("/api/v1/bookings")).json(&body);
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 201, "{headers:?}");
    }
}

async fn a_form_posted_from_another_site_gets_a_plain_page_and_changes_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.forms.min_fill_seconds = 0).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    let start = local(open_day(3), "11:00");
    let posts: [(String, Vec<(&str, &str)>); 3] = [
        (
            "/reserve".into(),
            vec![
                ("start", start.as_str()),
                ("name", "予約 花子"),
                ("consent", "true"),
            ],
        ),
        (
            "/inquiry".into(),
            vec![
                ("name", "問合 花子"),
                ("message", "膝"),
                ("consent", "true"),
            ],
        ),
        (
            format!("/manage/{reference}/cancel"),
            vec![("token", token.as_str())],
        ),
    ];
    for (path, fields) in posts {
        let response = app
            .client
            .post(app.url(&path))
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&fields).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = response.text().await.unwrap();
        assert!(html.contains("送信を受け付けられませんでした"), "{path}");
    }
    let view: Value = app
        .get(&format!("/api/v1/bookings/{reference}?token={token}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "confirmed");
    assert!(app.slot_available(open_day(3), &start).await);
}

async fn staff_routes_are_left_to_their_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let response = app
        .client
        .post(app.url("/api/v1/staff/closures"))
        .bearer_auth(&token)
        .header("origin", "https://calendar.example")
        .json(&json!({"date": open_day(5).to_string(), "reason": "研修"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

backend_tests!(
    a_booking_posted_from_another_sites_page_is_refused_with_cross_site_request,
    the_services_own_pages_listed_origins_and_plain_clients_may_post,
    a_form_posted_from_another_site_gets_a_plain_page_and_changes_nothing,
    staff_routes_are_left_to_their_bearer_token,
);
