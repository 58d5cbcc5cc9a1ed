//! The intake questionnaire (Web問診): shown with the clinic, answered with
//! the booking or later through the manage link until the visit, checked
//! in full, read by staff with its version, and never mailed, fed or
//! posted to a webhook; erased and purged with the booking.

use chrono::{NaiveDateTime, Utc};
use clinic_booking::configuration::Settings;
use clinic_booking::db::schema::{bookings, questionnaire_answers};
use clinic_booking::db::Db;
use clinic_booking::webhooks::EndpointSettings;
use diesel::prelude::*;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{
    assert_problem, booking_body, error_codes, local, manage_token, open_day, spawn_app_with,
    Backend, TestApp,
};
use crate::staff_helpers::{reference, staff_delete, staff_get, staff_token};
use crate::webhook_receiver::WebhookReceiver;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |settings| settings.forms.min_fill_seconds = 0).await
}

fn open(app: &TestApp) -> Db {
    let settings = Settings::defaults().expect("settings");
    Db::connect(&settings.database, &app.database_url()).expect("database")
}

/// Complete answers to the knee questionnaire; `allergies` carries `canary`.
fn answers(canary: &str) -> Value {
    json!({
        "side": "right",
        "location": ["inner", "back"],
        "since": "1_to_6_months",
        "onset_date": "2026-06-01",
        "pain_score": 7,
        "prior_injections": ["hyaluronic_acid", "prp"],
        "anticoagulants": true,
        "medication": "ワーファリン",
        "allergies": canary,
        "imaging": ["mri"],
    })
}

async fn book_with(app: &TestApp, start: &str, answers: Option<Value>) -> Value {
    let mut body = booking_body(start);
    if let Some(answers) = answers {
        body["answers"] = answers;
    }
    let response = app.post_booking(&body).await;
    let status = response.status();
    let booked: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{booked}");
    booked
}

