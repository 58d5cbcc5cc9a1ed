use std::collections::BTreeMap;

use icalendar::{Component, EventStatus};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{local, open_day, spawn_app, spawn_app_with, Backend};
use crate::staff_helpers::{
    calendar_token, patched, reference, staff_delete, staff_get, staff_patch, staff_post,
    staff_token,
};

async fn the_feed_parses_and_holds_exactly_the_bookings_of_its_window(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.staff.feed_days_ahead = 8).await;
    let token = staff_token(&app, "desk").await;
    let kept = app.book(&local(open_day(2), "10:00")).await;
    let stem_cell = {
        let mut body = crate::helpers::booking_body(&local(open_day(3), "11:00"));
        body["type"] = json!("stem-cell");
        body["message"] = json!("膝, 右; 痛み\\強い");
        let response = app.post_booking(&body).await;
        assert_eq!(response.status(), 201);
        response.json::<serde_json::Value>().await.unwrap()
    };
    let cancelled = app.book(&local(open_day(3), "15:00")).await;
    patched(
        &app,
        &token,
        &reference(&cancelled),
        json!({"status": "cancelled"}),
    )
    .await;
    patched(
        &app,
        &token,
        &reference(&stem_cell),
        json!({"staff_note": "院長メモ: 紹介状あり"}),
    )
    .await;
    let beyond = app.book(&local(open_day(12), "10:00")).await;

    let response = staff_get(&app, &token, "/api/v1/staff/calendar.ics").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo"));
    assert!(
        text.split("\r\n").all(|line| line.len() <= 75),
        "folded lines"
    );
    let calendar: icalendar::Calendar = text.parse().expect("the feed parses");
    let events: BTreeMap<String, &icalendar::Event> = calendar
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .map(|e| (e.get_uid().unwrap().to_string(), e))
        .collect();
    let uid =
        |booking: &serde_json::Value| format!("booking-{}@clinic-booking", reference(booking));
    let expected: Vec<String> = {
        let mut uids = vec![uid(&kept), uid(&stem_cell), uid(&cancelled)];
        uids.sort();
        uids
    };
    assert_eq!(events.keys().cloned().collect::<Vec<_>>(), expected);
    assert!(!events.contains_key(&uid(&beyond)));
    assert_eq!(
        events[&uid(&cancelled)].get_status(),
        Some(EventStatus::Cancelled)
    );
    assert_eq!(
        events[&uid(&kept)].get_status(),
        Some(EventStatus::Confirmed)
    );
    let event = events[&uid(&stem_cell)];
    let summary = event.get_summary().unwrap();
    assert!(summary.contains(&reference(&stem_cell)), "{summary}");
    assert!(summary.contains("幹細胞治療"), "{summary}");
    assert!(!summary.contains("予約 太郎"));
    let description = event.get_description().unwrap();
    assert!(description.contains("予約 太郎"), "{description}");
    assert!(text.contains("DTSTART;TZID=Asia/Tokyo:"));
    // Calendar apps copy events to phones and cloud accounts: what the
    // patient wrote and what staff noted stay in the service.
    assert!(!text.contains("痛み"), "the patient's message: {text}");
    assert!(!text.contains("右膝"), "the patient's message: {text}");
    assert!(!text.contains("紹介状"), "the staff note: {text}");
}

async fn a_calendar_token_opens_the_feed_and_nothing_else(backend: Backend) {
    let app = spawn_app(backend).await;
    let booking = app.book(&local(open_day(2), "10:00")).await;
    let calendar = calendar_token(&app, "wall-display").await;

    let by_header = staff_get(&app, &calendar, "/api/v1/staff/calendar.ics").await;
    assert_eq!(by_header.status(), 200);
    let by_query = app
        .get(&format!("/api/v1/staff/calendar.ics?token={calendar}"))
        .await;
    assert_eq!(by_query.status(), 200);
    assert!(by_query
        .text()
        .await
        .unwrap()
        .contains(&reference(&booking)));

    let reference = reference(&booking);
    for path in [
        "/api/v1/staff/bookings".to_string(),
        format!("/api/v1/staff/bookings/{reference}"),
        "/api/v1/staff/closures".to_string(),
        "/api/v1/staff/inquiries".to_string(),
        "/api/v1/staff/outbox".to_string(),
        "/api/v1/staff/audit".to_string(),
    ] {
        let response = staff_get(&app, &calendar, &path).await;
        assert_eq!(response.status(), 401, "GET {path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    let moved = staff_patch(&app, &calendar, &reference, json!({"status": "cancelled"})).await;
    assert_eq!(moved.status(), 401);
    let closed = staff_post(
        &app,
        &calendar,
        "/api/v1/staff/closures",
        json!({"date": open_day(5).to_string(), "reason": "臨時休診"}),
    )
    .await;
    assert_eq!(closed.status(), 401);
    let erased = staff_delete(
        &app,
        &calendar,
        &format!("/api/v1/staff/bookings/{reference}/personal-data"),
    )
    .await;
    assert_eq!(erased.status(), 401);

    // Nothing changed, and a full staff token still opens everything.
    let staff = staff_token(&app, "desk").await;
    let view: serde_json::Value =
        staff_get(&app, &staff, &format!("/api/v1/staff/bookings/{reference}"))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(view["status"], "confirmed");
    assert_eq!(
        staff_get(&app, &staff, "/api/v1/staff/closures")
            .await
            .status(),
        200
    );
}

backend_tests!(
    the_feed_parses_and_holds_exactly_the_bookings_of_its_window,
    a_calendar_token_opens_the_feed_and_nothing_else,
);
