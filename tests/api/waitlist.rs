//! The waiting list: joining (API and form), the offer of a freed seat,
//! its hold, accepting it, a lapse passing it on, `max_offers`, leaving,
//! the staff list, erasure, and two instances racing to offer one seat.
//! Time is moved with the instance's clock, never slept through.

use std::time::Duration;

use chrono::NaiveDate;
use serde_json::{json, Value};

use crate::console_helpers::Console;
use crate::helpers::{
    assert_problem, local, manage_cookie, manage_token, open_day, spawn_app_with, spawn_on,
    Backend, TestApp, TestDatabase,
};
use crate::practitioners::{body_for, book_with, with_practitioners};
use crate::staff_helpers::{staff_delete, staff_get, staff_token};

crate::backend_tests!(
    joining_answers_waiting_with_a_manage_url_and_mails_it,
    a_join_with_bad_fields_gets_every_field_error,
    a_repeated_idempotency_key_joins_once,
    a_cancellation_offers_the_seat_to_the_earliest_matching_entry,
    a_held_seat_is_refused_to_everyone_else,
    accepting_the_offer_books_the_held_seat,
    a_lapsed_offer_passes_the_seat_to_the_next_entry,
    an_entry_expires_after_max_offers,
    a_move_away_offers_the_old_time,
    leaving_the_list_passes_a_held_seat_on,
    staff_list_the_days_entries_on_the_record,
    the_console_day_page_shows_the_waiting_list,
    erasing_a_patient_deletes_their_entries,
    staff_erase_an_entry_and_its_hold_passes_on,
    an_offer_is_posted_to_webhook_receivers_as_waitlist_offered,
    the_form_keeps_what_was_typed_and_joins,
    the_emailed_link_is_traded_for_a_cookie,
    a_full_day_on_reserve_links_to_the_waiting_list,
    a_seat_the_configuration_adds_is_offered_at_start,
    a_freed_doctor_and_room_are_held_for_the_earliest_entry_they_suit;
    postgres_only:
    two_instances_offer_one_freed_seat_exactly_once,
);

const WITHIN: Duration = Duration::from_secs(10);

fn quick(settings: &mut clinic_booking::configuration::Settings) {
    settings.waitlist.poll_interval_ms = 20;
    settings.forms.min_fill_seconds = 0;
}

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, quick).await
}

fn day() -> NaiveDate {
    open_day(3)
}

fn entry_body(email: &str) -> Value {
    json!({
        "name": "待機 花子",
        "email": email,
        "phone": "090-2222-3333",
        "type": "consultation",
        "date": day().to_string(),
        "from": "10:00",
        "to": "11:00",
        "consent": true,
    })
}

/// Joins as `email`; returns (reference, manage token).
async fn join(app: &TestApp, email: &str) -> (String, String) {
    let response = app.post_json("/api/v1/waitlist", &entry_body(email)).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "join failed: {body}");
    (
        body["reference"].as_str().unwrap().to_string(),
        manage_token(&body),
    )
}

