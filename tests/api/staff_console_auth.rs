//! The staff console's gate: signing in with a staff token, the session
//! cookie, sign-out, revocation and idle expiry; every page without a
//! session leads to the sign-in page, and every POST without a session or
//! without its CSRF token is refused and changes nothing.

use reqwest::header::COOKIE;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::console_helpers::{age_sessions, location, login_form, post_login, set_cookie, Console};
use crate::helpers::{local, open_day, spawn_app, spawn_app_with, Backend, TestApp};
use crate::staff_helpers::{reference, revoke, staff_get, staff_token};

/// Every console page, for a booking and an inquiry that exist.
fn pages(booking: &str, inquiry: &str) -> Vec<String> {
    let day = open_day(3);
    vec![
        "/staff".into(),
        "/staff/".into(),
        format!("/staff/day/{day}"),
        format!("/staff/day?date={day}"),
        format!("/staff/week/{day}"),
        format!("/staff/week?date={day}"),
        format!("/staff/bookings/{booking}"),
        format!("/staff/bookings?reference={booking}"),
        "/staff/inquiries".into(),
        "/staff/inquiries?status=received".into(),
        format!("/staff/inquiries/{inquiry}"),
        "/staff/closures".into(),
        "/staff/mail".into(),
        "/staff/no-such-page".into(),
    ]
}

/// Every console POST with a form that would change something.
fn posts(booking: &str, inquiry: &str) -> Vec<(String, Vec<(&'static str, String)>)> {
    let day = open_day(3);
    vec![
        (
            format!("/staff/bookings/{booking}/status"),
            vec![("status", "arrived".to_string())],
        ),
        (format!("/staff/bookings/{booking}/cancel"), vec![]),
        (
            format!("/staff/bookings/{booking}/move"),
            vec![("start", local(day, "15:00"))],
        ),
        (
            format!("/staff/bookings/{booking}/note"),
            vec![("staff_note", "電話済み".to_string())],
        ),
        (
            format!("/staff/inquiries/{inquiry}/status"),
            vec![("status", "closed".to_string())],
        ),
        (
            format!("/staff/inquiries/{inquiry}/note"),
            vec![("staff_note", "折り返し済み".to_string())],
        ),
        (
            "/staff/closures".into(),
            vec![("kind", "day".to_string()), ("date", day.to_string())],
        ),
        ("/staff/closures/1/delete".into(), vec![]),
        ("/staff/mail/1/requeue".into(), vec![]),
        ("/staff/logout".into(), vec![]),
    ]
}

async fn inquiry(app: &TestApp) -> String {
    let response = app
        .post_json(
            "/api/v1/inquiries",
            &json!({"name": "問合 花子", "email": "hanako@example.jp",
                    "message": "費用について", "consent": true}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["reference"].as_str().unwrap().to_string()
}

/// What the POSTs above would have changed, as the staff API reads it.
async fn snapshot(app: &TestApp, token: &str, booking: &str, inquiry: &str) -> Value {
    let mut booking: Value = staff_get(app, token, &format!("/api/v1/staff/bookings/{booking}"))
        .await
        .json()
        .await
        .unwrap();
    let mut inquiry: Value = staff_get(app, token, &format!("/api/v1/staff/inquiries/{inquiry}"))
        .await
        .json()
        .await
        .unwrap();
    let closures: Value = staff_get(app, token, "/api/v1/staff/closures")
        .await
        .json()
        .await
        .unwrap();
    // Reading them is on the record, and mail goes out meanwhile; what is
    // compared is the rest.
    for key in ["audit", "mail"] {
        booking.as_object_mut().unwrap().remove(key);
        inquiry.as_object_mut().unwrap().remove(key);
    }
    json!({"booking": booking, "inquiry": inquiry, "closures": closures["items"]})
}

async fn every_page_without_a_session_leads_to_the_sign_in_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let booking = reference(&app.book(&local(open_day(3), "10:00")).await);
    let inquiry = inquiry(&app).await;
    for path in pages(&booking, &inquiry) {
        for cookie in [None, Some("staff_session=forged-or-expired")] {
            let mut request = app.client.get(app.url(&path));
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 303, "GET {path} with {cookie:?}");
            let target = location(&response);
            assert!(
                target.starts_with("/staff/login?next=%2Fstaff"),
                "GET {path}: {target}"
            );
            assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
            let body = response.text().await.unwrap();
            assert!(!body.contains("予約 太郎"), "{path} shows nothing");
        }
    }
}

async fn every_post_without_a_session_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let booking = reference(&app.book(&local(open_day(3), "10:00")).await);
    let inquiry = inquiry(&app).await;
    let before = snapshot(&app, &token, &booking, &inquiry).await;
    // A CSRF token of a real session, sent without its cookie.
    let other = Console::sign_in(&app, &token).await;
    for (path, form) in posts(&booking, &inquiry) {
        for cookie in [None, Some("staff_session=forged-or-expired")] {
            let mut form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            form.push(("csrf", &other.csrf));
            let mut request = app.client.post(app.url(&path)).form(&form);
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "POST {path} with {cookie:?}");
            assert_eq!(response.headers()["cache-control"], "no-store");
            assert!(response
                .text()
                .await
                .unwrap()
                .contains("ログインが必要です"));
        }
    }
    assert_eq!(snapshot(&app, &token, &booking, &inquiry).await, before);
}

