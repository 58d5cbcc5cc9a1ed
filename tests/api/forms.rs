//! The HTML pages: the reservation form, the manage page, the inquiry form
//! and the privacy notice, as a browser without JavaScript uses them.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    booking_body, error_codes, local, manage_cookie, manage_token, open_day, spawn_app_with,
    Backend, TestApp,
};
use crate::staff_helpers::{staff_get, staff_token};

/// An app whose forms accept a submission at once (no minimum fill time).
async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |settings| settings.forms.min_fill_seconds = 0).await
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

async fn form_token(app: &TestApp, path: &str) -> String {
    let html = app.get(path).await.text().await.unwrap();
    hidden_value(&html, "form_token")
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

fn valid_fields<'a>(token: &'a str, start: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("form_token", token),
        ("website", ""),
        ("type", "consultation"),
        ("source", "knee-pain-and-cartilage-regeneration"),
        ("start", start),
        ("name", "予約 花子"),
        ("name_kana", "ヨヤク ハナコ"),
        ("email", "hanako@example.jp"),
        ("phone", "090-1234-5678"),
        ("first_visit", "true"),
        ("message", "膝が痛みます。"),
        ("consent", "true"),
    ]
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

async fn the_reservation_form_books_and_redirects_to_a_thank_you_page(backend: Backend) {
    let app = app(backend).await;
    let date = open_day(3);
    let page = app
        .get("/reserve?source=knee-pain-and-cartilage-regeneration")
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"source\" value=\"knee-pain-and-cartilage-regeneration\""));
    let token = hidden_value(&html, "form_token");
    let start = local(date, "10:00");
    let response = post_form(&app, "/reserve", &valid_fields(&token, &start)).await;
    assert_eq!(response.status(), 303);
    let thanks = location(&response);
    assert!(thanks.starts_with("/reserve/thanks/"), "{thanks}");
    assert!(!thanks.contains("token"), "no token in the URL: {thanks}");
    assert_eq!(response.headers()["referrer-policy"], "strict-origin");
    let cookie = manage_cookie(&response);
    for _reload in 0..2 {
        let page = app.get_with_cookie(&thanks, &cookie).await;
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["referrer-policy"], "strict-origin");
        let html = page.text().await.unwrap();
        let reference = thanks["/reserve/thanks/".len()..]
            .split('?')
            .next()
            .unwrap();
        assert!(html.contains(reference));
        assert!(html.contains("10:00〜10:30"));
        assert!(html.contains(&format!("href=\"/manage/{reference}\"")));
    }
    assert_eq!(app.get(&thanks).await.status(), 404, "no cookie");
    let wrong = app.get_with_cookie(&thanks, &format!("{cookie}x")).await;
    assert_eq!(wrong.status(), 404);
    // Exactly one booking: the slot is taken, the next one is free.
    assert!(!app.slot_available(date, &local(date, "10:00")).await);
    assert!(app.slot_available(date, &local(date, "10:30")).await);
}

async fn an_invalid_form_comes_back_with_the_values_and_the_api_codes_beside_the_fields(
    backend: Backend,
) {
    let app = app(backend).await;
    let token = form_token(&app, "/reserve").await;
    let start = local(open_day(3), "10:00");
    let mut fields = valid_fields(&token, &start);
    fields.retain(|(name, _)| !matches!(*name, "consent" | "email" | "name"));
    fields.push(("email", "not-an-email"));
    fields.push(("name", "<script>alert(1)</script>"));
    fields.push(("phone", "12"));
    let response = post_form(&app, "/reserve", &fields).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    // Values kept, escaped.
    assert!(html.contains("value=\"not-an-email\""));
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("膝が痛みます。"));
    assert!(html.contains(&format!("value=\"{start}\" checked")));
    // Messages next to their fields, linked by aria-describedby.
    for field in ["email", "phone", "consent"] {
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}");
        assert!(html.contains(&format!("aria-describedby=\"{field}-error\"")));
    }
    assert!(html.contains("メールアドレスの形式が正しくありません。"));
    assert!(html.contains("error-summary"));
    // The same codes as the JSON API gives for the same input.
    let mut body = booking_body(&start);
    body["email"] = "not-an-email".into();
    body["phone"] = "12".into();
    body["consent"] = false.into();
    let problem: Value = app.post_booking(&body).await.json().await.unwrap();
    for (field, code) in error_codes(&problem) {
        assert!(
            html.contains(&format!("href=\"#f-{field}\" data-code=\"{code}\"")),
            "{field}/{code} missing"
        );
    }
    assert!(app.slot_available(open_day(3), &start).await);
}

