use chrono::{Datelike, Duration, Weekday};
use clinic_booking::schedule::national_holiday;
use serde_json::{json, Value};

use crate::helpers::{
    assert_problem, booking_body, error_codes, local, open_day, spawn_app, spawn_app_with, sunday,
    today, Backend,
};

async fn a_valid_booking_is_confirmed_with_a_reference_and_a_manage_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let response = app.post_booking(&booking_body(&local(day, "10:00"))).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let booking: Value = response.json().await.unwrap();
    let reference = booking["reference"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/bookings/{reference}"));
    assert_eq!(reference.len(), 9);
    assert!(!reference.contains(['0', 'O', '1', 'I', 'L']));
    assert_eq!(booking["status"], "confirmed");
    assert_eq!(booking["type"], "consultation");
    assert_eq!(booking["start"], format!("{day}T10:00:00+09:00"));
    assert_eq!(booking["end"], format!("{day}T10:30:00+09:00"));
    assert_eq!(booking["name"], "予約 太郎");
    assert_eq!(booking["email"], "taro@example.jp");
    assert_eq!(booking["phone"], "090-1234-5678");
    assert!(booking["created_at"].as_str().unwrap().ends_with("+09:00"));
    let manage_url = booking["manage_url"].as_str().unwrap();
    assert!(manage_url.starts_with(&format!("{}/manage/{reference}?token=", app.address)));
    let token = manage_url.split("token=").nth(1).unwrap();
    assert!(token.len() >= 22, "at least 128 bits of token");
}

async fn a_booking_may_be_posted_as_an_html_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let start = local(open_day(3), "11:00");
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "name=%E5%B1%B1%E7%94%B0&email=a%40example.jp&phone=0332890202&start={start}&consent=on&first_visit=true"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    assert_eq!(booking["name"], "山田");
    assert_eq!(booking["phone"], "03-3289-0202");
    assert_eq!(booking["first_visit"], true);
}

async fn full_width_phone_numbers_are_stored_normalised(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = booking_body(&local(open_day(3), "10:00"));
    body["phone"] = json!("０３−３２８９−０２０２");
    let response = app.post_booking(&body).await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    assert_eq!(booking["phone"], "03-3289-0202");
}

async fn a_start_with_another_offset_is_converted_to_clinic_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    // 01:00 UTC is 10:00 in Tokyo.
    let booking = app.book(&format!("{day}T01:00:00Z")).await;
    assert_eq!(booking["start"], format!("{day}T10:00:00+09:00"));
}

async fn booking_on_a_sunday_is_rejected_with_closed_day(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_booking(&booking_body(&local(sunday(3), "10:00")))
        .await;
    assert_problem(response, 422, "start", "closed_day").await;
}

async fn booking_on_a_configured_closed_date_is_rejected_with_closed_day(backend: Backend) {
    let day = open_day(5);
    let app = spawn_app_with(backend, |s| s.schedule.closed_dates = vec![day.to_string()]).await;
    let response = app.post_booking(&booking_body(&local(day, "10:00"))).await;
    assert_problem(response, 422, "start", "closed_day").await;
}

async fn booking_on_a_national_holiday_is_rejected_when_the_clinic_closes_on_holidays(
    backend: Backend,
) {
    let holiday = (2..85)
        .map(|n| today() + Duration::days(n))
        .find(|date| date.weekday() != Weekday::Sun && national_holiday(*date).is_some())
        .expect("a national holiday within 85 days");
    let open = spawn_app(backend).await;
    open.book(&local(holiday, "10:00")).await;
    let closed = spawn_app_with(backend, |s| s.schedule.closed_on_national_holidays = true).await;
    let response = closed
        .post_booking(&booking_body(&local(holiday, "10:00")))
        .await;
    assert_problem(response, 422, "start", "closed_day").await;
}

async fn booking_before_opening_is_rejected_with_outside_hours(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_booking(&booking_body(&local(open_day(3), "09:30")))
        .await;
    assert_problem(response, 422, "start", "outside_hours").await;
}

async fn a_consultation_that_would_end_after_closing_is_rejected_with_outside_hours(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let response = app
        .post_booking(&booking_body(&local(open_day(3), "18:30")))
        .await;
    assert_problem(response, 422, "start", "outside_hours").await;
}