async fn every_post_without_its_csrf_token_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let booking = reference(&app.book(&local(open_day(3), "10:00")).await);
    let inquiry = inquiry(&app).await;
    let console = Console::sign_in(&app, &token).await;
    let other = Console::sign_in(&app, &token).await;
    assert_ne!(console.csrf, other.csrf, "each session has its own token");
    let before = snapshot(&app, &token, &booking, &inquiry).await;
    for (path, form) in posts(&booking, &inquiry) {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut wrong = form.clone();
        wrong.push(("csrf", &other.csrf));
        let mut empty = form.clone();
        empty.push(("csrf", ""));
        for (what, form) in [
            ("no", form.clone()),
            ("another session's", wrong),
            ("an empty", empty),
        ] {
            let response = console.post_raw(&path, &form).await;
            assert_eq!(response.status(), 403, "POST {path} with {what} CSRF token");
            assert!(response
                .text()
                .await
                .unwrap()
                .contains("操作は行われていません"));
        }
    }
    assert_eq!(snapshot(&app, &token, &booking, &inquiry).await, before);
    // Still signed in: the refused sign-out did not sign out.
    console.page("/staff").await;
}

async fn signing_in_sets_a_strict_cookie_and_leads_back_to_the_page_asked_for(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "reception-1").await;
    let day = open_day(2);
    let asked = app.get(&format!("/staff/day/{day}")).await;
    let sign_in = location(&asked);
    assert_eq!(sign_in, format!("/staff/login?next=%2Fstaff%2Fday%2F{day}"));
    let form = app.get(&sign_in).await;
    assert_eq!(form.status(), 200);
    assert_eq!(form.headers()["cache-control"], "no-store");
    let login_cookie = set_cookie(&form, "staff_login").unwrap();
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"));
    let html = form.text().await.unwrap();
    assert!(html.contains("clinic-booking staff-token create --label NAME"));
    assert!(html.contains(&format!("value=\"/staff/day/{day}\"")));

    let response = post_login(&app, &token, &format!("/staff/day/{day}")).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("/staff/day/{day}"));
    let cookie = set_cookie(&response, "staff_session").unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/staff"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let secret = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("staff_session=");
    assert_ne!(secret, token, "the cookie is not the staff token");
    assert!(!location(&response).contains(&token));
    // Signing in is on the record under the token's label.
    let audit: Value = staff_get(&app, &token, "/api/v1/staff/audit")
        .await
        .json()
        .await
        .unwrap();
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|entry| entry["action"] == "staff.signed_in" && entry["actor"] == "reception-1"));
    // A place elsewhere is never where sign-in leads.
    let elsewhere = post_login(&app, &token, "https://evil.example/staff").await;
    assert_eq!(location(&elsewhere), "/staff");
}

async fn a_wrong_token_or_a_sign_in_form_from_elsewhere_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let wrong = post_login(&app, "not-a-staff-token", "/staff").await;
    assert_eq!(wrong.status(), 401);
    assert!(set_cookie(&wrong, "staff_session").is_none());
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("トークンが正しくないか"));
    revoke(&app, "desk").await;
    let revoked = post_login(&app, &token, "/staff").await;
    assert_eq!(revoked.status(), 401);

    // Another site can post the form, but not read or send its cookie.
    let token = staff_token(&app, "desk-2").await;
    let (_, value) = login_form(&app).await;
    let forged = app
        .client
        .post(app.url("/staff/login"))
        .form(&[("token", token.as_str()), ("login_csrf", &value)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(set_cookie(&forged, "staff_session").is_none());
}

async fn the_session_cookie_is_secure_when_the_public_url_is_https(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.server.public_url = "https://reserve.n2clinic-ginza.example".into();
    })
    .await;
    let token = staff_token(&app, "desk").await;
    let form = app.get("/staff/login").await;
    assert!(set_cookie(&form, "staff_login")
        .unwrap()
        .contains("; Secure"));
    let response = post_login(&app, &token, "/staff").await;
    assert_eq!(response.status(), 303);
    assert!(set_cookie(&response, "staff_session")
        .unwrap()
        .contains("; Secure"));
}

