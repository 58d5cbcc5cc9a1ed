//! `POST /api/v1/inquiries`: JSON and form bodies, every error code,
//! idempotency, and the mails an inquiry sends.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_problem, error_codes, spawn_app, Backend, TestApp};

const CLINIC_INBOX: &str = "info@n2clinic-ginza.com";

fn inquiry_body() -> Value {
    json!({
        "name": "問合 花子",
        "email": "hanako@example.jp",
        "phone": "０３−３２８９−０２０２",
        "category": "treatment",
        "message": "幹細胞治療の費用を教えてください。",
        "consent": true,
        "source": "knee-pain-and-cartilage-regeneration",
    })
}

async fn post_inquiry(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post_json("/api/v1/inquiries", body).await
}

async fn an_inquiry_is_received_and_acknowledged(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = post_inquiry(&app, &inquiry_body()).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    let reference = body["reference"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/api/v1/inquiries/{reference}"));
    assert_eq!(body["status"], "received");
    assert!(body["created_at"].as_str().unwrap().ends_with("+09:00"));

    let mails = app
        .mail
        .wait_for(2, Duration::from_secs(10), |m| {
            m.text().contains(&reference)
        })
        .await;
    assert_eq!(mails.len(), 2, "acknowledgement and notification");
    let ack = mails.iter().find(|m| m.is_to("hanako@example.jp")).unwrap();
    assert!(ack.subject().contains("お問い合わせを受け付けました"));
    assert!(ack.subject().contains(&reference));
    let text = ack.text();
    assert!(text.contains("治療について"));
    // Nobody has shown the address is the sender's: what they typed is
    // not mailed back to it.
    assert!(!text.contains("幹細胞治療の費用"), "{text}");
    assert!(!text.contains("問合 花子"), "{text}");
    let notice = mails.iter().find(|m| m.is_to(CLINIC_INBOX)).unwrap();
    let text = notice.text();
    assert!(text.contains("幹細胞治療の費用を教えてください。"));
    assert!(text.contains("hanako@example.jp"));
    assert!(text.contains("03-3289-0202"), "phone normalised: {text}");
    assert!(text.contains("knee-pain-and-cartilage-regeneration"));
}

async fn an_inquiry_from_an_html_form_is_received(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/inquiries"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=%E5%95%8F%E5%90%88+%E8%8A%B1%E5%AD%90&email=hanako%40example.jp&phone=&message=%E3%81%93%E3%82%93%E3%81%AB%E3%81%A1%E3%81%AF&consent=on")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "received");
    let reference = body["reference"].as_str().unwrap().to_string();
    let notice = app
        .mail
        .wait_for(1, Duration::from_secs(10), |m| {
            m.is_to(CLINIC_INBOX) && m.text().contains(&reference)
        })
        .await;
    assert!(
        notice[0].text().contains("一般的なお問い合わせ"),
        "default category"
    );
}

async fn every_invalid_inquiry_field_is_reported_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = post_inquiry(
        &app,
        &json!({"email": "nope", "phone": "12", "category": "spam", "message": "あ".repeat(4001)}),
    )
    .await;
    let problem = assert_problem(response, 422, "consent", "consent_required").await;
    let codes = error_codes(&problem);
    for (field, code) in [
        ("name", "required"),
        ("email", "invalid_email"),
        ("phone", "invalid_phone"),
        ("category", "invalid"),
        ("message", "too_long"),
        ("consent", "consent_required"),
    ] {
        assert!(
            codes.contains(&(field.to_string(), code.to_string())),
            "{field}/{code} in {codes:?}"
        );
    }
    let mut body = inquiry_body();
    body["message"] = json!("   ");
    body["consent"] = json!(false);
    let response = post_inquiry(&app, &body).await;
    let problem = assert_problem(response, 422, "message", "required").await;
    assert!(error_codes(&problem).contains(&("consent".into(), "consent_required".into())));
    let mut body = inquiry_body();
    body["name"] = json!("悪い\r\nBcc: x@example.com");
    let response = post_inquiry(&app, &body).await;
    assert_eq!(
        response.status(),
        422,
        "a name with a line break is refused"
    );
}

async fn a_retried_inquiry_is_stored_and_acknowledged_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let send = |body: Value| {
        app.client
            .post(app.url("/api/v1/inquiries"))
            .header("Idempotency-Key", "inquiry-key-1")
            .json(&body)
            .send()
    };
    let first = send(inquiry_body()).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let second = send(inquiry_body()).await.unwrap();
    assert_eq!(second.status(), 201);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second);
    let mut other = inquiry_body();
    other["message"] = json!("別の内容");
    assert_problem(
        send(other).await.unwrap(),
        422,
        "Idempotency-Key",
        "idempotency_key_reused",
    )
    .await;
    app.mail
        .wait_for(2, Duration::from_secs(10), |_| true)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.mail.mails().len(),
        2,
        "one acknowledgement, one notification"
    );
}

backend_tests!(
    an_inquiry_is_received_and_acknowledged,
    an_inquiry_from_an_html_form_is_received,
    every_invalid_inquiry_field_is_reported_at_once,
    a_retried_inquiry_is_stored_and_acknowledged_once,
);
