//! Practitioners on the patient's pages (`/reserve` with a doctor or
//! 指名なし, the thank-you and manage pages, the emails), and the example
//! configuration (`config/examples/practitioners.toml`: two doctors, one
//! counsellor, two rooms) end to end: API, pages, emails and the feed.

use std::time::Duration;

use chrono::{Datelike, NaiveDate, Weekday};
use clinic_booking::configuration::Settings;
use serde_json::{json, Value};

use crate::helpers::{
    local, manage_cookie, manage_token, open_day, spawn_app_with, today, Backend, TestApp,
};
use crate::practitioners::{body_for, book_with, with_practitioners};
use crate::staff_helpers::{calendar_token, reference, staff_get};

/// The value of the hidden `name` input in `html`.
fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page"))
        + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}

async fn page(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    let status = response.status();
    let html = response.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {html}");
    html
}

/// Sends the reservation form for `kind` at `start` with `practitioner`
/// ("" for 指名なし), as a browser without JavaScript does.
async fn reserve(
    app: &TestApp,
    kind: &str,
    practitioner: &str,
    start: &str,
    email: &str,
) -> reqwest::Response {
    let html = page(app, &format!("/reserve?type={kind}")).await;
    let token = hidden_value(&html, "form_token");
    let fields = [
        ("form_token", token.as_str()),
        ("website", ""),
        ("type", kind),
        ("practitioner", practitioner),
        ("start", start),
        ("name", "指名 花子"),
        ("name_kana", "シメイ ハナコ"),
        ("email", email),
        ("phone", "090-1234-5678"),
        ("first_visit", "true"),
        ("message", "膝が痛みます。"),
        ("consent", "true"),
    ];
    app.client
        .post(app.url("/reserve"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
        .unwrap()
}

/// Follows a 303 from the form to the thank-you page with the manage
/// cookie it set, as a browser does; its HTML.
async fn thanks(app: &TestApp, response: reqwest::Response) -> String {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_string());
    let cookie = (status == 303).then(|| manage_cookie(&response));
    let body = response.text().await.unwrap();
    assert_eq!(status, 303, "{body}");
    let response = app
        .get_with_cookie(&location.unwrap(), &cookie.unwrap())
        .await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

fn slot_id(date: NaiveDate, time: &str) -> String {
    format!("id=\"slot-{date}T{}\"", time.replace(':', ""))
}

async fn the_reservation_form_books_a_named_doctor_or_no_preference(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        with_practitioners(settings);
        settings.forms.min_fill_seconds = 0;
    })
    .await;
    let day = open_day(3);
    let html = page(&app, "/reserve?type=stem-cell").await;
    assert!(html.contains("id=\"f-practitioner-choice\""));
    assert!(html.contains("指名なし"));
    assert!(html.contains("<option value=\"dr-a\">A 医師</option>"));
    assert!(!html.contains("value=\"counsellor\""), "not for stem-cell");
    let plain = page(&app, "/reserve?type=consultation").await;
    assert!(!plain.contains("f-practitioner-choice"));
    assert!(!plain.contains("name=\"practitioner\""));

    // dr-a is taken at 10:00: the week of dr-a does not offer it, dr-b's does.
    book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-a")).await;
    let week = |who: &str| format!("/reserve?type=stem-cell&practitioner={who}&from={day}");
    let dr_a = page(&app, &week("dr-a")).await;
    assert!(!dr_a.contains(&slot_id(day, "10:00")));
    assert!(dr_a.contains(&slot_id(day, "11:00")));
    assert!(dr_a.contains("<option value=\"dr-a\" selected>A 医師</option>"));
    assert!(dr_a.contains("name=\"practitioner\" value=\"dr-a\""));
    assert!(dr_a.contains("practitioner=dr-a"), "the week links keep it");
    let dr_b = page(&app, &week("dr-b")).await;
    assert!(dr_b.contains(&slot_id(day, "10:00")));
    // A code that does not take the type is no preference.
    let anyone = page(&app, &week("counsellor")).await;
    assert!(anyone.contains("name=\"practitioner\" value=\"\""));

    let response = reserve(
        &app,
        "stem-cell",
        "dr-b",
        &local(day, "10:00"),
        "b@example.jp",
    )
    .await;
    let html = thanks(&app, response).await;
    assert!(html.contains("id=\"practitioner\">B 医師<"), "{html}");
    // Both doctors are taken at 10:00 now: the form comes back as typed.
    let response = reserve(
        &app,
        "stem-cell",
        "dr-b",
        &local(day, "10:00"),
        "c@example.jp",
    )
    .await;
    assert_eq!(response.status(), 409);
    let html = response.text().await.unwrap();
    assert!(html.contains("ご希望の枠はすでに埋まっています"));
    assert!(html.contains("value=\"指名 花子\""));
    assert!(html.contains("value=\"c@example.jp\""));
    assert!(html.contains("name=\"practitioner\" value=\"dr-b\""));
    assert!(html.contains("<option value=\"dr-b\" selected>B 医師</option>"));
    // 指名なし: the least booked free doctor (one each: dr-a, first).
    let response = reserve(&app, "stem-cell", "", &local(day, "11:30"), "d@example.jp").await;
    let html = thanks(&app, response).await;
    assert!(html.contains("id=\"practitioner\">A 医師<"), "{html}");
    let mail = app
        .mail
        .wait_for(1, Duration::from_secs(10), |m| {
            m.is_to("d@example.jp") && m.subject().contains("ご予約を承りました")
        })
        .await;
    assert!(
        mail[0].text().contains("担当：A 医師（Dr. A）"),
        "{}",
        mail[0].text()
    );
    // A tampered code is refused beside the practitioner.
    let response = reserve(
        &app,
        "stem-cell",
        "dr-x",
        &local(day, "14:00"),
        "e@example.jp",
    )
    .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("この診療メニューを担当していません"),
        "{html}"
    );
}