async fn entry(app: &TestApp, reference: &str, token: &str) -> Value {
    let response = app
        .get(&format!("/api/v1/waitlist/{reference}?token={token}"))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Waits (polling, at most `WITHIN`) until the entry has `status`.
async fn until_status(app: &TestApp, reference: &str, token: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let seen = entry(app, reference, token).await;
        if seen["status"] == status {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{reference} never became {status}: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The token of the link in the offer email to `email`.
async fn offer_token(app: &TestApp, email: &str) -> String {
    let mails = app
        .mail
        .wait_for(1, WITHIN, |m| {
            m.is_to(email) && m.subject().contains("キャンセル待ちのお席が空きました")
        })
        .await;
    let mail = mails.last().expect("an offer email");
    let text = mail.text();
    let at = text.find("?token=").expect("a link in the offer") + "?token=".len();
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Books 10:00 on the day (the one seat), returning (reference, token).
async fn book_the_seat(app: &TestApp) -> (String, String) {
    let booking = app.book(&local(day(), "10:00")).await;
    (
        booking["reference"].as_str().unwrap().to_string(),
        manage_token(&booking),
    )
}

async fn cancel_booking(app: &TestApp, reference: &str, token: &str) {
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{reference}/cancel?token={token}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn accept(app: &TestApp, reference: &str, token: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!(
            "/api/v1/waitlist/{reference}/accept?token={token}"
        )))
        .send()
        .await
        .unwrap()
}

async fn joining_answers_waiting_with_a_manage_url_and_mails_it(backend: Backend) {
    let app = app(backend).await;
    let response = app
        .post_json("/api/v1/waitlist", &entry_body("wait-a@example.jp"))
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "waiting");
    let reference = body["reference"].as_str().unwrap();
    let url = body["manage_url"].as_str().unwrap();
    assert!(
        url.contains(&format!("/waitlist/{reference}?token=")),
        "{url}"
    );
    let token = manage_token(&body);
    let seen = entry(&app, reference, &token).await;
    assert_eq!(seen["status"], "waiting");
    assert_eq!(seen["date"], day().to_string());
    assert_eq!(seen["from"], "10:00");
    assert_eq!(seen["to"], "11:00");
    assert!(seen["offer"].is_null());
    let wrong = app
        .get(&format!(
            "/api/v1/waitlist/{reference}?token={}",
            "x".repeat(43)
        ))
        .await;
    assert_eq!(wrong.status(), 404);
    let mails = app
        .mail
        .wait_for(1, WITHIN, |m| m.is_to("wait-a@example.jp"))
        .await;
    assert_eq!(mails.len(), 1);
    let text = mails[0].text();
    assert!(mails[0]
        .subject()
        .contains("キャンセル待ちを受け付けました"));
    assert!(text.contains(&format!("/waitlist/{reference}?token={token}")));
    assert!(
        !text.contains("待機 花子"),
        "the acknowledgement echoes no name"
    );
}

async fn a_join_with_bad_fields_gets_every_field_error(backend: Backend) {
    let app = app(backend).await;
    let response = app
        .post_json(
            "/api/v1/waitlist",
            &json!({"email": "nope", "phone": "090-1234-5678", "date": "2020-01-01",
                    "from": "11:00", "to": "10:00"}),
        )
        .await;
    let problem = assert_problem(response, 422, "name", "required").await;
    let codes = crate::helpers::error_codes(&problem);
    for expected in [
        ("email", "invalid_email"),
        ("date", "too_soon"),
        ("to", "invalid_range"),
        ("consent", "consent_required"),
    ] {
        assert!(
            codes.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} in {codes:?}"
        );
    }
}

async fn a_repeated_idempotency_key_joins_once(backend: Backend) {
    let app = app(backend).await;
    let send = || {
        app.client
            .post(app.url("/api/v1/waitlist"))
            .header("Idempotency-Key", "join-1")
            .json(&entry_body("wait-a@example.jp"))
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["reference"], again["reference"]);
    let token = staff_token(&app, "desk").await;
    let list: Value = staff_get(
        &app,
        &token,
        &format!("/api/v1/staff/waitlist?date={}", day()),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn a_cancellation_offers_the_seat_to_the_earliest_matching_entry(backend: Backend) {
    let app = app(backend).await;
    let (booking, booking_token) = book_the_seat(&app).await;
    let (first, first_token) = join(&app, "wait-a@example.jp").await;
    let (second, second_token) = join(&app, "wait-b@example.jp").await;
    cancel_booking(&app, &booking, &booking_token).await;
    let offered = until_status(&app, &first, &first_token, "offered").await;
    assert!(
        offered["offer"]["start"]
            .as_str()
            .unwrap()
            .starts_with(&local(day(), "10:00")),
        "{offered}"
    );
    assert!(offered["offer"]["expires_at"].is_string());
    assert_eq!(offered["offers_made"], 1);
    assert_eq!(
        entry(&app, &second, &second_token).await["status"],
        "waiting"
    );
    let token = offer_token(&app, "wait-a@example.jp").await;
    // The offer email's token opens the entry too.
    assert_eq!(entry(&app, &first, &token).await["status"], "offered");
    assert!(app
        .mail
        .mails_to("wait-b@example.jp")
        .iter()
        .all(|m| !m.subject().contains("空きました")));
}

async fn a_held_seat_is_refused_to_everyone_else(backend: Backend) {
    let app = app(backend).await;
    let (booking, booking_token) = book_the_seat(&app).await;
    let (first, first_token) = join(&app, "wait-a@example.jp").await;
    cancel_booking(&app, &booking, &booking_token).await;
    until_status(&app, &first, &first_token, "offered").await;
    let response = app
        .post_booking(&crate::helpers::booking_body(&local(day(), "10:00")))
        .await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    assert!(!app.slot_available(day(), &local(day(), "10:00")).await);
}

async fn accepting_the_offer_books_the_held_seat(backend: Backend) {
    let app = app(backend).await;
    let (booking, booking_token) = book_the_seat(&app).await;
    let (first, first_token) = join(&app, "wait-a@example.jp").await;
    cancel_booking(&app, &booking, &booking_token).await;
    until_status(&app, &first, &first_token, "offered").await;
    let token = offer_token(&app, "wait-a@example.jp").await;
    let response = accept(&app, &first, &token).await;
    assert_eq!(response.status(), 201);
    let booked: Value = response.json().await.unwrap();
    assert_eq!(booked["status"], "confirmed");
    assert_eq!(booked["email"], "wait-a@example.jp");
    assert!(booked["start"]
        .as_str()
        .unwrap()
        .starts_with(&local(day(), "10:00")));
    let new_token = manage_token(&booked);
    let reference = booked["reference"].as_str().unwrap();
    let seen = app
        .get(&format!("/api/v1/bookings/{reference}?token={new_token}"))
        .await;
    assert_eq!(seen.status(), 200);
    let after = entry(&app, &first, &first_token).await;
    assert_eq!(after["status"], "booked");
    assert_eq!(after["booking"]["reference"], reference);
    assert!(after["offer"].is_null());
    let confirmations = app
        .mail
        .wait_for(1, WITHIN, |m| {
            m.is_to("wait-a@example.jp") && m.subject().contains(reference)
        })
        .await;
    assert!(
        !confirmations.is_empty(),
        "the booking confirmation is mailed"
    );
    // The seat is the booking's now: nobody else gets it, and accepting
    // again finds no held offer.
    assert!(!app.slot_available(day(), &local(day(), "10:00")).await);
    let again = accept(&app, &first, &token).await;
    assert_problem(again, 409, "offer", "offer_expired").await;
}

async fn a_lapsed_offer_passes_the_seat_to_the_next_entry(backend: Backend) {
    let app = app(backend).await;
    let (booking, booking_token) = book_the_seat(&app).await;
    let (first, first_token) = join(&app, "wait-a@example.jp").await;
    let (second, second_token) = join(&app, "wait-b@example.jp").await;
    cancel_booking(&app, &booking, &booking_token).await;
    until_status(&app, &first, &first_token, "offered").await;
    let token = offer_token(&app, "wait-a@example.jp").await;
    app.state.clock.advance(chrono::Duration::minutes(31));
    let next = until_status(&app, &second, &second_token, "offered").await;
    assert!(next["offer"]["start"]
        .as_str()
        .unwrap()
        .starts_with(&local(day(), "10:00")));
    let lapsed = entry(&app, &first, &first_token).await;
    assert_eq!(lapsed["status"], "waiting");
    assert_eq!(lapsed["offers_made"], 1);
    let late = accept(&app, &first, &token).await;
    assert_problem(late, 409, "offer", "offer_expired").await;
    offer_token(&app, "wait-b@example.jp").await;
}

async fn an_entry_expires_after_max_offers(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        quick(settings);
        settings.waitlist.max_offers = 1;
    })
    .await;
    let (booking, booking_token) = book_the_seat(&app).await;
    let (first, first_token) = join(&app, "wait-a@example.jp").await;
    cancel_booking(&app, &booking, &booking_token).await;
    until_status(&app, &first, &first_token, "offered").await;
    // Asked while held (twice, so the answer is kept): the release below
    // must still show in the next answer.
    assert!(!app.slot_available(day(), &local(day(), "10:00")).await);
    assert!(!app.slot_available(day(), &local(day(), "10:00")).await);
    app.state.clock.advance(chrono::Duration::minutes(31));
    let expired = until_status(&app, &first, &first_token, "expired").await;
    assert_eq!(expired["offers_made"], 1);
    // The seat was let go: anyone may book it again.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !app.slot_available(day(), &local(day(), "10:00")).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hold was never released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_move_away_offers_the_old_time(backend: Backend) {
    let app = app(backend).await;
    let (booking, booking_token) = book_the_seat(&app).await;
    let (first, first_token) = join(&app, "wait-a@example.jp").await;
    let moved = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{booking}/reschedule?token={booking_token}"
        )))
        .json(&json!({"start": local(day(), "15:00")}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    let offered = until_status(&app, &first, &first_token, "offered").await;
    assert!(offered["offer"]["start"]
        .as_str()
        .unwrap()
        .starts_with(&local(day(), "10:00")));
}

async fn leaving_the_list_passes_a_held_seat_on(backend: Backend) {
    let app = app(backend).await;
    let (booking, booking_token) = book_the_seat(&app).await;
    let (first, first_token) = join(&app, "wait-a@example.jp").await;
    let (second, second_token) = join(&app, "wait-b@example.jp").await;
    cancel_booking(&app, &booking, &booking_token).await;
    until_status(&app, &first, &first_token, "offered").await;
    let left = app
        .client
        .post(app.url(&format!(
            "/api/v1/waitlist/{first}/cancel?token={first_token}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 200);
    let left: Value = left.json().await.unwrap();
    assert_eq!(left["status"], "cancelled");
    until_status(&app, &second, &second_token, "offered").await;
}

async fn staff_list_the_days_entries_on_the_record(backend: Backend) {
    let app = app(backend).await;
    let (first, _) = join(&app, "wait-a@example.jp").await;
    let (second, _) = join(&app, "wait-b@example.jp").await;
    let token = staff_token(&app, "desk").await;
    let unauthorised = app
        .get(&format!("/api/v1/staff/waitlist?date={}", day()))
        .await;
    assert_eq!(unauthorised.status(), 401);
    let response = staff_get(
        &app,
        &token,
        &format!("/api/v1/staff/waitlist?date={}", day()),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let list: Value = response.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    let references: Vec<&str> = items
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    assert_eq!(references, vec![first.as_str(), second.as_str()]);
    assert_eq!(items[0]["name"], "待機 花子");
    assert!(list["next"].is_null());
    let other_day: Value = staff_get(
        &app,
        &token,
        &format!("/api/v1/staff/waitlist?date={}", open_day(4)),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(other_day["items"].as_array().unwrap().is_empty());
    let bad = staff_get(&app, &token, "/api/v1/staff/waitlist?date=tomorrow").await;
    assert_eq!(bad.status(), 400);
    let audit: Value = staff_get(&app, &token, "/api/v1/staff/audit?limit=50")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "waitlist.listed" && e["actor"] == "desk"),
        "{audit}"
    );
}

async fn the_console_day_page_shows_the_waiting_list(backend: Backend) {
    let app = app(backend).await;
    let (first, _) = join(&app, "wait-a@example.jp").await;
    let token = staff_token(&app, "desk").await;
    let console = Console::sign_in(&app, &token).await;
    let html = console.page(&format!("/staff/day/{}", day())).await;
    assert!(html.contains("id=\"waitlist\""), "a waiting-list table");
    assert!(html.contains(&first));
    assert!(html.contains("待機 花子"));
    assert!(html.contains("空き待ち"));
}

async fn erasing_a_patient_deletes_their_entries(backend: Backend) {
    let app = app(backend).await;
    let (booking, _) = book_the_seat(&app).await;
    // The same patient (booking_body's address, spelled another way) waits
    // for another day too.
    let (entry_ref, entry_token) = join(&app, "Taro@Example.jp").await;
    let (other, other_token) = join(&app, "wait-b@example.jp").await;
    let token = staff_token(&app, "desk").await;
    let erased = staff_delete(
        &app,
        &token,
        &format!("/api/v1/staff/bookings/{booking}/personal-data"),
    )
    .await;
    assert_eq!(erased.status(), 200);
    let gone = app
        .get(&format!("/api/v1/waitlist/{entry_ref}?token={entry_token}"))
        .await;
    assert_eq!(gone.status(), 404);
    // Freed by the erasure's cancellation: offered to the one left.
    until_status(&app, &other, &other_token, "offered").await;
    let list: Value = staff_get(
        &app,
        &token,
        &format!("/api/v1/staff/waitlist?date={}", day()),
    )
    .await
    .json()
    .await
    .unwrap();
    let references: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    assert_eq!(references, vec![other.as_str()]);
}

async fn staff_erase_an_entry_and_its_hold_passes_on(backend: Backend) {
    let app = app(backend).await;
    let (booking, booking_token) = book_the_seat(&app).await;
    let (first, first_token) = join(&app, "wait-a@example.jp").await;
    let (second, second_token) = join(&app, "wait-b@example.jp").await;
    cancel_booking(&app, &booking, &booking_token).await;
    until_status(&app, &first, &first_token, "offered").await;
    let token = staff_token(&app, "desk").await;
    let path = format!("/api/v1/staff/waitlist/{first}/personal-data");
    let erased = staff_delete(&app, &token, &path).await;
    assert_eq!(erased.status(), 204);
    let gone = app
        .get(&format!("/api/v1/waitlist/{first}?token={first_token}"))
        .await;
    assert_eq!(gone.status(), 404);
    until_status(&app, &second, &second_token, "offered").await;
    assert_eq!(staff_delete(&app, &token, &path).await.status(), 404);
}

async fn an_offer_is_posted_to_webhook_receivers_as_waitlist_offered(backend: Backend) {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let receiver = crate::webhook_receiver::WebhookReceiver::start(&[SECRET]).await;
    let endpoint = clinic_booking::webhooks::EndpointSettings {
        url: receiver.url("/hooks"),
        secret: secrecy::SecretString::from(SECRET),
        previous_secrets: Vec::new(),
        events: Some(vec!["waitlist.offered".to_string()]),
        include_personal_data: false,
    };
    let app = spawn_app_with(backend, |settings| {
        quick(settings);
        settings.webhooks.endpoints = vec![endpoint];
        settings.webhooks.poll_interval_ms = 20;
    })
    .await;
    let (booking, booking_token) = book_the_seat(&app).await;
    let (first, first_token) = join(&app, "wait-a@example.jp").await;
    cancel_booking(&app, &booking, &booking_token).await;
    let offered = until_status(&app, &first, &first_token, "offered").await;
    let received = receiver
        .until(|received| received.iter().any(|r| r.kind() == "waitlist.offered"))
        .await;
    let event = received
        .iter()
        .find(|r| r.kind() == "waitlist.offered")
        .expect("waitlist.offered");
    assert!(event.verified, "signed as Standard Webhooks say");
    assert_eq!(event.body["data"]["reference"], first.as_str());
    assert_eq!(event.body["data"]["status"], "offered");
    assert_eq!(event.body["data"]["start"], offered["offer"]["start"]);
    assert_eq!(
        event.body["data"]["expires_at"],
        offered["offer"]["expires_at"]
    );
    assert!(
        event.body["data"].get("email").is_none(),
        "no personal data"
    );
    assert_eq!(
        received
            .iter()
            .filter(|r| r.kind() == "waitlist.offered")
            .count(),
        1
    );
}

/// The value of the hidden `name` input in `html`.
fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page"))
        + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}

async fn post_form(app: &TestApp, path: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(pairs).unwrap())
        .send()
        .await
        .unwrap()
}

async fn the_form_keeps_what_was_typed_and_joins(backend: Backend) {
    let app = app(backend).await;
    let date = day().to_string();
    let page = app
        .get(&format!("/waitlist?type=consultation&date={date}"))
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("value=\"{date}\"")),
        "the day is carried over"
    );
    let form_token = hidden_value(&html, "form_token");
    let mut fields = vec![
        ("form_token", form_token.as_str()),
        ("website", ""),
        ("type", "consultation"),
        ("date", date.as_str()),
        ("from", "10:00"),
        ("to", "11:00"),
        ("name", "待機 花子"),
        ("email", "not-an-address"),
        ("phone", "090-2222-3333"),
    ];
    let invalid = post_form(&app, "/waitlist", &fields).await;
    assert_eq!(invalid.status(), 422);
    let html = invalid.text().await.unwrap();
    assert!(
        html.contains("value=\"not-an-address\""),
        "what was typed stays"
    );
    assert!(html.contains("value=\"待機 花子\""));
    assert!(html.contains("error-summary"));
    assert!(html.contains("consent-error"));
    fields.retain(|(name, _)| *name != "email");
    fields.push(("email", "wait-a@example.jp"));
    fields.push(("consent", "true"));
    let joined = post_form(&app, "/waitlist", &fields).await;
    assert_eq!(joined.status(), 303);
    let location = joined.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/waitlist/"), "{location}");
    assert!(!location.contains("token"), "no token in the address");
    let cookie = manage_cookie(&joined);
    assert_eq!(app.get(&location).await.status(), 404, "no cookie, no page");
    let page = app.get_with_cookie(&location, &cookie).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-status=\"waiting\""));
    assert!(!html.contains("name=\"token\""), "no token in the page");
    // Leaving through the page's form, which the cookie opens.
    let reference = location["/waitlist/".len()..].split('?').next().unwrap();
    let leave = format!("/waitlist/{reference}/cancel");
    assert_eq!(post_form(&app, &leave, &[]).await.status(), 404);
    let left = app
        .client
        .post(app.url(&leave))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 303);
    let html = app
        .get_with_cookie(left.headers()["location"].to_str().unwrap(), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-status=\"cancelled\""));
}