async fn a_sixty_minute_treatment_must_end_by_closing(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let mut late = booking_body(&local(day, "18:00"));
    late["type"] = json!("stem-cell");
    assert_problem(app.post_booking(&late).await, 422, "start", "outside_hours").await;
    let mut last = booking_body(&local(day, "17:30"));
    last["type"] = json!("stem-cell");
    let response = app.post_booking(&last).await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    assert_eq!(booking["end"], format!("{day}T18:30:00+09:00"));
}

async fn an_off_grid_start_is_rejected_with_not_slot_aligned(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_booking(&booking_body(&local(open_day(3), "10:15")))
        .await;
    assert_problem(response, 422, "start", "not_slot_aligned").await;
}

async fn a_start_in_the_past_is_rejected_with_too_soon(backend: Backend) {
    let app = spawn_app(backend).await;
    let past = today() - Duration::days(7);
    let response = app.post_booking(&booking_body(&local(past, "10:00"))).await;
    assert_problem(response, 422, "start", "too_soon").await;
}

async fn a_start_inside_the_minimum_notice_is_rejected_with_too_soon(backend: Backend) {
    // Three days of notice: a slot two days ahead is too soon.
    let app = spawn_app_with(backend, |s| s.schedule.min_notice_minutes = 3 * 24 * 60).await;
    let day = today() + Duration::days(2);
    let day = if day.weekday() == Weekday::Sun {
        day - Duration::days(1)
    } else {
        day
    };
    let response = app.post_booking(&booking_body(&local(day, "10:00"))).await;
    assert_problem(response, 422, "start", "too_soon").await;
}

async fn a_start_beyond_the_booking_window_is_rejected_with_too_far_ahead(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_booking(&booking_body(&local(open_day(91), "10:00")))
        .await;
    assert_problem(response, 422, "start", "too_far_ahead").await;
}

async fn a_full_slot_is_a_409_with_the_nearest_free_alternatives(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    app.book(&local(day, "12:00")).await;
    let response = app.post_booking(&booking_body(&local(day, "12:00"))).await;
    let problem = assert_problem(response, 409, "start", "slot_unavailable").await;
    let starts: Vec<&str> = problem["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        vec![
            format!("{day}T11:00:00+09:00"),
            format!("{day}T11:30:00+09:00"),
            format!("{day}T12:30:00+09:00")
        ]
    );
}

async fn a_sixty_minute_treatment_needs_both_of_its_slots_free(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    app.book(&local(day, "14:30")).await;
    let mut overlapping = booking_body(&local(day, "14:00"));
    overlapping["type"] = json!("stem-cell");
    assert_problem(
        app.post_booking(&overlapping).await,
        409,
        "start",
        "slot_unavailable",
    )
    .await;
    // Nothing of the refused booking remains: 14:00 is still free.
    assert!(app.slot_available(day, &format!("{day}T14:00")).await);
}

async fn capacity_two_lets_two_patients_share_a_slot_but_not_three(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.schedule.capacity_per_slot = 2).await;
    let start = local(open_day(3), "10:00");
    app.book(&start).await;
    app.book(&start).await;
    assert_problem(
        app.post_booking(&booking_body(&start)).await,
        409,
        "start",
        "slot_unavailable",
    )
    .await;
}

async fn every_invalid_field_is_reported_in_one_response(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_booking(&json!({
            "name": "", "name_kana": "山田", "email": "not-an-email", "phone": "12345",
            "start": local(sunday(3), "10:00"), "type": "consultation", "consent": false,
            "message": "膝".repeat(2001),
        }))
        .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let mut codes = error_codes(&problem);
    codes.sort();
    let mut expected: Vec<(String, String)> = [
        ("name", "required"),
        ("name_kana", "invalid_kana"),
        ("email", "invalid_email"),
        ("phone", "invalid_phone"),
        ("start", "closed_day"),
        ("consent", "consent_required"),
        ("message", "too_long"),
    ]
    .iter()
    .map(|(f, c)| (f.to_string(), c.to_string()))
    .collect();
    expected.sort();
    assert_eq!(codes, expected);
    for error in problem["errors"].as_array().unwrap() {
        assert!(
            !error["message"].as_str().unwrap().is_ascii(),
            "Japanese message: {error}"
        );
    }
}

