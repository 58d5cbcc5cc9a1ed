use std::collections::BTreeMap;

use icalendar::{Component, EventStatus};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{local, open_day, spawn_app_with, Backend};
use crate::staff_helpers::{patched, reference, staff_get, staff_token};

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
    assert!(description.contains("膝, 右; 痛み\\強い"), "{description}");
    assert!(text.contains("DTSTART;TZID=Asia/Tokyo:"));
}

backend_tests!(the_feed_parses_and_holds_exactly_the_bookings_of_its_window);