/// The emailed link's token is traded for the cookie at once: the browser
/// is sent on to the entry's address without it, which the cookie opens.
async fn the_emailed_link_is_traded_for_a_cookie(backend: Backend) {
    let app = app(backend).await;
    let (reference, token) = join(&app, "wait-a@example.jp").await;
    let exchange = app
        .get(&format!("/waitlist/{reference}?token={token}"))
        .await;
    assert_eq!(exchange.status(), 303);
    let location = exchange.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("/waitlist/{reference}"));
    let cookie = manage_cookie(&exchange);
    let page = app.get_with_cookie(&location, &cookie).await;
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("data-status=\"waiting\""));
    let wrong = app
        .get(&format!("/waitlist/{reference}?token={}", "x".repeat(43)))
        .await;
    assert_eq!(wrong.status(), 404);
    // Sent on from a webmail page, the browser withholds the cookie on the
    // redirect: a page takes it on from within the site.
    let from_webmail = app.get_from_another_site(&location).await;
    assert_eq!(from_webmail.status(), 200);
    let html = from_webmail.text().await.unwrap();
    assert!(
        html.contains(&format!("href=\"/waitlist/{reference}\"")),
        "{html}"
    );
    // A cookie made for one entry opens no other.
    let (other, _) = join(&app, "wait-b@example.jp").await;
    assert_eq!(
        app.get_with_cookie(&format!("/waitlist/{other}"), &cookie)
            .await
            .status(),
        404
    );
}