async fn a_filled_honeypot_is_refused_politely_and_books_nothing(backend: Backend) {
    let app = self::app(backend).await;
    let date = open_day(3);
    let start = local(date, "11:00");
    let token = form_token(&app, "/reserve").await;
    let mut fields = valid_fields(&token, &start);
    fields.retain(|(name, _)| *name != "website");
    fields.push(("website", "http://spam.example"));
    let response = post_form(&app, "/reserve", &fields).await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("送信できませんでした"));
    assert!(!html.contains("予約 花子"), "nothing typed is shown back");
    assert!(app.slot_available(date, &start).await);
}

/// Asserts the reservation form came back with every value of
/// `valid_fields` and the note to send it again; returns its new token.
async fn shown_again_to_send(response: reqwest::Response, start: &str) -> String {
    assert_eq!(response.status(), 422);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"send-again\""), "{html}");
    assert!(html.contains("もう一度送信してください"));
    assert!(!html.contains("内容は保存されていません"));
    for value in [
        "予約 花子",
        "ヨヤク ハナコ",
        "hanako@example.jp",
        "090-1234-5678",
    ] {
        assert!(html.contains(&format!("value=\"{value}\"")), "{value}");
    }
    assert!(html.contains("膝が痛みます。"));
    assert!(html.contains(&format!("value=\"{start}\" checked")));
    assert!(html.contains("id=\"f-first_visit-yes\" name=\"first_visit\" value=\"true\" checked"));
    assert!(html.contains("name=\"consent\" value=\"true\" checked"));
    assert!(html.contains("name=\"source\" value=\"knee-pain-and-cartilage-regeneration\""));
    hidden_value(&html, "form_token")
}

async fn a_reservation_sent_too_quickly_comes_back_with_every_value_to_send_again(
    backend: Backend,
) {
    // Long enough that fetching the form and sending it stays "too quick"
    // on a machine busy with the other tests.
    let app = spawn_app_with(backend, |settings| settings.forms.min_fill_seconds = 3).await;
    let date = open_day(3);
    let start = local(date, "11:00");
    let token = form_token(&app, "/reserve").await;
    let response = post_form(&app, "/reserve", &valid_fields(&token, &start)).await;
    let fresh = shown_again_to_send(response, &start).await;
    assert!(app.slot_available(date, &start).await, "nothing booked yet");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let response = post_form(&app, "/reserve", &valid_fields(&fresh, &start)).await;
    assert_eq!(response.status(), 303, "sent again, it books");
    assert!(!app.slot_available(date, &start).await);
}

