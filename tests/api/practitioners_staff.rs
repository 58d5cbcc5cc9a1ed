//! Practitioners and rooms at the desk: giving a booking to another
//! practitioner (API and console), a practitioner's or room's time off as
//! a closure (API and console), one practitioner's calendar feed, and the
//! practitioner in webhooks and FHIR.

use serde_json::{json, Value};

use crate::console_helpers::Console;
use crate::helpers::{
    assert_problem, local, open_day, spawn_app_with, spawn_on, Backend, TestApp, TestDatabase,
};
use crate::mail::{run_sql, WAIT};
use crate::practitioners::{body_for, book_with, spawn_clinic, with_practitioners};
use crate::staff_helpers::{
    calendar_token, patched, reference, staff_get, staff_patch, staff_post, staff_token,
};

fn practitioner_of(booking: &Value) -> &str {
    booking["practitioner"]["code"].as_str().unwrap_or("none")
}

async fn staff_view(app: &TestApp, token: &str, reference: &str) -> Value {
    let response = staff_get(app, token, &format!("/api/v1/staff/bookings/{reference}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The patient's messages about a booking other than its reminder.
fn patient_mail_kinds(view: &Value) -> Vec<String> {
    view["mail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|mail| mail["audience"] == "patient" && mail["kind"] != "booking_reminder")
        .map(|mail| mail["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The statuses of a booking's reminders, oldest first.
fn reminders(view: &Value) -> Vec<String> {
    let mut reminders: Vec<(i64, String)> = view["mail"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|mail| mail["kind"] == "booking_reminder")
        .map(|mail| {
            (
                mail["id"].as_i64().unwrap(),
                mail["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    reminders.sort();
    reminders.into_iter().map(|(_, status)| status).collect()
}

async fn staff_give_a_booking_to_another_practitioner_only_when_they_are_free(backend: Backend) {
    let app = spawn_clinic(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(4);
    let first = book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-a")).await;
    book_with(&app, "stem-cell", &local(day, "10:30"), Some("dr-b")).await;
    let first_ref = reference(&first);
    // dr-b is busy from 10:30: not free for the whole hour.
    let response = staff_patch(&app, &token, &first_ref, json!({"practitioner": "dr-b"})).await;
    assert_problem(response, 409, "practitioner", "slot_unavailable").await;
    let response = staff_patch(
        &app,
        &token,
        &first_ref,
        json!({"practitioner": "counsellor"}),
    )
    .await;
    assert_problem(response, 422, "practitioner", "invalid_practitioner").await;
    let response = staff_patch(&app, &token, &first_ref, json!({"practitioner": "dr-x"})).await;
    assert_problem(response, 422, "practitioner", "invalid_practitioner").await;
    assert_eq!(
        practitioner_of(&staff_view(&app, &token, &first_ref).await),
        "dr-a"
    );

    // Another day: dr-b is free, so the booking becomes theirs.
    let other = open_day(5);
    let booking = book_with(&app, "stem-cell", &local(other, "14:00"), Some("dr-a")).await;
    let booked_ref = reference(&booking);
    let before = staff_view(&app, &token, &booked_ref).await;
    let view = patched(&app, &token, &booked_ref, json!({"practitioner": "dr-b"})).await;
    assert_eq!(
        view["practitioner"],
        json!({"code": "dr-b", "label": "B 医師"})
    );
    assert_eq!(view["start"], booking["start"], "the time stays");
    let entry = view["audit"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["action"] == "booking.practitioner_changed")
        .expect("audited");
    assert_eq!(entry["detail"], json!({"from": "dr-a", "to": "dr-b"}));
    assert_eq!(entry["actor"], "desk");
    // The patient is not mailed (the desk tells them); the reminder to
    // come is written when it is due, so it names dr-b.
    assert_eq!(patient_mail_kinds(&view), patient_mail_kinds(&before));
    assert_eq!(reminders(&before), ["pending"]);
    assert_eq!(reminders(&view), ["pending"]);
    run_sql(
        &app,
        &format!(
            "UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00' \
             WHERE kind = 'booking_reminder' AND reference = '{booked_ref}'"
        ),
    );
    let reminder = app
        .mail
        .wait_for(1, WAIT, |mail| {
            mail.subject().contains("ご予約日時のお知らせ")
        })
        .await;
    assert!(reminder[0].text().contains(&booked_ref));
    assert!(
        reminder[0].text().contains("担当：B 医師"),
        "{}",
        reminder[0].text()
    );
    // The claims moved: dr-a is free at 14:00 again, dr-b is not.
    book_with(&app, "stem-cell", &local(other, "14:00"), Some("dr-a")).await;
    let response = app
        .post_booking(&body_for("stem-cell", &local(other, "14:00"), Some("dr-b")))
        .await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    // Naming the one it has changes nothing; a move may name another.
    let same = patched(&app, &token, &booked_ref, json!({"practitioner": "dr-b"})).await;
    assert_eq!(same["updated_at"], view["updated_at"]);
    let moved = patched(
        &app,
        &token,
        &booked_ref,
        json!({"start": local(other, "16:00"), "practitioner": "dr-a"}),
    )
    .await;
    assert_eq!(practitioner_of(&moved), "dr-a");
    book_with(&app, "stem-cell", &local(other, "14:00"), Some("dr-b")).await;

    // A type without practitioners takes none.
    let seat = app.book(&local(other, "10:00")).await;
    let response = staff_patch(
        &app,
        &token,
        &reference(&seat),
        json!({"practitioner": "dr-a"}),
    )
    .await;
    assert_problem(response, 422, "practitioner", "invalid_practitioner").await;
    // A cancelled booking is not given to anyone.
    let cancelled = patched(&app, &token, &first_ref, json!({"status": "cancelled"})).await;
    assert_eq!(cancelled["status"], "cancelled");
    let response = staff_patch(&app, &token, &first_ref, json!({"practitioner": "dr-b"})).await;
    assert_problem(response, 422, "status", "invalid_status").await;
}

async fn the_console_gives_a_booking_to_another_practitioner(backend: Backend) {
    let app = spawn_clinic(backend).await;
    let token = staff_token(&app, "desk").await;
    let console = Console::sign_in(&app, &token).await;
    let day = open_day(4);
    let booking = book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-a")).await;
    book_with(&app, "stem-cell", &local(day, "15:00"), Some("dr-b")).await;
    let path = format!("/staff/bookings/{}", reference(&booking));
    let html = console.page(&path).await;
    assert!(html.contains("id=\"practitioner\">A 医師<"), "{html}");
    assert!(html.contains("action=\"/staff/bookings/"));
    assert!(html.contains("<option value=\"dr-b\">B 医師</option>"));
    assert!(!html.contains("value=\"counsellor\""), "not for this type");
    // Without the CSRF token nothing changes.
    let refused = console
        .post_raw(&format!("{path}/practitioner"), &[("practitioner", "dr-b")])
        .await;
    assert_eq!(refused.status(), 403);
    let html = console
        .act(&format!("{path}/practitioner"), &[("practitioner", "dr-b")])
        .await;
    assert!(html.contains("id=\"practitioner\">B 医師<"), "{html}");
    assert!(html.contains("の担当をB 医師にしました"), "{html}");
    assert!(
        html.contains("担当の変更"),
        "the trail names the change: {html}"
    );

    // dr-a is taken: the page comes back saying so, the choice kept.
    let busy = book_with(
        &app,
        "stem-cell",
        &local(open_day(5), "10:00"),
        Some("dr-b"),
    )
    .await;
    book_with(
        &app,
        "stem-cell",
        &local(open_day(5), "10:00"),
        Some("dr-a"),
    )
    .await;
    let busy_path = format!("/staff/bookings/{}", reference(&busy));
    let response = console
        .post(
            &format!("{busy_path}/practitioner"),
            &[("practitioner", "dr-a")],
        )
        .await;
    assert_eq!(response.status(), 409);
    let html = response.text().await.unwrap();
    assert!(html.contains("その担当者はこの時間"), "{html}");
    assert!(html.contains("<option value=\"dr-a\" selected>A 医師</option>"));
    assert!(html.contains("id=\"practitioner\">B 医師<"), "unchanged");
    let response = console
        .post(
            &format!("{busy_path}/practitioner"),
            &[("practitioner", "counsellor")],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("この診療メニューを担当していません"),
        "{html}"
    );
}

async fn a_practitioners_time_off_closes_only_them(backend: Backend) {
    let app = spawn_clinic(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(4);
    let hers = book_with(&app, "stem-cell", &local(day, "14:00"), Some("dr-a")).await;
    let his = book_with(&app, "follow-up", &local(day, "14:00"), None).await;
    let response = staff_post(
        &app,
        &token,
        "/api/v1/staff/closures",
        json!({"start": local(day, "14:00"), "end": local(day, "17:00"),
               "reason": "学会", "resource": "dr-a"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let closure: Value = response.json().await.unwrap();
    assert_eq!(closure["resource"], "dr-a");
    let affected: Vec<&str> = closure["affected_bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reference"].as_str().unwrap())
        .collect();
    assert_eq!(affected, [reference(&hers)], "not {}", reference(&his));
    // dr-a cannot be booked then; dr-b can, and so can the seats.
    let response = app
        .post_booking(&body_for("stem-cell", &local(day, "15:00"), Some("dr-a")))
        .await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    let query = format!("type=stem-cell&from={day}&to={day}");
    let body: Value = app.availability(&query).await.json().await.unwrap();
    let slot = body["days"][0]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|slot| slot["start"].as_str().unwrap().contains("T15:30"))
        .unwrap()
        .clone();
    assert_eq!(slot["practitioners"], json!(["dr-b"]));
    let assigned = book_with(&app, "stem-cell", &local(day, "15:30"), None).await;
    assert_eq!(practitioner_of(&assigned), "dr-b");
    app.book(&local(day, "15:00")).await;
    // A whole day off, for a room: the other one is used.
    let response = staff_post(
        &app,
        &token,
        "/api/v1/staff/closures",
        json!({"date": open_day(5).to_string(), "resource": "room-1"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    book_with(
        &app,
        "stem-cell",
        &local(open_day(5), "10:00"),
        Some("dr-a"),
    )
    .await;
    let response = app
        .post_booking(&body_for(
            "stem-cell",
            &local(open_day(5), "10:00"),
            Some("dr-b"),
        ))
        .await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    // An unknown code is refused with every other problem.
    let response = staff_post(
        &app,
        &token,
        "/api/v1/staff/closures",
        json!({"start": local(day, "14:00"), "end": local(day, "13:00"), "resource": "dr-x"}),
    )
    .await;
    let problem: Value = response.json().await.unwrap();
    let codes = crate::helpers::error_codes(&problem);
    assert!(codes.contains(&("resource".into(), "invalid_resource".into())));
    assert!(codes.contains(&("end".into(), "invalid_range".into())));
    // Removing the time off makes dr-a bookable again.
    let id = closure["id"].as_i64().unwrap();
    let response = app
        .client
        .delete(app.url(&format!("/api/v1/staff/closures/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    book_with(&app, "stem-cell", &local(day, "16:30"), Some("dr-a")).await;
}

async fn the_console_sets_a_practitioners_time_off(backend: Backend) {
    let app = spawn_clinic(backend).await;
    let token = staff_token(&app, "desk").await;
    let console = Console::sign_in(&app, &token).await;
    let day = open_day(4);
    let html = console.page("/staff/closures").await;
    assert!(html.contains("<option value=\"dr-a\">A 医師（お休み）</option>"));
    assert!(html.contains("<option value=\"room-2\">処置室2（お休み）</option>"));
    let date = day.to_string();
    let html = console
        .act(
            "/staff/closures",
            &[
                ("kind", "hours"),
                ("date", &date),
                ("start", "14:00"),
                ("end", "16:00"),
                ("resource", "dr-b"),
                ("reason", "往診"),
            ],
        )
        .await;
    assert!(html.contains("B 医師 お休み"), "{html}");
    let response = app
        .post_booking(&body_for("stem-cell", &local(day, "14:30"), Some("dr-b")))
        .await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    book_with(&app, "stem-cell", &local(day, "14:30"), Some("dr-a")).await;
    // The day page lists it as dr-b's, not as the clinic closed.
    let page = console.page(&format!("/staff/day/{day}")).await;
    assert!(page.contains("B 医師 14:00〜16:00 お休み 往診"), "{page}");
    assert!(!page.contains("休診（往診）"), "{page}");
    // A code nobody has comes back with what was typed.
    let response = console
        .post(
            "/staff/closures",
            &[
                ("kind", "day"),
                ("date", &date),
                ("resource", "dr-x"),
                ("reason", "テスト"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("その担当者・部屋は登録されていません"),
        "{html}"
    );
    assert!(html.contains("value=\"テスト\""));
    // Without resources configured the choice is not offered.
    let plain = spawn_app_with(backend, |_| {}).await;
    let token = staff_token(&plain, "desk").await;
    let console = Console::sign_in(&plain, &token).await;
    let html = console.page("/staff/closures").await;
    assert!(!html.contains("name=\"resource\""));
}

async fn a_practitioner_has_a_feed_of_their_own(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        with_practitioners(settings);
        settings.staff.feed_days_ahead = 10;
    })
    .await;
    let token = calendar_token(&app, "dr-a-phone").await;
    let day = open_day(4);
    let hers = book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-a")).await;
    let his = book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-b")).await;
    let seat = app.book(&local(day, "11:00")).await;
    let response = staff_get(&app, &token, "/api/v1/staff/calendar.ics?practitioner=dr-a").await;
    assert_eq!(response.status(), 200);
    let folded = response.text().await.unwrap();
    let calendar: icalendar::Calendar = folded.parse().expect("the feed parses");
    let text = folded.replace("\r\n ", "");
    let events = calendar
        .components
        .iter()
        .filter(|c| c.as_event().is_some())
        .count();
    assert_eq!(events, 1, "{text}");
    assert!(text.contains(&reference(&hers)));
    assert!(!text.contains(&reference(&his)));
    assert!(!text.contains(&reference(&seat)));
    assert!(text.contains("担当: A 医師"));
    assert!(text.contains("X-WR-CALNAME:") && text.contains("A 医師"));
    // The whole feed has them all.
    let all = staff_get(&app, &token, "/api/v1/staff/calendar.ics")
        .await
        .text()
        .await
        .unwrap();
    for booking in [&hers, &his, &seat] {
        assert!(all.contains(&reference(booking)));
    }
    for code in ["dr-x", "room-1"] {
        let response = staff_get(
            &app,
            &token,
            &format!("/api/v1/staff/calendar.ics?practitioner={code}"),
        )
        .await;
        assert_problem(response, 422, "practitioner", "invalid_practitioner").await;
    }
}

async fn fhir_appointments_name_the_practitioner(backend: Backend) {
    let app = spawn_clinic(backend).await;
    let token = staff_token(&app, "ehr").await;
    let day = open_day(4);
    let booking = book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-b")).await;
    let seat = app.book(&local(day, "11:00")).await;
    let read = |reference: String| {
        let app = &app;
        let token = token.clone();
        async move {
            let response = app
                .client
                .get(app.url(&format!("/fhir/r4/Appointment/{reference}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let appointment = read(reference(&booking)).await;
    let participants = appointment["participant"].as_array().unwrap();
    assert_eq!(participants.len(), 3);
    assert_eq!(
        participants[1],
        json!({"actor": {"reference": "Practitioner/dr-b", "display": "B 医師"},
               "required": "required", "status": "accepted"})
    );
    let without = read(reference(&seat)).await;
    assert_eq!(without["participant"].as_array().unwrap().len(), 2);
    // The participant's reference resolves, with no token.
    assert_eq!(app.get("/fhir/r4/Practitioner/dr-b").await.status(), 200);
    // A Slot of a type with doctors is busy when none of them is free.
    let slot_status = |time: &'static str| {
        let app = &app;
        async move {
            let id = format!(
                "stem-cell-{}{}",
                day.format("%Y%m%d"),
                time.replace(':', "")
            );
            let response = app.get(&format!("/fhir/r4/Slot/{id}")).await;
            assert_eq!(response.status(), 200, "{id}");
            let slot: Value = response.json().await.unwrap();
            slot["status"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(slot_status("10:00").await, "free", "dr-a is free");
    book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-a")).await;
    assert_eq!(slot_status("10:00").await, "busy");
    assert_eq!(slot_status("14:00").await, "free");
}

/// Practitioners are public FHIR resources, as on the booking form, and
/// each has a Schedule for each type they take, whose slots are the times
/// they are free.
async fn fhir_serves_practitioners_and_their_schedules(backend: Backend) {
    let app = spawn_clinic(backend).await;
    let day = open_day(4);
    book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-b")).await;
    let response = app.get("/fhir/r4/Practitioner/dr-b").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    let practitioner: Value = response.json().await.unwrap();
    let translation = json!({"extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/translation",
        "extension": [
            {"url": "lang", "valueCode": "en"},
            {"url": "content", "valueString": "Dr. B"},
        ],
    }]});
    assert_eq!(
        practitioner,
        json!({
            "resourceType": "Practitioner",
            "id": "dr-b",
            "identifier": [{"system": app.url("/fhir/practitioner"), "value": "dr-b"}],
            "active": true,
            "name": [{"text": "B 医師", "_text": translation}],
        })
    );
    // The search lists practitioners only, in the clinic's order, paged;
    // a room is not one, and the counsellor has no English label of its own.
    let response = app.get("/fhir/r4/Practitioner?_count=2").await;
    let bundle: Value = response.json().await.unwrap();
    assert_eq!(bundle["total"], 3);
    let ids: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["dr-a", "dr-b"]);
    let next = bundle["link"][1]["url"].as_str().unwrap();
    assert!(
        next.ends_with("/fhir/r4/Practitioner?_count=2&_offset=2"),
        "{next}"
    );
    let rest: Value = app
        .get("/fhir/r4/Practitioner?_count=2&_offset=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        rest["entry"][0]["resource"]["name"],
        json!([{"text": "C カウンセラー"}])
    );
    assert_eq!(app.get("/fhir/r4/Practitioner/room-1").await.status(), 404);
    // Each practitioner has a schedule for each type they take; its slots
    // are the times they are free: dr-b is booked at 10:00, dr-a is not.
    let json_of = |path: String| {
        let app = &app;
        async move {
            let response = app.get(&path).await;
            assert_eq!(response.status(), 200, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let schedules = json_of("/fhir/r4/Schedule?actor=Practitioner/dr-b".into()).await;
    assert_eq!(schedules["total"], 1);
    let by_url = format!(
        "/fhir/r4/Schedule?actor={}",
        app.url("/fhir/r4/Practitioner/dr-b")
    );
    assert_eq!(json_of(by_url).await["entry"], schedules["entry"]);
    let schedule = &schedules["entry"][0]["resource"];
    assert_eq!(schedule["id"], "stem-cell.dr-b");
    assert_eq!(
        schedule["actor"],
        json!([{"reference": "Practitioner/dr-b", "display": "B 医師"}])
    );
    let follow_up = json_of("/fhir/r4/Schedule?service-type=follow-up".into()).await;
    let ids: Vec<&str> = follow_up["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["follow-up", "follow-up.counsellor"]);
    let ten = format!("{}1000", day.format("%Y%m%d"));
    let first_of = |schedule: &'static str| {
        let json_of = &json_of;
        async move {
            let bundle = json_of(format!(
                "/fhir/r4/Slot?start=eq{day}&schedule=Schedule/{schedule}"
            ))
            .await;
            bundle["entry"][0]["resource"].clone()
        }
    };
    let with_b = first_of("stem-cell.dr-b").await;
    assert_eq!(with_b["id"], format!("stem-cell.dr-b-{ten}"));
    assert_eq!(with_b["status"], "busy");
    assert_eq!(with_b["schedule"]["reference"], "Schedule/stem-cell.dr-b");
    assert_eq!(first_of("stem-cell.dr-a").await["status"], "free");
    assert_eq!(first_of("stem-cell").await["status"], "free");
    let read = json_of(format!("/fhir/r4/Slot/stem-cell.dr-b-{ten}")).await;
    assert_eq!(read, with_b);
    // A practitioner who does not take the type has no schedule for it.
    assert_eq!(
        app.get("/fhir/r4/Schedule/stem-cell.counsellor")
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&format!("/fhir/r4/Slot/stem-cell.counsellor-{ten}"))
            .await
            .status(),
        404
    );
}

/// A booking keeps its practitioner's code when a later configuration no
/// longer has them: its Appointment names them by code, with no reference
/// that would not resolve.
async fn fhir_names_a_practitioner_no_longer_configured_by_code(backend: Backend) {
    let db = TestDatabase::create(backend);
    let app = spawn_on(db.clone(), with_practitioners).await;
    let booking = book_with(
        &app,
        "stem-cell",
        &local(open_day(4), "10:00"),
        Some("dr-b"),
    )
    .await;
    app.stop().await;
    let app = spawn_on(db, |settings| {
        with_practitioners(settings);
        settings
            .resources
            .retain(|resource| resource.code != "dr-b");
        for kind in &mut settings.schedule.consultation_types {
            kind.practitioners.retain(|code| code != "dr-b");
        }
    })
    .await;
    let token = staff_token(&app, "ehr").await;
    let response = app
        .client
        .get(app.url(&format!("/fhir/r4/Appointment/{}", reference(&booking))))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let appointment: Value = response.json().await.unwrap();
    assert_eq!(
        appointment["participant"][1]["actor"],
        json!({"type": "Practitioner", "display": "dr-b"})
    );
    assert_eq!(app.get("/fhir/r4/Practitioner/dr-b").await.status(), 404);
}

async fn webhooks_carry_the_practitioner_and_its_changes(backend: Backend) {
    use crate::webhook_receiver::WebhookReceiver;
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let receiver = WebhookReceiver::start(&[SECRET]).await;
    let endpoint = clinic_booking::webhooks::EndpointSettings {
        url: receiver.url("/hooks"),
        secret: secrecy::SecretString::from(SECRET),
        previous_secrets: Vec::new(),
        events: None,
        include_personal_data: false,
    };
    let app = spawn_app_with(backend, |settings| {
        with_practitioners(settings);
        settings.webhooks.endpoints = vec![endpoint];
        settings.webhooks.retry_initial_seconds = 0.05;
        settings.webhooks.poll_interval_ms = 20;
    })
    .await;
    let day = open_day(4);
    let booking = book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-a")).await;
    let seat = app.book(&local(day, "11:00")).await;
    let received = receiver.until(|received| received.len() >= 2).await;
    let data_of = |reference: String| {
        received
            .iter()
            .find(|r| r.reference() == reference)
            .map(|r| r.body["data"].clone())
            .unwrap()
    };
    assert_eq!(
        data_of(reference(&booking))["practitioner"],
        json!({"code": "dr-a", "label": "A 医師", "label_en": "Dr. A"})
    );
    assert_eq!(data_of(reference(&seat))["practitioner"], Value::Null);
    assert!(data_of(reference(&booking))
        .get("previous_practitioner")
        .is_none());

    // Staff give it to dr-b, then move it and give it back to dr-a: each
    // event names the practitioner it had.
    let token = staff_token(&app, "desk").await;
    let booked_ref = reference(&booking);
    patched(&app, &token, &booked_ref, json!({"practitioner": "dr-b"})).await;
    let later = local(open_day(5), "14:00");
    patched(
        &app,
        &token,
        &booked_ref,
        json!({"start": later, "practitioner": "dr-a"}),
    )
    .await;
    let received = receiver.until(|received| received.len() >= 4).await;
    let of = |kind: &str| {
        let matching: Vec<_> = received.iter().filter(|r| r.kind() == kind).collect();
        assert_eq!(matching.len(), 1, "{kind}");
        matching[0].body["data"].clone()
    };
    let reassigned = of("booking.practitioner_changed");
    assert_eq!(reassigned["reference"], booked_ref.as_str());
    assert_eq!(reassigned["practitioner"]["code"], "dr-b");
    assert_eq!(
        reassigned["previous_practitioner"],
        json!({"code": "dr-a", "label": "A 医師", "label_en": "Dr. A"})
    );
    assert_eq!(reassigned["start"], booking["start"], "the time stays");
    let moved = of("booking.rescheduled");
    assert_eq!(moved["practitioner"]["code"], "dr-a");
    assert_eq!(moved["previous_practitioner"]["code"], "dr-b");
    assert_eq!(moved["previous_start"], booking["start"]);
    assert!(received.iter().all(|r| r.verified));
}

crate::backend_tests!(
    staff_give_a_booking_to_another_practitioner_only_when_they_are_free,
    the_console_gives_a_booking_to_another_practitioner,
    a_practitioners_time_off_closes_only_them,
    the_console_sets_a_practitioners_time_off,
    a_practitioner_has_a_feed_of_their_own,
    fhir_appointments_name_the_practitioner,
    fhir_serves_practitioners_and_their_schedules,
    fhir_names_a_practitioner_no_longer_configured_by_code,
    webhooks_carry_the_practitioner_and_its_changes,
);