async fn a_full_day_on_reserve_links_to_the_waiting_list(backend: Backend) {
    let app = app(backend).await;
    let date = day();
    // Fill the day: every start of the default type.
    let mut hour = 10;
    let mut minute = 0;
    loop {
        let time = format!("{hour:02}:{minute:02}");
        let response = app
            .post_booking(&crate::helpers::booking_body(&local(date, &time)))
            .await;
        if response.status() == 422 {
            break;
        }
        minute += 30;
        if minute == 60 {
            minute = 0;
            hour += 1;
        }
        if hour >= 20 {
            break;
        }
    }
    let html = app
        .get(&format!("/reserve?type=consultation&from={date}"))
        .await
        .text()
        .await
        .unwrap()
        .replace("&#38;", "&");
    let href = format!("/waitlist?type=consultation&date={date}");
    let at = html.find(&format!("id=\"day-{date}\"")).expect("the day");
    assert!(
        html.contains(&href),
        "a link to {href}: {}",
        &html[at..at + 600]
    );
    // And the 409 of a taken start offers the day's list.
    let form_token = hidden_value(
        &app.get("/reserve").await.text().await.unwrap(),
        "form_token",
    );
    let start = local(date, "10:00");
    let taken = post_form(
        &app,
        "/reserve",
        &[
            ("form_token", form_token.as_str()),
            ("website", ""),
            ("type", "consultation"),
            ("start", start.as_str()),
            ("name", "予約 花子"),
            ("email", "hanako@example.jp"),
            ("phone", "090-1234-5678"),
            ("consent", "true"),
        ],
    )
    .await;
    assert_eq!(taken.status(), 409);
    let html = taken.text().await.unwrap().replace("&#38;", "&");
    assert!(html.contains(&href), "the 409 page links to {href}");
}