async fn an_expired_or_unknown_form_token_comes_back_with_every_value_to_send_again(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |settings| {
        settings.forms.min_fill_seconds = 0;
        settings.forms.token_secret = "forms-test-secret".to_string().into();
    })
    .await;
    let mut forms = clinic_booking::configuration::Settings::defaults()
        .unwrap()
        .forms;
    forms.token_secret = "forms-test-secret".to_string().into();
    let stale = clinic_booking::routes::site::guard::issue(
        &forms,
        chrono::Utc::now() - chrono::Duration::minutes(121),
    );
    let date = open_day(3);
    let start = local(date, "11:00");
    let response = post_form(&app, "/reserve", &valid_fields(&stale, &start)).await;
    shown_again_to_send(response, &start).await;
    // A token of another key (a restart without a fixed secret), or none.
    let mut missing = valid_fields("", &start);
    missing.retain(|(name, _)| *name != "form_token");
    for fields in [valid_fields("12345.forged", &start), missing] {
        let response = post_form(&app, "/reserve", &fields).await;
        shown_again_to_send(response, &start).await;
    }
    assert!(app.slot_available(date, &start).await);
    let fresh = form_token(&app, "/reserve").await;
    let response = post_form(&app, "/reserve", &valid_fields(&fresh, &start)).await;
    assert_eq!(response.status(), 303);
}

async fn a_slot_taken_meanwhile_offers_the_nearest_free_slots(backend: Backend) {
    let app = app(backend).await;
    let date = open_day(3);
    let start = local(date, "12:00");
    let token = form_token(&app, "/reserve").await;
    app.book(&start).await;
    let response = post_form(&app, "/reserve", &valid_fields(&token, &start)).await;
    assert_eq!(response.status(), 409);
    let html = response.text().await.unwrap();
    assert!(html.contains("data-code=\"slot_unavailable\""));
    assert!(html.contains("近い時間の空き枠"));
    assert!(html.contains(&format!("value=\"{}\"", local(date, "11:30"))));
    assert!(html.contains("value=\"予約 花子\""));
}

