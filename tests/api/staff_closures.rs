use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_problem, booking_body, local, open_day, spawn_app, Backend};
use crate::staff_helpers::{
    reference, staff_delete, staff_get, staff_patch, staff_post, staff_token,
};

const CLOSURES: &str = "/api/v1/staff/closures";

async fn a_closed_date_closes_the_day_for_availability_and_bookings(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(5);
    let elsewhere = app.book(&local(open_day(3), "10:00")).await;
    let created = staff_post(
        &app,
        &token,
        CLOSURES,
        json!({"date": day.to_string(), "reason": "年末年始"}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let closure: Value = created.json().await.unwrap();
    assert_eq!(closure["date"], day.to_string());
    assert_eq!(closure["reason"], "年末年始");
    assert_eq!(closure["affected_bookings"], json!([]));

    let days: Value = app
        .availability(&format!("from={day}&to={day}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(days["days"][0]["open"], false);
    assert_eq!(days["days"][0]["closed_reason"], "closed_date");
    let refused = app.post_booking(&booking_body(&local(day, "10:00"))).await;
    assert_problem(refused, 422, "start", "closed_day").await;
    let moved = staff_patch(
        &app,
        &token,
        &reference(&elsewhere),
        json!({"start": local(day, "10:00")}),
    )
    .await;
    assert_problem(moved, 422, "start", "closed_day").await;

    let shown: Value = staff_get(&app, &token, &location)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["id"], closure["id"]);
    let listed: Value = staff_get(&app, &token, CLOSURES)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(staff_delete(&app, &token, &location).await.status(), 204);
    assert_eq!(staff_delete(&app, &token, &location).await.status(), 404);
    assert_eq!(staff_get(&app, &token, &location).await.status(), 404);
    app.book(&local(day, "10:00")).await;
}

async fn a_closed_time_range_blocks_the_slots_it_overlaps(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(4);
    let created = staff_post(
        &app,
        &token,
        CLOSURES,
        json!({"start": local(day, "14:00"), "end": local(day, "16:00"), "reason": "院長不在"}),
    )
    .await;
    assert_eq!(created.status(), 201);
    for (time, free) in [
        ("13:30", true),
        ("14:00", false),
        ("15:30", false),
        ("16:00", true),
    ] {
        assert_eq!(
            app.slot_available(day, &local(day, time)).await,
            free,
            "{time}"
        );
    }
    let refused = app.post_booking(&booking_body(&local(day, "14:30"))).await;
    let problem = assert_problem(refused, 409, "start", "slot_unavailable").await;
    let offers = problem["alternatives"].as_array().unwrap();
    assert!(!offers.is_empty());
    for offer in offers {
        let start = offer["start"].as_str().unwrap();
        let inside = start >= local(day, "14:00").as_str() && start < local(day, "16:00").as_str();
        assert!(!inside, "alternative {start} is inside the closure");
    }
    // Staff cannot move a booking into it either.
    let booking = app.book(&local(day, "10:00")).await;
    let moved = staff_patch(
        &app,
        &token,
        &reference(&booking),
        json!({"start": local(day, "15:00")}),
    )
    .await;
    assert_problem(moved, 409, "start", "slot_unavailable").await;
    // A 60-minute treatment at 13:30 would run into it too.
    let mut stem_cell = booking_body(&local(day, "13:30"));
    stem_cell["type"] = json!("stem-cell");
    assert_eq!(app.post_booking(&stem_cell).await.status(), 409);
}

async fn a_closure_over_confirmed_bookings_succeeds_and_lists_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(4);
    let morning = app.book(&local(day, "11:00")).await;
    let afternoon = app.book(&local(day, "15:00")).await;
    let cancelled = app.book(&local(day, "14:00")).await;
    crate::staff_helpers::patched(
        &app,
        &token,
        &reference(&cancelled),
        json!({"status": "cancelled"}),
    )
    .await;
    let partial: Value = staff_post(
        &app,
        &token,
        CLOSURES,
        json!({"start": local(day, "14:00"), "end": local(day, "16:00")}),
    )
    .await
    .json()
    .await
    .unwrap();
    let refs = |closure: &Value| -> Vec<String> {
        closure["affected_bookings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["reference"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(refs(&partial), vec![reference(&afternoon)]);
    assert_eq!(partial["affected_bookings"][0]["phone"], "090-1234-5678");
    let whole = staff_post(&app, &token, CLOSURES, json!({"date": day.to_string()})).await;
    assert_eq!(whole.status(), 201);
    let whole: Value = whole.json().await.unwrap();
    assert_eq!(
        refs(&whole),
        vec![reference(&morning), reference(&afternoon)]
    );
    // The bookings stay as they are until staff act.
    let view: Value = staff_get(
        &app,
        &token,
        &format!("/api/v1/staff/bookings/{}", reference(&morning)),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(view["status"], "confirmed");
}

async fn a_malformed_closure_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(4);
    let both = staff_post(
        &app,
        &token,
        CLOSURES,
        json!({"date": day.to_string(), "start": local(day, "10:00")}),
    )
    .await;
    assert_problem(both, 422, "date", "invalid").await;
    let backwards = staff_post(
        &app,
        &token,
        CLOSURES,
        json!({"start": local(day, "16:00"), "end": local(day, "14:00")}),
    )
    .await;
    assert_problem(backwards, 422, "end", "invalid_range").await;
    let nothing = staff_post(&app, &token, CLOSURES, json!({"reason": "?"})).await;
    assert_problem(nothing, 422, "start", "required").await;
    let extra = staff_post(
        &app,
        &token,
        CLOSURES,
        json!({"date": day.to_string(), "all_staff": true}),
    )
    .await;
    assert_problem(extra, 422, "all_staff", "unknown_field").await;
    let bad_date = staff_post(&app, &token, CLOSURES, json!({"date": "2026-02-30"})).await;
    assert_problem(bad_date, 422, "date", "invalid").await;
    assert_eq!(
        staff_get(&app, &token, "/api/v1/staff/closures/abc")
            .await
            .status(),
        404
    );
}

backend_tests!(
    a_closed_date_closes_the_day_for_availability_and_bookings,
    a_closed_time_range_blocks_the_slots_it_overlaps,
    a_closure_over_confirmed_bookings_succeeds_and_lists_them,
    a_malformed_closure_is_refused,
);