async fn missing_required_fields_are_reported_with_required(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.post_booking(&json!({"consent": true})).await;
    assert_eq!(response.status(), 422);
    let codes = error_codes(&response.json().await.unwrap());
    for field in ["name", "email", "phone", "start"] {
        assert!(
            codes.contains(&(field.to_string(), "required".to_string())),
            "{field}: {codes:?}"
        );
    }
}

async fn a_booking_without_consent_is_rejected_with_consent_required(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = booking_body(&local(open_day(3), "10:00"));
    body.as_object_mut().unwrap().remove("consent");
    assert_problem(
        app.post_booking(&body).await,
        422,
        "consent",
        "consent_required",
    )
    .await;
}

async fn an_unknown_consultation_type_is_rejected_with_unknown_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = booking_body(&local(open_day(3), "10:00"));
    body["type"] = json!("massage");
    assert_problem(app.post_booking(&body).await, 422, "type", "unknown_type").await;
}

async fn an_unreadable_start_is_rejected_with_invalid(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = booking_body("next tuesday at ten");
    assert_problem(app.post_booking(&body).await, 422, "start", "invalid").await;
}

async fn a_wrongly_typed_field_is_rejected_with_invalid(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = booking_body(&local(open_day(3), "10:00"));
    body["first_visit"] = json!("perhaps");
    body["name"] = json!(42);
    let response = app.post_booking(&body).await;
    assert_eq!(response.status(), 422);
    let codes = error_codes(&response.json().await.unwrap());
    assert!(codes.contains(&("first_visit".into(), "invalid".into())));
    assert!(codes.contains(&("name".into(), "invalid".into())));
}

async fn a_message_over_2000_characters_is_rejected_with_too_long(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = booking_body(&local(open_day(3), "10:00"));
    body["message"] = json!("あ".repeat(2001));
    assert_problem(app.post_booking(&body).await, 422, "message", "too_long").await;
    body["message"] = json!("あ".repeat(2000));
    assert_eq!(app.post_booking(&body).await.status(), 201);
}

async fn errors_are_in_english_when_the_client_prefers_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("accept-language", "en-US,en;q=0.9")
        .json(&json!({"consent": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["title"], "Invalid input");
    assert_eq!(problem["errors"][0]["message"], "Name is required.");
}

async fn a_booked_slot_disappears_from_availability(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    assert!(app.slot_available(day, &format!("{day}T15:00")).await);
    app.book(&local(day, "15:00")).await;
    assert!(!app.slot_available(day, &format!("{day}T15:00")).await);
    assert!(app.slot_available(day, &format!("{day}T15:30")).await);
}

crate::backend_tests!(
    a_valid_booking_is_confirmed_with_a_reference_and_a_manage_link,
    a_booking_may_be_posted_as_an_html_form,
    full_width_phone_numbers_are_stored_normalised,
    a_start_with_another_offset_is_converted_to_clinic_time,
    booking_on_a_sunday_is_rejected_with_closed_day,
    booking_on_a_configured_closed_date_is_rejected_with_closed_day,
    booking_on_a_national_holiday_is_rejected_when_the_clinic_closes_on_holidays,
    booking_before_opening_is_rejected_with_outside_hours,
    a_consultation_that_would_end_after_closing_is_rejected_with_outside_hours,
    a_sixty_minute_treatment_must_end_by_closing,
    an_off_grid_start_is_rejected_with_not_slot_aligned,
    a_start_in_the_past_is_rejected_with_too_soon,
    a_start_inside_the_minimum_notice_is_rejected_with_too_soon,
    a_start_beyond_the_booking_window_is_rejected_with_too_far_ahead,
    a_full_slot_is_a_409_with_the_nearest_free_alternatives,
    a_sixty_minute_treatment_needs_both_of_its_slots_free,
    capacity_two_lets_two_patients_share_a_slot_but_not_three,
    every_invalid_field_is_reported_in_one_response,
    missing_required_fields_are_reported_with_required,
    a_booking_without_consent_is_rejected_with_consent_required,
    an_unknown_consultation_type_is_rejected_with_unknown_type,
    an_unreadable_start_is_rejected_with_invalid,
    a_wrongly_typed_field_is_rejected_with_invalid,
    a_message_over_2000_characters_is_rejected_with_too_long,
    errors_are_in_english_when_the_client_prefers_it,
    a_booked_slot_disappears_from_availability,
);