async fn two_instances_offer_one_freed_seat_exactly_once() {
    let db = TestDatabase::create(Backend::Postgres);
    let one = spawn_on(db.clone(), quick).await;
    let two = spawn_on(db, quick).await;
    let (booking, booking_token) = book_the_seat(&one).await;
    let mut waiting = Vec::new();
    for index in 0..4 {
        waiting.push(join(&two, &format!("wait-{index}@example.jp")).await);
    }
    cancel_booking(&two, &booking, &booking_token).await;
    until_status(&one, &waiting[0].0, &waiting[0].1, "offered").await;
    let offer_mails = || -> usize {
        [&one, &two]
            .iter()
            .map(|app| {
                app.mail
                    .mails()
                    .iter()
                    .filter(|m| m.subject().contains("空きました"))
                    .count()
            })
            .sum()
    };
    let deadline = tokio::time::Instant::now() + WITHIN;
    while offer_mails() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no offer email");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Both workers keep polling every 20 ms: let them make many more
    // passes (this waits for the race, it moves no time), then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut offered = 0;
    for (reference, token) in &waiting {
        if entry(&one, reference, token).await["status"] == "offered" {
            offered += 1;
        }
    }
    assert_eq!(offered, 1, "one freed seat, one offer");
    assert_eq!(offer_mails(), 1, "one offer email");
}