async fn staff_view(app: &TestApp, token: &str, reference: &str) -> Value {
    let response = staff_get(app, token, &format!("/api/v1/staff/bookings/{reference}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn put_answers(app: &TestApp, booking: &Value, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!(
            "/api/v1/bookings/{}/answers?token={}",
            reference(booking),
            manage_token(booking)
        )))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn patient_view(app: &TestApp, booking: &Value) -> Value {
    let response = app
        .get(&format!(
            "/api/v1/bookings/{}?token={}",
            reference(booking),
            manage_token(booking)
        ))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn stored_answers(db: &Db, reference: &str) -> i64 {
    let reference = reference.to_string();
    db.read(move |conn| {
        Ok(questionnaire_answers::table
            .filter(questionnaire_answers::booking_reference.eq(reference))
            .count()
            .get_result::<i64>(conn)?)
    })
    .await
    .expect("read")
}

async fn the_clinic_shows_the_consultation_questionnaire_and_null_for_other_types(
    backend: Backend,
) {
    let app = app(backend).await;
    let clinic: Value = app.get("/api/v1/clinic").await.json().await.unwrap();
    let types = clinic["consultation_types"].as_array().unwrap();
    let consultation = types.iter().find(|t| t["code"] == "consultation").unwrap();
    let questionnaire = &consultation["questionnaire"];
    assert_eq!(questionnaire["id"], "knee-intake");
    assert_eq!(questionnaire["version"], 1);
    let questions = questionnaire["questions"].as_array().unwrap();
    let side = &questions[0];
    assert_eq!(side["id"], "side");
    assert_eq!(side["kind"], "choice");
    assert_eq!(side["required"], true);
    assert_eq!(side["label_en"], "Which knee hurts?");
    assert_eq!(
        side["choices"][0],
        json!({"value": "left", "label": "左", "label_en": "Left"})
    );
    assert!(side.get("min").is_none() && side.get("max_length").is_none());
    let pain = questions.iter().find(|q| q["id"] == "pain_score").unwrap();
    assert_eq!(
        (pain["min"].clone(), pain["max"].clone()),
        (json!(0), json!(10))
    );
    assert!(pain.get("choices").is_none());
    let allergies = questions.iter().find(|q| q["id"] == "allergies").unwrap();
    assert_eq!(allergies["max_length"], 200);
    let kinds: Vec<&str> = questions
        .iter()
        .map(|q| q["kind"].as_str().unwrap())
        .collect();
    for kind in ["text", "choice", "choices", "yes_no", "number", "date"] {
        assert!(kinds.contains(&kind), "{kind}");
    }
    let stem_cell = types.iter().find(|t| t["code"] == "stem-cell").unwrap();
    assert_eq!(stem_cell["questionnaire"], Value::Null);
}

async fn every_kind_of_bad_answer_is_a_field_error_on_its_question_and_books_nothing(
    backend: Backend,
) {
    let app = app(backend).await;
    let date = open_day(3);
    let mut body = booking_body(&local(date, "10:00"));
    body["answers"] = json!({
        "side": "middle",
        "location": "front",
        "pain_score": 11,
        "anticoagulants": "maybe",
        "onset_date": "2026-02-30",
        "allergies": "あ".repeat(201),
        "imaging": ["mri", "pet"],
        "shoe_size": 26,
    });
    let response = app.post_booking(&body).await;
    let problem = assert_problem(response, 422, "answers.side", "invalid_choice").await;
    let mut codes = error_codes(&problem);
    codes.sort();
    let expected: Vec<(String, String)> = [
        ("answers.allergies", "too_long"),
        ("answers.anticoagulants", "invalid"),
        ("answers.imaging", "invalid_choice"),
        ("answers.location", "invalid"),
        ("answers.onset_date", "invalid"),
        ("answers.pain_score", "out_of_range"),
        ("answers.shoe_size", "unknown_field"),
        ("answers.side", "invalid_choice"),
        ("answers.since", "required"),
    ]
    .iter()
    .map(|(f, c)| (f.to_string(), c.to_string()))
    .collect();
    assert_eq!(codes, expected);
    let messages: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.contains(&"「いまの痛みの強さ（0：痛みなし〜10：考えられる最悪の痛み）」は0〜10の数でお答えください。"),
        "{messages:?}"
    );
    assert!(app.slot_available(date, &local(date, "10:00")).await);

    // Required questions are required when answers are given at all.
    body["answers"] = json!({"notes": "よろしくお願いします"});
    let problem = assert_problem(
        app.post_booking(&body).await,
        422,
        "answers.side",
        "required",
    )
    .await;
    for id in ["location", "since", "pain_score", "anticoagulants"] {
        assert!(
            error_codes(&problem).contains(&(format!("answers.{id}"), "required".into())),
            "{id}: {problem}"
        );
    }
    // Not an object at all.
    body["answers"] = json!(["left"]);
    assert_problem(app.post_booking(&body).await, 422, "answers", "invalid").await;
    // A type without a questionnaire has no questions to answer.
    body["type"] = json!("stem-cell");
    body["answers"] = json!({"side": "left"});
    assert_problem(
        app.post_booking(&body).await,
        422,
        "answers.side",
        "unknown_field",
    )
    .await;
    body["answers"] = json!({});
    assert_eq!(app.post_booking(&body).await.status(), 201);
}

async fn answers_round_trip_from_the_booking_to_staff_and_through_the_patients_change(
    backend: Backend,
) {
    let app = app(backend).await;
    let staff = staff_token(&app, "desk").await;
    let booked = book_with(&app, &local(open_day(3), "10:00"), Some(answers("卵"))).await;
    assert_eq!(booked["questionnaire"], "answered");
    assert!(booked.get("answers").is_none(), "not in the patient's view");
    let reference = reference(&booked);

    let seen = staff_view(&app, &staff, &reference).await;
    assert_eq!(seen["questionnaire"], "answered");
    let answers = &seen["answers"];
    assert_eq!(answers["questionnaire_id"], "knee-intake");
    assert_eq!(answers["version"], 1);
    assert_eq!(answers["values"]["location"], json!(["inner", "back"]));
    assert_eq!(answers["values"]["pain_score"], 7);
    assert_eq!(answers["values"]["anticoagulants"], true);
    assert_eq!(answers["values"]["allergies"], "卵");

    let mine: Value = app
        .get(&format!(
            "/api/v1/bookings/{reference}/answers?token={}",
            manage_token(&booked)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["status"], "answered");
    assert_eq!(mine["open"], true);
    assert_eq!(mine["questionnaire"]["id"], "knee-intake");
    assert_eq!(mine["answers"]["values"]["side"], "right");

    let changed = json!({"answers": {
        "side": "both", "location": ["front"], "since": "over_3_years",
        "pain_score": 3, "anticoagulants": false,
    }});
    let response = put_answers(&app, &booked, changed).await;
    assert_eq!(response.status(), 200);
    let after: Value = response.json().await.unwrap();
    assert_eq!(after["answers"]["values"]["side"], "both");

    let seen = staff_view(&app, &staff, &reference).await;
    let values = &seen["answers"]["values"];
    assert_eq!(values["side"], "both");
    assert_eq!(values["pain_score"], 3);
    assert!(
        values.get("allergies").is_none(),
        "answers are replaced whole"
    );
    let list: Value = staff_get(
        &app,
        &staff,
        &format!("/api/v1/staff/bookings?from={}", open_day(3)),
    )
    .await
    .json()
    .await
    .unwrap();
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["reference"] == reference.as_str())
        .unwrap();
    assert_eq!(listed["answers"]["values"]["side"], "both");
    let actions: Vec<&str> = seen["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"booking.questionnaire_changed"),
        "{actions:?}"
    );
    assert!(!seen["audit"].to_string().contains("卵"));
}

