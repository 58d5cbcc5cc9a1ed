use serde_json::Value;

use crate::helpers::{
    booking_body, local, manage_token, open_day, spawn_app, spawn_app_with, Backend, TestApp,
};
use crate::staff_helpers::staff_token;

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["type"].is_string() && body["detail"].is_string());
    body
}

async fn malformed_json_is_a_400_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
}

async fn a_json_body_that_is_not_an_object_is_a_400_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("content-type", "application/json")
        .body("[1, 2, 3]")
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
}

async fn an_unsupported_content_type_is_a_415_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("content-type", "text/plain")
        .body("name=taro")
        .send()
        .await
        .unwrap();
    problem(response, 415).await;
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(response, 415).await;
}

async fn a_body_over_the_limit_is_a_413_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = booking_body(&local(open_day(3), "10:00"));
    // More than any valid booking can take (about 40 KB).
    body["message"] = Value::String("x".repeat(64 * 1024));
    let response = app.post_booking(&body).await;
    problem(response, 413).await;
}

async fn a_body_over_the_limit_sent_in_chunks_is_a_413_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    problem(response, 413).await;
}

async fn an_unknown_path_is_a_404_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    problem(app.get("/api/v1/nothing-here").await, 404).await;
}

async fn an_invalid_idempotency_key_is_a_400_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("Idempotency-Key", "x".repeat(300))
        .json(&booking_body(&local(open_day(3), "10:00")))
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
}

/// `pairs` as a form body with a valid form token (min fill time 0).
async fn form_body(app: &TestApp, page: &str, pairs: &[(&str, &str)]) -> String {
    let html = app.get(page).await.text().await.unwrap();
    let marker = "name=\"form_token\" value=\"";
    let at = html.find(marker).unwrap() + marker.len();
    let token = html[at..].split('"').next().unwrap().to_string();
    let mut pairs = pairs.to_vec();
    pairs.push(("form_token", &token));
    serde_urlencoded::to_string(&pairs).unwrap()
}

async fn post_form(app: &TestApp, path: &str, body: String) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn forms_at_once(settings: &mut clinic_booking::configuration::Settings) {
    settings.forms.min_fill_seconds = 0;
}

async fn a_long_japanese_inquiry_sent_from_the_form_is_stored_not_refused_for_its_size(
    backend: Backend,
) {
    let app = spawn_app_with(backend, forms_at_once).await;
    for chars in [1_900, 4_000] {
        let message = "膝".repeat(chars);
        let fields = [
            ("name", "問合 花子"),
            ("email", "hanako@example.jp"),
            ("message", message.as_str()),
            ("consent", "true"),
        ];
        let body = form_body(&app, "/inquiry", &fields).await;
        assert!(
            body.len() > 16 * 1024,
            "{chars} kanji: {} bytes",
            body.len()
        );
        let response = post_form(&app, "/inquiry", body).await;
        assert_eq!(response.status(), 303, "{chars} kanji from the form");
        let api = serde_urlencoded::to_string(fields).unwrap();
        let response = post_form(&app, "/api/v1/inquiries", api).await;
        assert_eq!(response.status(), 201, "{chars} kanji to the API");
    }
}

async fn a_2000_character_booking_message_sent_form_encoded_is_booked(backend: Backend) {
    let app = spawn_app_with(backend, forms_at_once).await;
    let message = "膝".repeat(2_000);
    for (path, time, expected) in [
        ("/api/v1/bookings", "10:00", 201),
        ("/reserve", "10:30", 303),
    ] {
        let start = local(open_day(3), time);
        let mut body = booking_body(&start);
        body["message"] = Value::String(message.clone());
        body["name_kana"] = Value::String("ﾀﾞ".repeat(50));
        let pairs: Vec<(String, String)> = body
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (name.clone(), value)
            })
            .collect();
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let form = if path == "/reserve" {
            form_body(&app, "/reserve", &pairs).await
        } else {
            serde_urlencoded::to_string(&pairs).unwrap()
        };
        assert!(form.len() > 16 * 1024);
        let response = post_form(&app, path, form).await;
        assert_eq!(response.status(), expected, "{path}");
    }
}

