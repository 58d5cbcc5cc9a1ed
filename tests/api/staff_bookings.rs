use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{
    assert_problem, booking_body, local, manage_token, open_day, spawn_app, spawn_app_with, Backend,
};
use crate::staff_helpers::{patched, reference, staff_get, staff_patch, staff_token};

async fn the_list_is_ordered_by_start_with_patient_details_and_pages_by_cursor(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(4);
    let late = app.book(&local(day, "15:00")).await;
    let early = app.book(&local(day, "10:00")).await;
    let middle = app.book(&local(day, "12:30")).await;
    let path = format!("/api/v1/staff/bookings?from={day}&to={day}&limit=2");
    let first: Value = staff_get(&app, &token, &path).await.json().await.unwrap();
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["reference"], early["reference"]);
    assert_eq!(items[1]["reference"], middle["reference"]);
    assert_eq!(items[0]["email"], "taro@example.jp");
    assert_eq!(items[0]["phone"], "090-1234-5678");
    assert_eq!(items[0]["first_visit"], true);
    assert_eq!(items[0]["message"], "右膝が痛みます。");
    assert_eq!(items[0]["status"], "confirmed");
    assert!(items[0]["confirmed_at"].is_string());
    assert!(items[0]["cancelled_at"].is_null());
    assert!(items[0].get("staff_note").is_some());
    assert!(items[0].get("source").is_some());
    assert!(items[0].get("manage_url").is_none());
    let next = first["next"].as_str().expect("a next page");
    let second: Value = app
        .client
        .get(next)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = second["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["reference"], late["reference"]);
    assert!(second["next"].is_null());

    // Filters: another day, and status.
    let other: Value = staff_get(
        &app,
        &token,
        &format!("/api/v1/staff/bookings?from={}", day.succ_opt().unwrap()),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(other["items"].as_array().unwrap().len(), 0);
    let cancelled: Value = staff_get(&app, &token, "/api/v1/staff/bookings?status=cancelled")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["items"].as_array().unwrap().len(), 0);
    let bad = staff_get(&app, &token, "/api/v1/staff/bookings?status=lost").await;
    assert_problem(bad, 422, "status", "invalid").await;
    let bad = staff_get(&app, &token, "/api/v1/staff/bookings?after=garbage!").await;
    assert_eq!(bad.status(), 400);
    let bad = staff_get(&app, &token, "/api/v1/staff/bookings?limit=0").await;
    assert_eq!(bad.status(), 422);
}

async fn every_allowed_status_transition_works_and_the_others_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = reference(&booking);
    let set = |status: &'static str| json!({ "status": status });
    // confirmed -> completed -> no_show -> completed -> confirmed -> no_show
    // -> confirmed -> cancelled -> confirmed -> cancelled
    for status in [
        "completed",
        "no_show",
        "completed",
        "confirmed",
        "no_show",
        "confirmed",
        "cancelled",
        "confirmed",
        "confirmed",
        "cancelled",
        "cancelled",
    ] {
        let view = patched(&app, &token, &reference, set(status)).await;
        assert_eq!(view["status"], status);
    }
    // Cancelled: only confirming it again is possible.
    for status in ["completed", "no_show"] {
        let refused = staff_patch(&app, &token, &reference, set(status)).await;
        assert_problem(refused, 422, "status", "invalid_status").await;
    }
    // A visit that took place (or was missed) cannot be cancelled.
    let view = patched(&app, &token, &reference, set("confirmed")).await;
    assert!(view["confirmed_at"].is_string());
    for status in ["completed", "no_show"] {
        patched(&app, &token, &reference, set(status)).await;
        let refused = staff_patch(&app, &token, &reference, set("cancelled")).await;
        assert_problem(refused, 422, "status", "invalid_status").await;
    }
    let view = patched(&app, &token, &reference, set("completed")).await;
    assert!(view["completed_at"].is_string());
    assert!(view["no_show_at"].is_string());
    assert!(view["cancelled_at"].is_string());
    let unknown = staff_patch(&app, &token, &reference, set("lost")).await;
    assert_problem(unknown, 422, "status", "invalid").await;
    let missing = staff_patch(&app, &token, "ABCD-EFGH", set("completed")).await;
    assert_eq!(missing.status(), 404);
}