async fn a_booking_without_answers_is_pending_until_answered_through_the_manage_link(
    backend: Backend,
) {
    let app = app(backend).await;
    let staff = staff_token(&app, "desk").await;
    let booked = book_with(&app, &local(open_day(3), "11:00"), None).await;
    assert_eq!(booked["questionnaire"], "pending");
    assert_eq!(
        patient_view(&app, &booked).await["questionnaire"],
        "pending"
    );
    let seen = staff_view(&app, &staff, &reference(&booked)).await;
    assert_eq!(seen["questionnaire"], "pending");
    assert_eq!(seen["answers"], Value::Null);

    // The confirmation asks for the questionnaire through the manage link.
    let email = booked["email"].as_str().unwrap().to_string();
    let mail = app
        .mail
        .wait_for(1, std::time::Duration::from_secs(10), |m| m.is_to(&email))
        .await;
    let text = mail.first().expect("the confirmation").text();
    assert!(text.contains("問診票（Web問診）のお願い"), "{text}");
    assert!(text.contains(&format!("/manage/{}", reference(&booked))));

    // All of it is checked: nothing sent is every required question missing.
    let response = put_answers(&app, &booked, json!({})).await;
    let problem = assert_problem(response, 422, "answers.side", "required").await;
    assert_eq!(error_codes(&problem).len(), 5, "{problem}");
    let response = put_answers(&app, &booked, json!({"answers": answers("なし")})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        patient_view(&app, &booked).await["questionnaire"],
        "answered"
    );
    let seen = staff_view(&app, &staff, &reference(&booked)).await;
    assert_eq!(seen["questionnaire"], "answered");
    assert_eq!(seen["answers"]["values"]["allergies"], "なし");

    // A type without a questionnaire has none to answer; a stranger's
    // token opens nothing.
    let mut other = booking_body(&local(open_day(3), "14:00"));
    other["type"] = json!("stem-cell");
    let other: Value = app.post_booking(&other).await.json().await.unwrap();
    assert_eq!(other["questionnaire"], Value::Null);
    assert_eq!(
        put_answers(&app, &other, json!({"answers": {}}))
            .await
            .status(),
        404
    );
    let stranger = app
        .client
        .put(app.url(&format!(
            "/api/v1/bookings/{}/answers?token={}",
            reference(&booked),
            manage_token(&other)
        )))
        .json(&json!({"answers": answers("x")}))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 404);
}