async fn signing_out_ends_the_session_on_the_server(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let booking = reference(&app.book(&local(open_day(3), "10:00")).await);
    let console = Console::sign_in(&app, &token).await;
    let response = console.post("/staff/logout", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/staff/login?done=signed_out");
    let cleared = set_cookie(&response, "staff_session").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let page = app.get("/staff/login?done=signed_out").await;
    assert!(page.text().await.unwrap().contains("ログアウトしました"));
    // The old cookie opens nothing, and its form token does nothing.
    let old = console.get("/staff").await;
    assert_eq!(old.status(), 303);
    let refused = console
        .post(
            &format!("/staff/bookings/{booking}/status"),
            &[("status", "arrived")],
        )
        .await;
    assert_eq!(refused.status(), 401);
    let view: Value = staff_get(&app, &token, &format!("/api/v1/staff/bookings/{booking}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "confirmed");
}

async fn revoking_the_token_ends_its_sessions_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "tablet").await;
    let other_token = staff_token(&app, "desk").await;
    let booking = reference(&app.book(&local(open_day(3), "10:00")).await);
    let console = Console::sign_in(&app, &token).await;
    let other = Console::sign_in(&app, &other_token).await;
    console.page("/staff").await;
    revoke(&app, "tablet").await;
    let page = console.get(&format!("/staff/bookings/{booking}")).await;
    assert_eq!(page.status(), 303);
    let refused = console
        .post(
            &format!("/staff/bookings/{booking}/status"),
            &[("status", "arrived")],
        )
        .await;
    assert_eq!(refused.status(), 401);
    // A new token under the same label does not bring the session back.
    let _new = staff_token(&app, "tablet").await;
    assert_eq!(console.get("/staff").await.status(), 303);
    // Other tokens' sessions go on.
    other.page("/staff").await;
    let view: Value = staff_get(
        &app,
        &other_token,
        &format!("/api/v1/staff/bookings/{booking}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(view["status"], "confirmed");
}

async fn a_session_unused_for_longer_than_the_idle_time_ends(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.staff.session_idle_hours = 2).await;
    let token = staff_token(&app, "desk").await;
    let console = Console::sign_in(&app, &token).await;
    age_sessions(&app, 1).await;
    console.page("/staff").await;
    age_sessions(&app, 3).await;
    let expired = console.get("/staff").await;
    assert_eq!(expired.status(), 303);
    assert!(location(&expired).starts_with("/staff/login"));
    let refused = console
        .post(
            "/staff/closures",
            &[("kind", "day"), ("date", &open_day(2).to_string())],
        )
        .await;
    assert_eq!(refused.status(), 401);
    let closures: Value = staff_get(&app, &token, "/api/v1/staff/closures")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(closures["items"], json!([]));
    // Signing in again works.
    Console::sign_in(&app, &token).await;
}

async fn a_calendar_token_cannot_sign_in_to_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = crate::staff_helpers::calendar_token(&app, "wall-calendar").await;
    let refused = post_login(&app, &token, "/staff").await;
    assert_eq!(refused.status(), 401);
    assert!(set_cookie(&refused, "staff_session").is_none());
}

backend_tests!(
    a_calendar_token_cannot_sign_in_to_the_console,
    every_page_without_a_session_leads_to_the_sign_in_page,
    every_post_without_a_session_is_refused_and_changes_nothing,
    every_post_without_its_csrf_token_is_refused_and_changes_nothing,
    signing_in_sets_a_strict_cookie_and_leads_back_to_the_page_asked_for,
    a_wrong_token_or_a_sign_in_form_from_elsewhere_is_refused,
    the_session_cookie_is_secure_when_the_public_url_is_https,
    signing_out_ends_the_session_on_the_server,
    revoking_the_token_ends_its_sessions_at_once,
    a_session_unused_for_longer_than_the_idle_time_ends,
);