/// `text` as a JSON string with every character escaped, as some clients
/// write it (`\ud83d\ude00` for 😀): the widest a character gets.
fn escaped(text: &str) -> String {
    let mut json = String::from("\"");
    for unit in text.encode_utf16() {
        json.push_str(&format!("\\u{unit:04x}"));
    }
    json.push('"');
    json
}

async fn fields_at_their_longest_in_their_widest_encoding_fit_every_limit(backend: Backend) {
    // Even with the configured limit at its smallest.
    let app = spawn_app_with(backend, |s| s.server.body_limit_bytes = 1024).await;
    let token = staff_token(&app, "desk").await;
    let post_json = |path: &'static str, body: String| {
        app.client
            .post(app.url(path))
            .header("content-type", "application/json")
            .bearer_auth(&token)
            .body(body)
            .send()
    };
    let start = local(open_day(3), "10:00");
    let booking = format!(
        r#"{{"name": {}, "name_kana": {}, "email": "taro@example.jp", "phone": {},
            "start": "{start}", "message": {}, "source": "{}", "consent": true}}"#,
        escaped(&"山".repeat(100)),
        escaped(&"ﾀﾞ".repeat(50)),
        escaped("090-1234-5678"),
        escaped(&"\u{1F600}".repeat(2_000)),
        "a".repeat(100),
    );
    let response = post_json("/api/v1/bookings", booking).await.unwrap();
    assert_eq!(response.status(), 201);
    let booked: Value = response.json().await.unwrap();
    let inquiry = format!(
        r#"{{"name": {}, "email": "hanako@example.jp", "message": {}, "consent": true}}"#,
        escaped(&"山".repeat(100)),
        escaped(&"\u{1F600}".repeat(4_000)),
    );
    let response = post_json("/api/v1/inquiries", inquiry).await.unwrap();
    assert_eq!(response.status(), 201);
    let closure = format!(
        r#"{{"date": "{}", "reason": {}}}"#,
        open_day(5),
        escaped(&"\u{1F600}".repeat(200))
    );
    let response = post_json("/api/v1/staff/closures", closure).await.unwrap();
    assert_eq!(response.status(), 201);
    let reference = booked["reference"].as_str().unwrap();
    let note = format!(
        r#"{{"staff_note": {}}}"#,
        escaped(&"\u{1F600}".repeat(2_000))
    );
    let response = app
        .client
        .patch(app.url(&format!("/api/v1/staff/bookings/{reference}")))
        .header("content-type", "application/json")
        .bearer_auth(&token)
        .body(note)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let move_to = format!(r#"{{"start": {}}}"#, escaped(&local(open_day(4), "11:00")));
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{reference}/reschedule?token={}",
            manage_token(&booked)
        )))
        .header("content-type", "application/json")
        .body(move_to)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn a_form_too_large_for_any_valid_input_comes_back_saying_so(backend: Backend) {
    let app = spawn_app_with(backend, forms_at_once).await;
    let message = "膝".repeat(10_000);
    for (path, form_class, limit) in [
        ("/inquiry", "inquiry-form", "4,000文字"),
        ("/reserve", "booking-form", "2,000文字"),
    ] {
        let body = form_body(&app, path, &[("name", "花子"), ("message", &message)]).await;
        let response = post_form(&app, path, body).await;
        assert_eq!(response.status(), 413, "{path}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains(&format!("class=\"{form_class}\"")),
            "{path}: the form again"
        );
        assert!(html.contains("大きすぎた"), "{path}");
        assert!(html.contains(limit), "{path}");
    }
}

crate::backend_tests!(
    a_long_japanese_inquiry_sent_from_the_form_is_stored_not_refused_for_its_size,
    a_2000_character_booking_message_sent_form_encoded_is_booked,
    fields_at_their_longest_in_their_widest_encoding_fit_every_limit,
    a_form_too_large_for_any_valid_input_comes_back_saying_so,
    malformed_json_is_a_400_problem,
    a_json_body_that_is_not_an_object_is_a_400_problem,
    an_unsupported_content_type_is_a_415_problem,
    a_body_over_the_limit_is_a_413_problem,
    a_body_over_the_limit_sent_in_chunks_is_a_413_problem,
    an_unknown_path_is_a_404_problem,
    an_invalid_idempotency_key_is_a_400_problem,
);