async fn answers_cannot_change_once_the_visit_has_started_or_the_booking_is_cancelled(
    backend: Backend,
) {
    let app = app(backend).await;
    let db = open(&app);
    let started = book_with(&app, &local(open_day(3), "10:00"), None).await;
    let reference_started = reference(&started);
    let start: NaiveDateTime = Utc::now().naive_utc() - chrono::Duration::minutes(5);
    db.write(move |conn| {
        diesel::update(bookings::table.find(&reference_started))
            .set((
                bookings::start_at.eq(start),
                bookings::end_at.eq(start + chrono::Duration::minutes(30)),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    let response = put_answers(&app, &started, json!({"answers": answers("卵")})).await;
    let problem = assert_problem(response, 422, "answers", "questionnaire_closed").await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("お電話"),
        "{problem}"
    );
    assert_eq!(stored_answers(&db, &reference(&started)).await, 0);
    let mine: Value = app
        .get(&format!(
            "/api/v1/bookings/{}/answers?token={}",
            reference(&started),
            manage_token(&started)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["open"], false);

    let cancelled = book_with(&app, &local(open_day(3), "11:00"), None).await;
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{}/cancel?token={}",
            reference(&cancelled),
            manage_token(&cancelled)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = put_answers(&app, &cancelled, json!({"answers": answers("卵")})).await;
    assert_problem(response, 422, "answers", "questionnaire_closed").await;
}

async fn answers_are_never_in_emails_the_calendar_feed_fhir_or_webhooks(backend: Backend) {
    let receiver = WebhookReceiver::start(&[SECRET]).await;
    let endpoint = EndpointSettings {
        url: receiver.url("/hooks"),
        secret: SecretString::from(SECRET),
        previous_secrets: Vec::new(),
        events: None,
        include_personal_data: true,
    };
    let app = spawn_app_with(backend, |settings| {
        settings.webhooks.endpoints = vec![endpoint];
        settings.webhooks.retry_initial_seconds = 0.05;
        settings.webhooks.poll_interval_ms = 20;
    })
    .await;
    let canary = format!("canary-allergy-{}", rand::random::<u32>());
    let date = open_day(3);
    let booked = book_with(&app, &local(date, "10:00"), Some(answers(&canary))).await;
    let changed = put_answers(
        &app,
        &booked,
        json!({"answers": answers(&format!("{canary}-2"))}),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let mails = app
        .mail
        .wait_for(2, std::time::Duration::from_secs(10), |_| true)
        .await;
    assert!(mails.len() >= 2);
    for mail in &mails {
        let text = mail.text();
        assert!(!text.contains(&canary), "{text}");
        assert!(!text.contains("ワーファリン"), "{text}");
    }
    let patient = mails
        .iter()
        .find(|m| m.is_to("taro@example.jp"))
        .expect("the patient's confirmation");
    assert!(
        !patient.text().contains("問診票（Web問診）のお願い"),
        "answered already"
    );

    let received = receiver.until(|received| !received.is_empty()).await;
    for hook in &received {
        assert!(!hook.body.to_string().contains(&canary), "{:?}", hook.body);
    }

    let staff = staff_token(&app, "desk").await;
    let feed = staff_get(&app, &staff, "/api/v1/staff/calendar.ics")
        .await
        .text()
        .await
        .unwrap();
    assert!(feed.contains(&reference(&booked)), "{feed}");
    assert!(!feed.contains(&canary));
    let fhir = staff_get(
        &app,
        &staff,
        &format!(
            "/fhir/r4/Appointment?date=ge{date}&date=lt{}",
            date + chrono::Duration::days(1)
        ),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(fhir.contains(&reference(&booked)), "{fhir}");
    assert!(!fhir.contains(&canary));
}

async fn erasure_and_the_purge_delete_the_answers_with_the_booking(backend: Backend) {
    let app = app(backend).await;
    let db = open(&app);
    let staff = staff_token(&app, "desk").await;
    let erased = book_with(&app, &local(open_day(3), "10:00"), Some(answers("卵"))).await;
    let purged = book_with(&app, &local(open_day(3), "11:00"), Some(answers("そば"))).await;
    let kept = book_with(&app, &local(open_day(3), "12:00"), Some(answers("えび"))).await;
    assert_eq!(stored_answers(&db, &reference(&erased)).await, 1);

    let response = staff_delete(
        &app,
        &staff,
        &format!(
            "/api/v1/staff/bookings/{}/personal-data",
            reference(&erased)
        ),
    )
    .await;
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["questionnaire"], Value::Null);
    assert_eq!(stored_answers(&db, &reference(&erased)).await, 0);
    let seen = staff_view(&app, &staff, &reference(&erased)).await;
    assert_eq!(seen["answers"], Value::Null);

    let reference_purged = reference(&purged);
    let end: NaiveDateTime = Utc::now().naive_utc() - chrono::Duration::days(40);
    db.write(move |conn| {
        diesel::update(bookings::table.find(&reference_purged))
            .set((
                bookings::status.eq("completed"),
                bookings::start_at.eq(end - chrono::Duration::hours(1)),
                bookings::end_at.eq(end),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    let summary = clinic_booking::workflows::privacy::purge(
        &db,
        clinic_booking::workflows::privacy::Cutoffs::older_than_days(30, Utc::now()),
        None,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(summary.bookings, 1);
    assert_eq!(stored_answers(&db, &reference(&purged)).await, 0);
    assert_eq!(stored_answers(&db, &reference(&kept)).await, 1);
}

/// The value of the hidden `name` input in `html`.
fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker).expect("hidden field") + marker.len();
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

async fn the_reservation_form_asks_the_questions_keeps_them_on_errors_and_books_them(
    backend: Backend,
) {
    let app = app(backend).await;
    let staff = staff_token(&app, "desk").await;
    let html = app.get("/reserve").await.text().await.unwrap();
    assert!(
        html.contains("name=\"answers.side\""),
        "the questions are asked"
    );
    assert!(html.contains("id=\"f-answers.location-front\""));
    let other = app
        .get("/reserve?type=stem-cell")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !other.contains("answers.side"),
        "a type without one asks none"
    );

    let token = hidden_value(&html, "form_token");
    let start = local(open_day(3), "15:00");
    let mut fields: Vec<(&str, &str)> = vec![
        ("form_token", &token),
        ("website", ""),
        ("type", "consultation"),
        ("start", &start),
        ("name", "問診 花子"),
        ("email", "hanako@example.jp"),
        ("phone", "090-1234-5678"),
        ("consent", "true"),
        ("answers.side", "left"),
        ("answers.location", "inner"),
        ("answers.location", "back"),
        ("answers.pain_score", "12"),
        ("answers.anticoagulants", "false"),
        ("answers.allergies", "ペニシリン"),
        ("answers.notes", ""),
    ];
    let response = post_form(&app, "/reserve", &fields).await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("「いつ頃から痛みますか」にお答えください。"),
        "{page}"
    );
    assert!(page.contains("id=\"answers.pain_score-error\""));
    assert!(page.contains("value=\"12\""), "the number typed is kept");
    assert!(page.contains(">ペニシリン</textarea>"));
    assert!(page.contains(
        "id=\"f-answers.location-back\" name=\"answers.location\" value=\"back\" checked"
    ));
    assert!(page.contains("id=\"f-answers.anticoagulants-no\" name=\"answers.anticoagulants\" value=\"false\" checked"));
    assert!(app.slot_available(open_day(3), &start).await);

    fields.retain(|(name, _)| *name != "answers.pain_score");
    fields.push(("answers.pain_score", "6"));
    fields.push(("answers.since", "1_to_3_years"));
    let response = post_form(&app, "/reserve", &fields).await;
    assert_eq!(response.status(), 303);
    let thanks = response.headers()["location"].to_str().unwrap().to_string();
    let reference = thanks
        .trim_start_matches("/reserve/thanks/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let seen = staff_view(&app, &staff, &reference).await;
    assert_eq!(seen["questionnaire"], "answered");
    assert_eq!(
        seen["answers"]["values"],
        json!({"side": "left", "location": ["inner", "back"], "since": "1_to_3_years",
               "pain_score": 6, "anticoagulants": false, "allergies": "ペニシリン"})
    );

    // Left all blank, the questionnaire is answered later.
    let token = hidden_value(
        &app.get("/reserve").await.text().await.unwrap(),
        "form_token",
    );
    let start = local(open_day(3), "16:00");
    let blank = [
        ("form_token", token.as_str()),
        ("website", ""),
        ("start", &start),
        ("name", "問診 次郎"),
        ("email", "jiro@example.jp"),
        ("phone", "090-1234-5678"),
        ("consent", "true"),
        ("answers.pain_score", ""),
        ("answers.notes", ""),
    ];
    let response = post_form(&app, "/reserve", &blank).await;
    assert_eq!(response.status(), 303);
}

async fn post_form_with_cookie(
    app: &TestApp,
    path: &str,
    pairs: &[(&str, &str)],
    cookie: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(serde_urlencoded::to_string(pairs).unwrap())
        .send()
        .await
        .unwrap()
}

async fn the_manage_page_shows_a_pending_questionnaire_and_its_page_takes_the_answers(
    backend: Backend,
) {
    let app = app(backend).await;
    let staff = staff_token(&app, "desk").await;
    let booked = book_with(&app, &local(open_day(3), "10:00"), None).await;
    let (reference, token) = (reference(&booked), manage_token(&booked));
    let (manage_path, cookie) = app.open_manage_link(&reference, &token).await;
    let manage = app
        .get_with_cookie(&manage_path, &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        manage.contains("id=\"questionnaire-status\">未回答"),
        "{manage}"
    );
    let path = format!("/manage/{reference}/questionnaire");
    assert!(manage.contains(&format!("href=\"{path}\"")));
    let page = app.get_with_cookie(&path, &cookie).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"answers.pain_score\""));
    assert!(!html.contains(&token), "no token in the page");
    assert_eq!(app.get(&path).await.status(), 404, "no cookie, no page");

    let mut fields = vec![
        ("answers.side", "right"),
        ("answers.location", "front"),
        ("answers.since", "over_3_years"),
        ("answers.pain_score", "11"),
        ("answers.anticoagulants", "true"),
        ("answers.medication", "バイアスピリン"),
    ];
    let response = post_form_with_cookie(&app, &path, &fields, &cookie).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("0〜10の数でお答えください"), "{html}");
    assert!(html.contains(">バイアスピリン</textarea>"));
    assert!(html.contains("value=\"11\""));
    assert_eq!(
        staff_view(&app, &staff, &reference).await["questionnaire"],
        "pending"
    );
    assert_eq!(
        post_form(&app, &path, &fields).await.status(),
        404,
        "without the cookie nothing is stored"
    );

    fields.retain(|(name, _)| *name != "answers.pain_score");
    fields.push(("answers.pain_score", "8"));
    let response = post_form_with_cookie(&app, &path, &fields, &cookie).await;
    assert_eq!(response.status(), 303);
    let back = response.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(&format!("/manage/{reference}?")), "{back}");
    assert!(back.contains("done=answered"));
    let manage = app
        .get_with_cookie(&back, &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(manage.contains("問診票の回答を受け付けました"));
    assert!(manage.contains("id=\"questionnaire-status\">回答済み"));
    let seen = staff_view(&app, &staff, &reference).await;
    assert_eq!(seen["answers"]["values"]["pain_score"], 8);
    assert_eq!(seen["answers"]["values"]["medication"], "バイアスピリン");

    // After the visit has started the page shows the answers, and no form.
    let db = open(&app);
    let started_reference = reference.clone();
    let start: NaiveDateTime = Utc::now().naive_utc() - chrono::Duration::minutes(1);
    db.write(move |conn| {
        diesel::update(bookings::table.find(&started_reference))
            .set(bookings::start_at.eq(start))
            .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    let html = app
        .get_with_cookie(&path, &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"questionnaire-closed\""), "{html}");
    assert!(html.contains("バイアスピリン"));
    assert!(!html.contains("name=\"answers.pain_score\""));
    let response = post_form_with_cookie(&app, &path, &fields, &cookie).await;
    assert_eq!(response.status(), 422);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("問診票は変更できません"));
}

async fn the_console_booking_page_shows_the_answers_with_their_version_or_that_they_are_pending(
    backend: Backend,
) {
    let app = app(backend).await;
    let staff = staff_token(&app, "desk").await;
    let answered = book_with(&app, &local(open_day(3), "10:00"), Some(answers("卵"))).await;
    let pending = book_with(&app, &local(open_day(3), "11:00"), None).await;
    let mut other = booking_body(&local(open_day(3), "12:00"));
    other["type"] = json!("stem-cell");
    let other: Value = app.post_booking(&other).await.json().await.unwrap();
    let console = crate::console_helpers::Console::sign_in(&app, &staff).await;

    let html = console
        .page(&format!("/staff/bookings/{}", reference(&answered)))
        .await;
    assert!(
        html.contains("id=\"questionnaire-status\">回答済み"),
        "{html}"
    );
    assert!(html.contains("knee-intake 第1版"));
    assert!(
        html.contains("<dt>痛みがあるのはどちらの膝ですか</dt><dd>右</dd>"),
        "{html}"
    );
    assert!(html.contains("<dd>内側、裏側</dd>"));
    assert!(html.contains("<dd>はい</dd>"), "blood thinners: yes");
    assert!(html.contains("<dd>卵</dd>"));
    let html = console
        .page(&format!("/staff/bookings/{}", reference(&pending)))
        .await;
    assert!(html.contains("id=\"questionnaire-status\">未回答"));
    let html = console
        .page(&format!("/staff/bookings/{}", reference(&other)))
        .await;
    assert!(!html.contains("id=\"questionnaire\""), "a type without one");
}

backend_tests!(
    the_console_booking_page_shows_the_answers_with_their_version_or_that_they_are_pending,
    the_manage_page_shows_a_pending_questionnaire_and_its_page_takes_the_answers,
    the_reservation_form_asks_the_questions_keeps_them_on_errors_and_books_them,
    the_clinic_shows_the_consultation_questionnaire_and_null_for_other_types,
    every_kind_of_bad_answer_is_a_field_error_on_its_question_and_books_nothing,
    answers_round_trip_from_the_booking_to_staff_and_through_the_patients_change,
    a_booking_without_answers_is_pending_until_answered_through_the_manage_link,
    answers_cannot_change_once_the_visit_has_started_or_the_booking_is_cancelled,
    answers_are_never_in_emails_the_calendar_feed_fhir_or_webhooks,
    erasure_and_the_purge_delete_the_answers_with_the_booking,
);