async fn the_manage_page_shows_the_booking_and_a_get_changes_nothing(backend: Backend) {
    let app = app(backend).await;
    let date = open_day(3);
    let booking = app.book(&local(date, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    let (path, cookie) = app.open_manage_link(reference, &token).await;
    assert_eq!(path, format!("/manage/{reference}"));
    for _ in 0..2 {
        let response = app.get_with_cookie(&path, &cookie).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["referrer-policy"], "strict-origin");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let html = response.text().await.unwrap();
        assert!(html.contains(reference));
        assert!(html.contains("ご予約確定"));
        assert!(html.contains(&format!("action=\"/manage/{reference}/cancel\"")));
        assert!(!html.contains(&token), "the page never shows the token");
    }
    let cancel_by_get = app
        .get(&format!("/manage/{reference}/cancel?token={token}"))
        .await;
    assert_ne!(cancel_by_get.status(), 200);
    assert!(!app.slot_available(date, &local(date, "10:00")).await);
}

async fn the_manage_page_cancels_and_reschedules_through_post_forms(backend: Backend) {
    let app = app(backend).await;
    let date = open_day(3);
    let booking = app.book(&local(date, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    let (_, cookie) = app.open_manage_link(reference, &token).await;

    let new_start = local(date, "14:00");
    let response = post_form_with_cookie(
        &app,
        &format!("/manage/{reference}/reschedule"),
        &[("start", &new_start)],
        &cookie,
    )
    .await;
    assert_eq!(response.status(), 303);
    let html = app
        .get_with_cookie(&location(&response), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("ご予約の日時を変更しました。"));
    assert!(html.contains("14:00〜14:30"));
    assert!(app.slot_available(date, &local(date, "10:00")).await);

    let response =
        post_form_with_cookie(&app, &format!("/manage/{reference}/cancel"), &[], &cookie).await;
    assert_eq!(response.status(), 303);
    let html = app
        .get_with_cookie(&location(&response), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("ご予約をキャンセルしました。"));
    assert!(html.contains("キャンセル済み"));
    assert!(app.slot_available(date, &new_start).await);
}

async fn a_wrong_token_gets_the_same_404_page_as_an_unknown_reference(backend: Backend) {
    let app = app(backend).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let wrong = app.get(&format!("/manage/{reference}?token=nope")).await;
    let unknown = app.get("/manage/ABCD-EFGH?token=nope").await;
    assert_eq!(wrong.status(), 404);
    assert_eq!(unknown.status(), 404);
    let (wrong, unknown) = (wrong.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(wrong, unknown);
    assert!(!wrong.contains(reference));
    let cancel = post_form(
        &app,
        &format!("/manage/{reference}/cancel"),
        &[("token", "nope")],
    )
    .await;
    assert_eq!(cancel.status(), 404);
    assert!(
        !app.slot_available(open_day(3), &local(open_day(3), "10:00"))
            .await
    );
}

async fn every_page_carries_the_security_headers_and_no_inline_script_or_style(backend: Backend) {
    let app = app(backend).await;
    for path in [
        "/",
        "/reserve",
        "/inquiry",
        "/privacy",
        "/articles/knee-pain-and-cartilage-regeneration",
        "/articles/missing",
    ] {
        let response = app.get(path).await;
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(csp.contains("script-src 'self'"), "{path}");
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("<html lang=\"ja\">"), "{path}");
        assert!(!html.contains("style="), "{path}");
        assert!(!html.contains("<style"), "{path}");
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script src=").count(),
            "{path}"
        );
    }
    let css = app.get("/static/site.css").await;
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

async fn the_inquiry_form_and_the_privacy_notice_are_served(backend: Backend) {
    let app = app(backend).await;
    let html = app
        .get("/inquiry?source=knee-pain-and-cartilage-regeneration")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("action=\"/inquiry\""));
    assert!(html.contains("method=\"post\""));
    for name in [
        "name",
        "email",
        "phone",
        "category",
        "message",
        "consent",
        "website",
        "form_token",
    ] {
        assert!(html.contains(&format!("name=\"{name}\"")), "{name}");
    }
    for category in ["general", "treatment", "reservation", "other"] {
        assert!(
            html.contains(&format!("value=\"{category}\"")),
            "{category}"
        );
    }
    assert!(html.contains("name=\"source\" value=\"knee-pain-and-cartilage-regeneration\""));
    assert!(html.contains("href=\"/privacy\""));

    let privacy = app.get("/privacy").await.text().await.unwrap();
    assert!(privacy.contains("<span id=\"notice-version\">2026-11-01</span>"));
    assert!(privacy.contains("保存期間"));
}

async fn the_slot_picker_moves_between_weeks_without_javascript(backend: Backend) {
    let app = app(backend).await;
    let html = app
        .get("/reserve?type=stem-cell")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("rel=\"next\""));
    assert!(!html.contains("rel=\"prev\""));
    assert!(html.contains("name=\"type\" value=\"stem-cell\""));
    let next = html
        .split("href=\"")
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| part.split('"').next())
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let later = app.get(&next).await.text().await.unwrap();
    assert!(later.contains("rel=\"prev\""));
    assert!(later.contains("name=\"start\""));
    // Nonsense in the query falls back to defaults, never an error.
    assert_eq!(
        app.get("/reserve?from=yesterday&type=%FF").await.status(),
        200
    );
}

fn inquiry_fields(token: &str) -> Vec<(&str, &str)> {
    vec![
        ("form_token", token),
        ("website", ""),
        ("source", "knee-pain-and-cartilage-regeneration"),
        ("category", "treatment"),
        ("name", "問合 花子"),
        ("email", "hanako@example.jp"),
        ("phone", "03-3289-0202"),
        ("message", "幹細胞治療の費用を教えてください。"),
        ("consent", "true"),
    ]
}

/// The inquiries staff see, newest first.
async fn stored_inquiries(app: &TestApp) -> Vec<Value> {
    let token = staff_token(app, "forms-check").await;
    let list: Value = staff_get(app, &token, "/api/v1/staff/inquiries")
        .await
        .json()
        .await
        .unwrap();
    list["items"].as_array().unwrap().clone()
}