async fn the_manage_page_names_the_practitioner_and_offers_only_their_times(backend: Backend) {
    let app = spawn_app_with(backend, with_practitioners).await;
    let day = open_day(4);
    let booking = book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-b")).await;
    book_with(&app, "stem-cell", &local(day, "14:00"), Some("dr-b")).await;
    let (path, cookie) = app
        .open_manage_link(&reference(&booking), &manage_token(&booking))
        .await;
    let separator = if path.contains('?') { '&' } else { '?' };
    let response = app
        .get_with_cookie(&format!("{path}{separator}from={day}"), &cookie)
        .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("id=\"practitioner\">B 医師（Dr. B）<"),
        "{html}"
    );
    // dr-b is taken at 14:00 (dr-a is free then): not offered for a move.
    assert!(!html.contains(&slot_id(day, "14:00")));
    assert!(html.contains(&slot_id(day, "16:00")));
}

/// The example configuration as the service reads it: the built-in
/// defaults with `config/examples/practitioners.toml` as `config/local.toml`.
fn example_settings() -> Settings {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/examples/practitioners.toml"
    );
    Settings::defaults_with(std::path::Path::new(example)).expect("the example configuration loads")
}

/// The next Tuesday at least three days ahead that is not dr-nakamura's
/// day off: dr-nakamura and the counsellor work, dr-sato does not.
fn a_tuesday() -> NaiveDate {
    let mut date = today() + chrono::Duration::days(3);
    while date.weekday() != Weekday::Tue || date.to_string() == "2026-12-24" {
        date += chrono::Duration::days(1);
    }
    date
}

