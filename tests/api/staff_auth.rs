use reqwest::Method;

use crate::backend_tests;
use crate::helpers::{local, open_day, spawn_app, Backend, TestApp};
use crate::staff_helpers::{revoke, staff_token};

fn staff_routes(reference: &str) -> Vec<(Method, String)> {
    vec![
        (Method::GET, "/api/v1/staff/bookings".into()),
        (Method::GET, format!("/api/v1/staff/bookings/{reference}")),
        (Method::PATCH, format!("/api/v1/staff/bookings/{reference}")),
        (Method::POST, "/api/v1/staff/closures".into()),
        (Method::GET, "/api/v1/staff/closures".into()),
        (Method::GET, "/api/v1/staff/closures/1".into()),
        (Method::DELETE, "/api/v1/staff/closures/1".into()),
        (Method::GET, "/api/v1/staff/calendar.ics".into()),
        (Method::GET, "/api/v1/staff/audit".into()),
        (Method::GET, "/api/v1/staff/inquiries".into()),
        (Method::GET, format!("/api/v1/staff/inquiries/{reference}")),
        (
            Method::PATCH,
            format!("/api/v1/staff/inquiries/{reference}"),
        ),
        (Method::GET, "/api/v1/staff/outbox".into()),
    ]
}

async fn send(
    app: &TestApp,
    method: &Method,
    path: &str,
    bearer: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method.clone(), app.url(path))
        .json(&serde_json::json!({"staff_note": "x", "date": "2030-01-01"}));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn assert_unauthorized(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 401, "{what}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 401, "{what}");
}

async fn every_staff_route_refuses_a_missing_wrong_or_revoked_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let revoked = staff_token(&app, "old tablet").await;
    revoke(&app, "old tablet").await;
    let live = staff_token(&app, "desk").await;
    for (method, path) in staff_routes(reference) {
        for (what, bearer) in [
            ("missing", None),
            ("wrong", Some("not-a-staff-token")),
            ("revoked", Some(revoked.as_str())),
        ] {
            let response = send(&app, &method, &path, bearer).await;
            assert_unauthorized(response, &format!("{method} {path} with a {what} token")).await;
        }
        // A token in the query string only counts for the calendar feed.
        if !path.ends_with("calendar.ics") {
            let with_query = format!("{path}?token={live}");
            let response = send(&app, &method, &with_query, None).await;
            assert_unauthorized(response, &format!("{method} {path} with ?token=")).await;
        }
    }
}

async fn a_live_token_opens_the_staff_routes_and_the_feed_takes_it_as_query(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let response = app
        .client
        .get(app.url("/api/v1/staff/bookings"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let feed = app
        .get(&format!("/api/v1/staff/calendar.ics?token={token}"))
        .await;
    assert_eq!(feed.status(), 200);
    let wrong = app.get("/api/v1/staff/calendar.ics?token=wrong").await;
    assert_unauthorized(wrong, "feed with a wrong ?token=").await;
}

backend_tests!(
    every_staff_route_refuses_a_missing_wrong_or_revoked_token,
    a_live_token_opens_the_staff_routes_and_the_feed_takes_it_as_query,
);