async fn the_inquiry_form_stores_the_inquiry_and_redirects_to_a_thank_you_page(backend: Backend) {
    let app = app(backend).await;
    let token = form_token(&app, "/inquiry?source=knee-pain-and-cartilage-regeneration").await;
    let response = post_form(&app, "/inquiry", &inquiry_fields(&token)).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["referrer-policy"], "strict-origin");
    let thanks = location(&response);
    let reference = thanks
        .strip_prefix("/inquiry/thanks/")
        .unwrap_or_else(|| panic!("{thanks}"))
        .to_string();
    for _reload in 0..2 {
        let page = app.get(&thanks).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains(&format!("id=\"reference\">{reference}<")));
        assert!(html.contains("お問い合わせを受け付けました"));
    }
    assert_eq!(
        app.get("/inquiry/thanks/not-a-reference").await.status(),
        404
    );

    // One inquiry, as the API would have stored it, with where it came from.
    let stored = stored_inquiries(&app).await;
    assert_eq!(stored.len(), 1, "reloads store nothing: {stored:?}");
    let inquiry = &stored[0];
    assert_eq!(inquiry["reference"], reference.as_str());
    assert_eq!(inquiry["status"], "received");
    assert_eq!(inquiry["category"], "treatment");
    assert_eq!(inquiry["message"], "幹細胞治療の費用を教えてください。");
    assert_eq!(inquiry["source"], "knee-pain-and-cartilage-regeneration");

    let acknowledgement = app
        .mail
        .wait_for(1, Duration::from_secs(10), |m| m.is_to("hanako@example.jp"))
        .await;
    assert_eq!(acknowledgement.len(), 1);
    assert!(acknowledgement[0].subject().contains(&reference));
    let text = acknowledgement[0].text();
    assert!(text.contains("治療について"), "{text}");
    assert!(!text.contains("問合 花子"), "{text}");
    assert!(!text.contains("幹細胞治療の費用"), "{text}");
}

async fn an_invalid_inquiry_form_comes_back_with_the_values_and_the_api_codes(backend: Backend) {
    let app = app(backend).await;
    let token = form_token(&app, "/inquiry").await;
    let mut fields = inquiry_fields(&token);
    fields.retain(|(name, _)| !matches!(*name, "consent" | "email" | "name" | "phone"));
    fields.push(("email", "not-an-email"));
    fields.push(("phone", "12"));
    fields.push(("name", "<b>問合</b> 花子"));
    let response = post_form(&app, "/inquiry", &fields).await;
    assert_eq!(response.status(), 422);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    // Values kept (escaped), the chosen category and the source too.
    assert!(html.contains("value=\"not-an-email\""));
    assert!(html.contains("value=\"12\""));
    assert!(html.contains("&#60;b&#62;問合&#60;/b&#62; 花子"));
    assert!(!html.contains("<b>問合"));
    assert!(html.contains("幹細胞治療の費用を教えてください。"));
    assert!(html.contains("value=\"treatment\" selected"));
    assert!(html.contains("name=\"source\" value=\"knee-pain-and-cartilage-regeneration\""));
    // Messages beside their fields, and the same codes as the JSON API.
    for field in ["email", "phone", "consent"] {
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}");
        assert!(html.contains(&format!("aria-describedby=\"{field}-error\"")));
    }
    assert!(html.contains("メールアドレスの形式が正しくありません。"));
    assert!(html.contains("error-summary"));
    let problem: Value = app
        .post_json(
            "/api/v1/inquiries",
            &json!({
                "name": "<b>問合</b> 花子", "email": "not-an-email", "phone": "12",
                "category": "treatment", "message": "幹細胞治療の費用を教えてください。",
            }),
        )
        .await
        .json()
        .await
        .unwrap();
    let codes = error_codes(&problem);
    for field in ["email", "phone", "consent"] {
        assert!(codes.iter().any(|(f, _)| f == field), "{problem}");
    }
    for (field, code) in codes {
        assert!(
            html.contains(&format!("href=\"#f-{field}\" data-code=\"{code}\"")),
            "{field}/{code} missing"
        );
    }
    // A message that is missing is reported where it belongs.
    let mut fields = inquiry_fields(&token);
    fields.retain(|(name, _)| *name != "message");
    let response = post_form(&app, "/inquiry", &fields).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("href=\"#f-message\" data-code=\"required\""));
    assert!(html.contains("value=\"hanako@example.jp\""));
    assert!(stored_inquiries(&app).await.is_empty());
}