/// A seat added by the configuration while the service was down (here the
/// capacity raised from one to two) is offered once it starts again.
async fn a_seat_the_configuration_adds_is_offered_at_start(backend: Backend) {
    let db = TestDatabase::create(backend);
    // Its waitlist worker makes one pass at start and then sleeps, so it
    // cannot take the restarted instance's work while it stops.
    let before = spawn_on(db.clone(), |settings| {
        quick(settings);
        settings.waitlist.poll_interval_ms = 3_600_000;
    })
    .await;
    book_the_seat(&before).await;
    let (first, first_token) = join(&before, "wait-a@example.jp").await;
    assert_eq!(
        entry(&before, &first, &first_token).await["status"],
        "waiting"
    );
    before.stop().await;

    let after = spawn_on(db, |settings| {
        quick(settings);
        settings.schedule.capacity_per_slot = 2;
    })
    .await;
    let offered = until_status(&after, &first, &first_token, "offered").await;
    assert!(offered["offer"]["start"]
        .as_str()
        .unwrap()
        .starts_with(&local(day(), "10:00")));
    // The stopped instance's mail worker may still be the one to send it.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while ![&before, &after].iter().any(|app| {
        app.mail.mails().iter().any(|m| {
            m.is_to("wait-a@example.jp") && m.subject().contains("キャンセル待ちのお席が空きました")
        })
    }) {
        assert!(tokio::time::Instant::now() < deadline, "no offer email");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A type that needs a doctor and a room (the test clinic's stem-cell):
/// the freed doctor and room are held for the earliest entry they suit
/// (not one that asked for the other doctor), nobody else can book them
/// while held, and accepting books them.
async fn a_freed_doctor_and_room_are_held_for_the_earliest_entry_they_suit(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        quick(settings);
        with_practitioners(settings);
    })
    .await;
    let ten = local(day(), "10:00");
    book_with(&app, "stem-cell", &ten, Some("dr-a")).await;
    let dr_b = book_with(&app, "stem-cell", &ten, Some("dr-b")).await;
    let stem_cell_entry = |email: &str, practitioner: Option<&str>| {
        let mut body = entry_body(email);
        body["type"] = json!("stem-cell");
        body["to"] = json!("10:00");
        if let Some(code) = practitioner {
            body["practitioner"] = json!(code);
        }
        body
    };
    let mut joined = Vec::new();
    for (email, practitioner) in [
        ("wait-dr-a@example.jp", Some("dr-a")),
        ("wait-any@example.jp", None),
    ] {
        let response = app
            .post_json("/api/v1/waitlist", &stem_cell_entry(email, practitioner))
            .await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "waiting", "{body}");
        joined.push((
            body["reference"].as_str().unwrap().to_string(),
            manage_token(&body),
        ));
    }
    let [(wants_dr_a, wants_dr_a_token), (any, any_token)] = &joined[..] else {
        unreachable!()
    };
    cancel_booking(
        &app,
        dr_b["reference"].as_str().unwrap(),
        &manage_token(&dr_b),
    )
    .await;
    let offered = until_status(&app, any, any_token, "offered").await;
    assert!(
        offered["offer"]["start"]
            .as_str()
            .unwrap()
            .starts_with(&ten),
        "{offered}"
    );
    assert_eq!(
        entry(&app, wants_dr_a, wants_dr_a_token).await["status"],
        "waiting",
        "dr-b's time is not offered to the entry that asked for dr-a"
    );
    let response = app.post_booking(&body_for("stem-cell", &ten, None)).await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    let token = offer_token(&app, "wait-any@example.jp").await;
    let response = accept(&app, any, &token).await;
    let booked: Value = response.json().await.unwrap();
    assert_eq!(booked["status"], "confirmed", "{booked}");
    assert_eq!(booked["type"], "stem-cell");
    assert_eq!(booked["practitioner"]["code"], "dr-b");
    assert!(booked["start"].as_str().unwrap().starts_with(&ten));
    assert_eq!(entry(&app, any, any_token).await["status"], "booked");
}
