use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{local, open_day, spawn_app, Backend};
use crate::staff_helpers::{reference, staff_get, staff_patch, staff_post, staff_token};

/// Odd input is a 4xx with a problem document, never a 5xx.
async fn odd_staff_input_is_refused_without_a_server_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = reference(&booking);
    let gets = [
        "/api/v1/staff/bookings?from=%2B262143-12-31",
        "/api/v1/staff/bookings?to=%2B262143-12-31",
        "/api/v1/staff/closures?from=%2B262143-12-31",
        "/api/v1/staff/bookings?from=9999-12-31&to=9999-12-31",
        "/api/v1/staff/bookings?to=2026-01-01&from=2026-02-01",
        "/api/v1/staff/bookings?limit=abc",
        "/api/v1/staff/bookings?limit=100000",
        "/api/v1/staff/bookings?after=eHx5",
        "/api/v1/staff/bookings?status=confirmed,,cancelled",
        "/api/v1/staff/closures?from=0000-00-00",
        "/api/v1/staff/closures?after=MjAyNi0xMi0wMVQwMTowMDowMHxub3QtYW4taWQ",
        "/api/v1/staff/closures/99999999999",
        "/api/v1/staff/bookings/%00%ff",
        "/api/v1/staff/audit?after=%%%",
    ];
    for path in gets {
        let response = staff_get(&app, &token, path).await;
        assert!(
            response.status().as_u16() < 500,
            "{path}: {}",
            response.status()
        );
    }
    let patches = [
        json!({"status": ["completed"]}),
        json!({"status": null}),
        json!({"start": 12}),
        json!({"start": "+262143-12-31T10:00:00+09:00"}),
        json!({"staff_note": "あ".repeat(3000)}),
        json!({"staff_note": {"text": "x"}}),
    ];
    for body in patches {
        let response = staff_patch(&app, &token, &reference, body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
    }
    let not_json = app
        .client
        .patch(app.url(&format!("/api/v1/staff/bookings/{reference}")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let closures = [
        json!({"date": "+262143-12-31"}),
        json!({"date": "2026-13-01"}),
        json!({"start": "0001-01-01T00:00", "end": "9999-12-31T23:59", "reason": "x".repeat(500)}),
        json!({"start": "yesterday", "end": "tomorrow"}),
        json!({"date": 20261230}),
    ];
    for body in closures {
        let response = staff_post(&app, &token, "/api/v1/staff/closures", body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
    }
    // A very long closure is allowed and leaves the API working.
    let long = staff_post(
        &app,
        &token,
        "/api/v1/staff/closures",
        json!({"start": "2000-01-01T00:00", "end": "2999-12-31T23:59", "reason": "移転"}),
    )
    .await;
    assert_eq!(long.status(), 201);
    let body: Value = long.json().await.unwrap();
    assert_eq!(body["affected_bookings"].as_array().unwrap().len(), 1);
    let day = open_day(3);
    let days = app.availability(&format!("from={day}&to={day}")).await;
    assert_eq!(days.status(), 200);
    assert!(!app.slot_available(day, &local(day, "11:00")).await);
}

/// A query parameter given empty is refused, not read as absent: a list
/// never silently widens to the default.
async fn empty_staff_query_parameters_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    for (path, status, field) in [
        ("/api/v1/staff/bookings?to=", 400, "to"),
        ("/api/v1/staff/bookings?from=", 400, "from"),
        ("/api/v1/staff/closures?from=", 400, "from"),
        ("/api/v1/staff/bookings?limit=", 422, "limit"),
        ("/api/v1/staff/audit?after=", 400, "after"),
        ("/api/v1/staff/bookings?from=%202026-12-01", 400, "from"),
    ] {
        let response = staff_get(&app, &token, path).await;
        assert_eq!(response.status(), status, "{path}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{path}");
    }
}

/// A cursor of the right alphabet that no page gave out is well-formed but
/// invalid (422); other characters make it malformed (400).
async fn an_unknown_cursor_is_a_422_and_a_malformed_one_a_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    for path in [
        "/api/v1/staff/bookings?after=eHx5",
        "/api/v1/staff/closures?after=MjAyNi0xMi0wMVQwMTowMDowMHxub3QtYW4taWQ",
        "/api/v1/staff/audit?after=AAAA",
    ] {
        let response = staff_get(&app, &token, path).await;
        assert_eq!(response.status(), 422, "{path}");
    }
    let malformed = staff_get(&app, &token, "/api/v1/staff/audit?after=%C3%A9t%C3%A9").await;
    assert_eq!(malformed.status(), 400);
}

/// A whole-day closure with a start or end of any kind is refused.
async fn a_closure_with_a_date_and_a_start_of_any_type_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    for body in [
        json!({"date": "2026-12-30", "start": {}}),
        json!({"date": "2026-12-30", "end": 12}),
        json!({"date": "2026-12-30", "start": "2026-12-30T10:00"}),
    ] {
        let response = staff_post(&app, &token, "/api/v1/staff/closures", body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
    }
}

backend_tests!(
    odd_staff_input_is_refused_without_a_server_error,
    empty_staff_query_parameters_are_refused,
    an_unknown_cursor_is_a_422_and_a_malformed_one_a_400,
    a_closure_with_a_date_and_a_start_of_any_type_is_refused,
);