async fn a_honeypot_inquiry_is_refused_politely_and_stores_nothing(backend: Backend) {
    let app = app(backend).await;
    let token = form_token(&app, "/inquiry").await;
    let mut fields = inquiry_fields(&token);
    fields.retain(|(name, _)| *name != "website");
    fields.push(("website", "http://spam.example"));
    let response = post_form(&app, "/inquiry", &fields).await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("送信できませんでした"));
    assert!(html.contains("href=\"/inquiry\""));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(stored_inquiries(&app).await.is_empty());
    assert!(app.mail.mails().is_empty());
}

async fn a_too_quick_or_expired_inquiry_comes_back_with_every_value_to_send_again(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |settings| {
        settings.forms.min_fill_seconds = 60;
        settings.forms.token_secret = "forms-test-secret".to_string().into();
    })
    .await;
    let mut forms = clinic_booking::configuration::Settings::defaults()
        .unwrap()
        .forms;
    forms.token_secret = "forms-test-secret".to_string().into();
    let stale = clinic_booking::routes::site::guard::issue(
        &forms,
        chrono::Utc::now() - chrono::Duration::minutes(121),
    );
    let token = form_token(&app, "/inquiry").await;
    for fields in [
        inquiry_fields(&token),
        inquiry_fields(&stale),
        inquiry_fields("12345.forged"),
    ] {
        let response = post_form(&app, "/inquiry", &fields).await;
        assert_eq!(response.status(), 422);
        let html = response.text().await.unwrap();
        assert!(html.contains("id=\"send-again\""));
        for value in ["問合 花子", "hanako@example.jp", "03-3289-0202"] {
            assert!(html.contains(&format!("value=\"{value}\"")), "{value}");
        }
        assert!(html.contains(">幹細胞治療の費用を教えてください。</textarea>"));
        assert!(html.contains("value=\"treatment\" selected"));
        assert!(html.contains("name=\"consent\" value=\"true\" checked"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(stored_inquiries(&app).await.is_empty());
    assert!(app.mail.mails().is_empty());
}

crate::backend_tests!(
    the_reservation_form_books_and_redirects_to_a_thank_you_page,
    an_invalid_form_comes_back_with_the_values_and_the_api_codes_beside_the_fields,
    a_filled_honeypot_is_refused_politely_and_books_nothing,
    a_reservation_sent_too_quickly_comes_back_with_every_value_to_send_again,
    an_expired_or_unknown_form_token_comes_back_with_every_value_to_send_again,
    a_slot_taken_meanwhile_offers_the_nearest_free_slots,
    the_manage_page_shows_the_booking_and_a_get_changes_nothing,
    the_manage_page_cancels_and_reschedules_through_post_forms,
    a_wrong_token_gets_the_same_404_page_as_an_unknown_reference,
    every_page_carries_the_security_headers_and_no_inline_script_or_style,
    the_inquiry_form_and_the_privacy_notice_are_served,
    the_slot_picker_moves_between_weeks_without_javascript,
    the_inquiry_form_stores_the_inquiry_and_redirects_to_a_thank_you_page,
    an_invalid_inquiry_form_comes_back_with_the_values_and_the_api_codes,
    a_honeypot_inquiry_is_refused_politely_and_stores_nothing,
    a_too_quick_or_expired_inquiry_comes_back_with_every_value_to_send_again,
);