async fn confirming_a_cancelled_booking_again_needs_its_slot_free(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let start = local(open_day(3), "11:00");
    let first = app.book(&start).await;
    patched(
        &app,
        &token,
        &reference(&first),
        json!({"status": "cancelled"}),
    )
    .await;
    let taker = app.book(&start).await;
    let refused = staff_patch(
        &app,
        &token,
        &reference(&first),
        json!({"status": "confirmed"}),
    )
    .await;
    assert_problem(refused, 409, "start", "slot_unavailable").await;
    // At another start it can come back.
    let moved = local(open_day(3), "13:00");
    let view = patched(
        &app,
        &token,
        &reference(&first),
        json!({"status": "confirmed", "start": moved}),
    )
    .await;
    assert_eq!(view["status"], "confirmed");
    assert!(view["start"].as_str().unwrap().starts_with(&moved));
    assert_eq!(taker["status"], "confirmed");
}

async fn a_staff_reschedule_into_a_full_slot_is_409_with_alternatives(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(3);
    let booking = app.book(&local(day, "10:00")).await;
    app.book(&local(day, "12:00")).await;
    let refused = staff_patch(
        &app,
        &token,
        &reference(&booking),
        json!({"start": local(day, "12:00")}),
    )
    .await;
    let problem = assert_problem(refused, 409, "start", "slot_unavailable").await;
    assert!(!problem["alternatives"].as_array().unwrap().is_empty());
    let view: Value = staff_get(
        &app,
        &token,
        &format!("/api/v1/staff/bookings/{}", reference(&booking)),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(view["start"], booking["start"]);
    // A free slot works, and frees the old one.
    let view = patched(
        &app,
        &token,
        &reference(&booking),
        json!({"start": local(day, "16:00")}),
    )
    .await;
    assert!(view["start"]
        .as_str()
        .unwrap()
        .starts_with(&local(day, "16:00")));
    assert!(app.slot_available(day, &local(day, "10:00")).await);
}

async fn staff_may_move_a_booking_inside_the_minimum_notice(backend: Backend) {
    // Three days' notice for patients makes tomorrow "too soon" for them.
    let app = spawn_app_with(backend, |s| s.schedule.min_notice_minutes = 3 * 24 * 60).await;
    let token = staff_token(&app, "desk").await;
    let soon = local(open_day(1), "10:00");
    let patient = app.post_booking(&booking_body(&soon)).await;
    assert_problem(patient, 422, "start", "too_soon").await;
    let booking = app.book(&local(open_day(5), "10:00")).await;
    let view = patched(&app, &token, &reference(&booking), json!({"start": soon})).await;
    assert!(view["start"].as_str().unwrap().starts_with(&soon));
    // Still not in the past, nor off the grid.
    let past = staff_patch(
        &app,
        &token,
        &reference(&booking),
        json!({"start": "2020-01-06T10:00"}),
    )
    .await;
    assert_problem(past, 422, "start", "too_soon").await;
    let odd = staff_patch(
        &app,
        &token,
        &reference(&booking),
        json!({"start": local(open_day(5), "10:10")}),
    )
    .await;
    assert_problem(odd, 422, "start", "not_slot_aligned").await;
}

async fn fields_staff_cannot_change_are_refused_and_nothing_is_applied(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let refused = staff_patch(
        &app,
        &token,
        &reference(&booking),
        json!({"staff_note": "電話済み", "email": "other@example.jp", "name": "別人"}),
    )
    .await;
    let problem = assert_problem(refused, 422, "email", "unknown_field").await;
    assert!(
        crate::helpers::error_codes(&problem).contains(&("name".into(), "unknown_field".into()))
    );
    let view: Value = staff_get(
        &app,
        &token,
        &format!("/api/v1/staff/bookings/{}", reference(&booking)),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(view["staff_note"].is_null());
    assert_eq!(view["email"], "taro@example.jp");
}

async fn changes_are_in_the_audit_trail_with_who_made_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "受付A").await;
    let day = open_day(3);
    let booking = app.book(&local(day, "10:00")).await;
    let reference = reference(&booking);
    let view = patched(
        &app,
        &token,
        &reference,
        json!({"staff_note": "保険証確認済み"}),
    )
    .await;
    assert_eq!(view["staff_note"], "保険証確認済み");
    patched(
        &app,
        &token,
        &reference,
        json!({"start": local(day, "11:00")}),
    )
    .await;
    let view = patched(&app, &token, &reference, json!({"staff_note": null})).await;
    assert!(view["staff_note"].is_null());
    // The patient cancels with their own token.
    let cancel = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{reference}/cancel?token={}",
            manage_token(&booking)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    let view: Value = staff_get(&app, &token, &format!("/api/v1/staff/bookings/{reference}"))
        .await
        .json()
        .await
        .unwrap();
    let trail: Vec<(String, String)> = view["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().into(),
                e["action"].as_str().unwrap().into(),
            )
        })
        .filter(|(_, action): &(String, String)| action != "booking.viewed")
        .collect();
    let expected: Vec<(String, String)> = [
        ("patient", "booking.created"),
        ("受付A", "booking.staff_note_changed"),
        ("受付A", "booking.rescheduled"),
        ("受付A", "booking.staff_note_changed"),
        ("patient", "booking.cancelled"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(trail, expected);
    let text = view["audit"].to_string();
    assert!(
        !text.contains("保険証"),
        "no note text in the audit: {text}"
    );
    assert!(!text.contains("taro@example.jp"));
    let log: Value = staff_get(&app, &token, "/api/v1/staff/audit?limit=3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["items"].as_array().unwrap().len(), 3);
    assert!(log["next"].is_string());
}

async fn staff_moving_many_bookings_into_one_slot_at_once_fills_it_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(3);
    let mut references = Vec::new();
    for time in ["10:00", "10:30", "11:00", "11:30", "12:00", "12:30"] {
        references.push(reference(&app.book(&local(day, time)).await));
    }
    let target = local(day, "16:00");
    // Staff and patients race for the same slot.
    let staff = references.iter().map(|reference| {
        let (app, token, target) = (&app, &token, target.clone());
        async move {
            staff_patch(app, token, reference, json!({ "start": target }))
                .await
                .status()
                .as_u16()
        }
    });
    let patients = (0..4).map(|_| {
        let (app, target) = (&app, target.clone());
        async move {
            app.post_booking(&booking_body(&target))
                .await
                .status()
                .as_u16()
        }
    });
    let (staff, patients) = futures_util::future::join(
        futures_util::future::join_all(staff),
        futures_util::future::join_all(patients),
    )
    .await;
    let won = staff
        .iter()
        .chain(&patients)
        .filter(|s| **s == 200 || **s == 201)
        .count();
    let lost = staff.iter().chain(&patients).filter(|s| **s == 409).count();
    assert_eq!(
        (won, lost),
        (1, 9),
        "staff {staff:?}, patients {patients:?}"
    );
}

async fn a_patient_checked_in_is_arrived_in_the_api_the_lists_and_the_feed(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(3);
    let booking = app.book(&local(day, "10:00")).await;
    app.book(&local(day, "11:00")).await;
    let reference = reference(&booking);
    let view = patched(&app, &token, &reference, json!({"status": "arrived"})).await;
    assert_eq!(view["status"], "arrived");
    assert!(view["arrived_at"].is_string());
    assert!(view["audit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|entry| entry["action"] == "booking.status_changed"
            && entry["detail"] == json!({"from": "confirmed", "to": "arrived"})));
    // Its seat stays taken.
    assert!(!app.slot_available(day, &local(day, "10:00")).await);
    // The status filter knows it.
    let arrived: Value = staff_get(
        &app,
        &token,
        &format!("/api/v1/staff/bookings?from={day}&status=arrived"),
    )
    .await
    .json()
    .await
    .unwrap();
    let items = arrived["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["reference"], reference.as_str());
    let both: Value = staff_get(
        &app,
        &token,
        &format!("/api/v1/staff/bookings?from={day}&status=arrived,confirmed"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(both["items"].as_array().unwrap().len(), 2);
    // The calendar feed says so in the event's description.
    let feed = staff_get(&app, &token, "/api/v1/staff/calendar.ics")
        .await
        .text()
        .await
        .unwrap()
        .replace("\r\n ", "");
    assert!(feed.contains("状態: 受付済"), "{feed}");
    // A patient in the clinic cannot cancel online, nor can staff cancel
    // before setting it back to confirmed; completed and back work.
    let cancel = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{reference}/cancel")))
        .bearer_auth(manage_token(&booking))
        .send()
        .await
        .unwrap();
    assert_problem(cancel, 422, "status", "invalid_status").await;
    let refused = staff_patch(&app, &token, &reference, json!({"status": "cancelled"})).await;
    assert_problem(refused, 422, "status", "invalid_status").await;
    for status in [
        "completed",
        "arrived",
        "no_show",
        "arrived",
        "confirmed",
        "arrived",
    ] {
        let view = patched(&app, &token, &reference, json!({ "status": status })).await;
        assert_eq!(view["status"], status);
    }
}

backend_tests!(
    staff_moving_many_bookings_into_one_slot_at_once_fills_it_once,
    the_list_is_ordered_by_start_with_patient_details_and_pages_by_cursor,
    every_allowed_status_transition_works_and_the_others_are_refused,
    confirming_a_cancelled_booking_again_needs_its_slot_free,
    a_staff_reschedule_into_a_full_slot_is_409_with_alternatives,
    staff_may_move_a_booking_inside_the_minimum_notice,
    fields_staff_cannot_change_are_refused_and_nothing_is_applied,
    changes_are_in_the_audit_trail_with_who_made_them,
    a_patient_checked_in_is_arrived_in_the_api_the_lists_and_the_feed,
);
