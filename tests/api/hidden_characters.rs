//! Text that would display in another order than it is stored, or hide
//! characters, is refused in every field a person writes freely.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{
    assert_problem, booking_body, error_codes, local, open_day, spawn_app, Backend,
};
use crate::staff_helpers::{reference, staff_patch, staff_token};

const HIDDEN: [char; 11] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200B}', '\u{FEFF}',
];

async fn bidi_overrides_and_invisible_characters_are_refused_with_invalid_characters(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let start = local(open_day(3), "10:00");
    for c in HIDDEN {
        let mut body = booking_body(&start);
        body["name"] = json!(format!("予約{c}太郎"));
        body["name_kana"] = json!(format!("ヨヤク{c}タロウ"));
        body["message"] = json!(format!("右膝が{c}痛みます。"));
        let response = app.post_booking(&body).await;
        let problem = assert_problem(response, 422, "name", "invalid_characters").await;
        let codes = error_codes(&problem);
        for field in ["name_kana", "message"] {
            assert!(
                codes.contains(&(field.to_string(), "invalid_characters".to_string())),
                "{c:?} in {field}: {problem}"
            );
        }
        let inquiry = json!({
            "name": "問合 花子", "email": "hanako@example.jp",
            "message": format!("膝の治療について{c}"), "consent": true,
        });
        let response = app.post_json("/api/v1/inquiries", &inquiry).await;
        assert_problem(response, 422, "message", "invalid_characters").await;
    }
    assert!(app.slot_available(open_day(3), &start).await);
}

async fn a_staff_note_refuses_them_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = reference(&booking);
    let response = staff_patch(
        &app,
        &token,
        &reference,
        json!({"staff_note": "電話済み\u{202E}"}),
    )
    .await;
    assert_problem(response, 422, "staff_note", "invalid_characters").await;
}

async fn zero_width_joiners_stay_allowed(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = booking_body(&local(open_day(3), "10:00"));
    let message = "家族\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}で来院します。";
    body["message"] = json!(message);
    body["name"] = json!("Ra\u{200C}hel");
    let response = app.post_booking(&body).await;
    assert_eq!(response.status(), 201);
    let booking: Value = response.json().await.unwrap();
    assert_eq!(booking["message"], message);
}

backend_tests!(
    bidi_overrides_and_invisible_characters_are_refused_with_invalid_characters,
    a_staff_note_refuses_them_too,
    zero_width_joiners_stay_allowed,
);
