//! The change deadline: patients cancel or move a booking themselves only
//! until `patient_change_deadline_hours` before it; after it they call the
//! clinic. Staff are not bound by it. (The minute either side of the
//! deadline, in the clinic's zone, is unit-tested in `schedule`.)

use serde_json::{json, Value};

use crate::helpers::{
    assert_problem, local, manage_token, open_day, spawn_app_with, Backend, TestApp,
};
use crate::staff_helpers::{patched, staff_token};

/// A deadline longer than the booking window: every booking is past it.
async fn past_deadline_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |settings| {
        settings.schedule.patient_change_deadline_hours = 24 * 120;
        settings.forms.min_fill_seconds = 0;
    })
    .await
}

async fn post_with_token(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("{path}?token={token}")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn status_of(app: &TestApp, reference: &str, token: &str) -> String {
    let seen: Value = app
        .get(&format!("/api/v1/bookings/{reference}?token={token}"))
        .await
        .json()
        .await
        .unwrap();
    seen["status"].as_str().unwrap().to_string()
}

async fn a_patients_cancel_after_the_deadline_is_422_with_the_clinic_phone(backend: Backend) {
    let app = past_deadline_app(backend).await;
    let date = open_day(3);
    let booking = app.book(&local(date, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    let response = post_with_token(
        &app,
        &format!("/api/v1/bookings/{reference}/cancel"),
        &token,
        json!({}),
    )
    .await;
    let problem = assert_problem(response, 422, "start", "change_deadline_passed").await;
    assert!(problem["detail"].as_str().unwrap().contains("03-3289-0202"));
    assert_eq!(problem["phone"], "03-3289-0202");
    assert!(problem["deadline"].as_str().unwrap().ends_with("+09:00"));
    assert_eq!(status_of(&app, reference, &token).await, "confirmed");
    assert!(!app.slot_available(date, &local(date, "10:00")).await);
}

async fn a_patients_reschedule_after_the_deadline_is_422_and_moves_nothing(backend: Backend) {
    let app = past_deadline_app(backend).await;
    let date = open_day(3);
    let booking = app.book(&local(date, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    let response = post_with_token(
        &app,
        &format!("/api/v1/bookings/{reference}/reschedule"),
        &token,
        json!({"start": local(date, "14:00")}),
    )
    .await;
    assert_problem(response, 422, "start", "change_deadline_passed").await;
    assert!(app.slot_available(date, &local(date, "14:00")).await);
    assert!(!app.slot_available(date, &local(date, "10:00")).await);
}

async fn staff_are_not_bound_by_the_change_deadline(backend: Backend) {
    let app = past_deadline_app(backend).await;
    let date = open_day(3);
    let booking = app.book(&local(date, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let staff = staff_token(&app, "desk").await;
    let moved = patched(
        &app,
        &staff,
        reference,
        json!({"start": local(date, "15:00")}),
    )
    .await;
    assert!(moved["start"]
        .as_str()
        .unwrap()
        .starts_with(&local(date, "15:00")));
    let cancelled = patched(&app, &staff, reference, json!({"status": "cancelled"})).await;
    assert_eq!(cancelled["status"], "cancelled");
}

async fn before_the_deadline_a_type_with_its_own_deadline_is_still_enforced(backend: Backend) {
    // The clinic-wide deadline is short, the type's own one long.
    let app = spawn_app_with(backend, |settings| {
        settings.schedule.patient_change_deadline_hours = 0;
        for kind in &mut settings.schedule.consultation_types {
            if kind.code == "stem-cell" {
                kind.change_deadline_hours = Some(24 * 120);
            }
        }
    })
    .await;
    let date = open_day(3);
    let mut body = crate::helpers::booking_body(&local(date, "10:00"));
    body["type"] = json!("stem-cell");
    let stem_cell: Value = app.post_booking(&body).await.json().await.unwrap();
    let consultation = app.book(&local(date, "14:00")).await;
    let cancel = |booking: &Value| {
        let reference = booking["reference"].as_str().unwrap().to_string();
        let token = manage_token(booking);
        let app = &app;
        async move {
            post_with_token(
                app,
                &format!("/api/v1/bookings/{reference}/cancel"),
                &token,
                json!({}),
            )
            .await
        }
    };
    assert_problem(
        cancel(&stem_cell).await,
        422,
        "start",
        "change_deadline_passed",
    )
    .await;
    assert_eq!(cancel(&consultation).await.status(), 200);
}

async fn the_manage_page_states_the_deadline_and_after_it_the_phone(backend: Backend) {
    let before = spawn_app_with(backend, |settings| settings.forms.min_fill_seconds = 0).await;
    let date = open_day(3);
    let booking = before.book(&local(date, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    let (page, cookie) = before.open_manage_link(reference, &token).await;
    let html = before
        .get_with_cookie(&page, &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"deadline\""), "{html}");
    assert!(html.contains("まで承ります"));
    assert!(html.contains(&format!("action=\"/manage/{reference}/cancel\"")));

    let after = past_deadline_app(backend).await;
    let booking = after.book(&local(date, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    let (page, cookie) = after.open_manage_link(reference, &token).await;
    let html = after
        .get_with_cookie(&page, &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("受付期限"));
    assert!(html.contains("03-3289-0202"));
    assert!(!html.contains(&format!("action=\"/manage/{reference}/cancel\"")));
}

async fn the_confirmation_email_states_the_deadline(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.forms.min_fill_seconds = 0).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let email = booking["email"].as_str().unwrap().to_string();
    let mail = app
        .mail
        .wait_for(1, std::time::Duration::from_secs(10), |m| m.is_to(&email))
        .await;
    let patient = mail.first().expect("the patient's confirmation").text();
    assert!(
        patient.contains("オンラインでの変更・キャンセルは"),
        "{patient}"
    );
    assert!(patient.contains("までです。"));
}

crate::backend_tests!(
    a_patients_cancel_after_the_deadline_is_422_with_the_clinic_phone,
    a_patients_reschedule_after_the_deadline_is_422_and_moves_nothing,
    staff_are_not_bound_by_the_change_deadline,
    before_the_deadline_a_type_with_its_own_deadline_is_still_enforced,
    the_manage_page_states_the_deadline_and_after_it_the_phone,
    the_confirmation_email_states_the_deadline,
);