async fn the_example_configuration_works_end_to_end(backend: Backend) {
    let example = example_settings();
    assert_eq!(example.resources.len(), 5);
    let app = spawn_app_with(backend, move |settings| {
        settings.resources = example.resources;
        settings.schedule.consultation_types = example.schedule.consultation_types;
        settings.forms.min_fill_seconds = 0;
        settings.staff.feed_days_ahead = 14;
    })
    .await;
    let listed: Value = app.get("/api/v1/practitioners").await.json().await.unwrap();
    let codes: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["dr-nakamura", "dr-sato", "counsellor-ito"]);
    let day = a_tuesday();

    // API: a named doctor; then nobody is left at that hour on a Tuesday.
    let mut body = body_for("stem-cell", &local(day, "10:00"), Some("dr-nakamura"));
    body["email"] = json!("api@example.jp");
    let response = app.post_booking(&body).await;
    assert_eq!(response.status(), 201);
    let by_api: Value = response.json().await.unwrap();
    assert_eq!(
        by_api["practitioner"],
        json!({"code": "dr-nakamura", "label": "中村 医師"})
    );
    let response = app
        .post_booking(&body_for("stem-cell", &local(day, "10:00"), None))
        .await;
    assert_eq!(response.status(), 409, "dr-sato does not work on Tuesdays");
    let counselling = book_with(&app, "consultation", &local(day, "10:00"), None).await;
    assert_eq!(counselling["practitioner"]["code"], "counsellor-ito");
    let seat = book_with(&app, "follow-up", &local(day, "10:00"), None).await;
    assert_eq!(seat["practitioner"], Value::Null);
    // Lunch: 12:30 would run into dr-nakamura's break.
    let response = app
        .post_booking(&body_for(
            "stem-cell",
            &local(day, "12:30"),
            Some("dr-nakamura"),
        ))
        .await;
    assert_eq!(response.status(), 409);

    // The page: 指名 of dr-nakamura at 11:00 (room-1 is being cleaned; room-2 is free).
    let html = page(
        &app,
        &format!("/reserve?type=stem-cell&practitioner=dr-nakamura&from={day}"),
    )
    .await;
    assert!(html.contains("<option value=\"dr-sato\">佐藤 医師</option>"));
    assert!(!html.contains(&slot_id(day, "10:00")));
    assert!(!html.contains(&slot_id(day, "12:30")));
    let response = reserve(
        &app,
        "stem-cell",
        "dr-nakamura",
        &local(day, "11:00"),
        "page@example.jp",
    )
    .await;
    let html = thanks(&app, response).await;
    assert!(html.contains("id=\"practitioner\">中村 医師<"), "{html}");
    let by_page = html
        .split("id=\"reference\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the reference on the page")
        .to_string();

    // The emails name the practitioner.
    for address in ["api@example.jp", "page@example.jp"] {
        let mail = app
            .mail
            .wait_for(1, Duration::from_secs(10), |m| {
                m.is_to(address) && m.subject().contains("ご予約を承りました")
            })
            .await;
        assert_eq!(mail.len(), 1, "{address}");
        assert!(
            mail[0].text().contains("担当：中村 医師（Dr. Nakamura）"),
            "{}",
            mail[0].text()
        );
    }

    // The feed of dr-nakamura has their two bookings and nothing else.
    let token = calendar_token(&app, "dr-nakamura").await;
    let response = staff_get(
        &app,
        &token,
        "/api/v1/staff/calendar.ics?practitioner=dr-nakamura",
    )
    .await;
    assert_eq!(response.status(), 200);
    let feed = response.text().await.unwrap().replace("\r\n ", "");
    assert!(feed.contains(&reference(&by_api)));
    assert!(feed.contains(&by_page));
    assert!(!feed.contains(&reference(&counselling)));
    assert!(!feed.contains(&reference(&seat)));
    assert_eq!(feed.matches("BEGIN:VEVENT").count(), 2, "{feed}");
    let counsellor = staff_get(
        &app,
        &token,
        "/api/v1/staff/calendar.ics?practitioner=counsellor-ito",
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(counsellor.contains(&reference(&counselling)));
    assert_eq!(counsellor.matches("BEGIN:VEVENT").count(), 1);
}

crate::backend_tests!(
    the_reservation_form_books_a_named_doctor_or_no_preference,
    the_manage_page_names_the_practitioner_and_offers_only_their_times,
    the_example_configuration_works_end_to_end,
);
