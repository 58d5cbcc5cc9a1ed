//! The manage link: its token leaves the URL at once (exchanged for a
//! private cookie scoped to the booking), and it stops working some days
//! after the visit.

use chrono::{NaiveDateTime, Utc};
use clinic_booking::db::schema::bookings;
use diesel::prelude::*;
use serde_json::Value;

use crate::backend_tests;
use crate::data_at_rest::open;
use crate::helpers::{
    local, manage_token, open_day, spawn_app_with, spawn_on, Backend, TestApp, TestDatabase,
};

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_string())
        .collect()
}

async fn post_with_cookie(
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

async fn the_link_token_is_exchanged_for_a_private_cookie_and_a_clean_address(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.server.public_url = "https://booking.example.jp".into();
    })
    .await;
    let date = open_day(3);
    let booking = app.book(&local(date, "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    let exchange = app.get(&format!("/manage/{reference}?token={token}")).await;
    assert_eq!(exchange.status(), 303);
    assert_eq!(
        exchange.headers()["location"],
        format!("/manage/{reference}").as_str()
    );
    assert_eq!(exchange.headers()["cache-control"], "no-store");
    assert_eq!(exchange.headers()["referrer-policy"], "strict-origin");
    let cookies = set_cookies(&exchange);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        &format!("Path=/manage/{reference}"),
        "Max-Age=3600",
    ] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains(&token), "the cookie is not the token");
    let cookie = cookie.split(';').next().unwrap().to_string();

    // The clean page, and its forms, work from the cookie alone.
    let page = app
        .get_with_cookie(&format!("/manage/{reference}"), &cookie)
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("ご予約確定"));
    assert!(!html.contains(&token));
    assert!(!html.contains("token="), "no link carries a token");
    let moved = post_with_cookie(
        &app,
        &format!("/manage/{reference}/reschedule"),
        &[("start", &local(date, "15:00"))],
        &cookie,
    )
    .await;
    assert_eq!(moved.status(), 303);
    assert_eq!(
        moved.headers()["location"],
        format!("/manage/{reference}?done=rescheduled").as_str()
    );
    let cancelled =
        post_with_cookie(&app, &format!("/manage/{reference}/cancel"), &[], &cookie).await;
    assert_eq!(cancelled.status(), 303);
    let view: Value = app
        .get(&format!("/api/v1/bookings/{reference}?token={token}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "cancelled");
    assert!(view["start"].as_str().unwrap().contains("T15:00"));
}

async fn a_cookie_opens_only_its_own_booking_and_cannot_be_made_up(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let date = open_day(3);
    let mine = app.book(&local(date, "10:00")).await;
    let theirs = app.book(&local(date, "11:00")).await;
    let (mine_ref, theirs_ref) = (
        mine["reference"].as_str().unwrap(),
        theirs["reference"].as_str().unwrap(),
    );
    let (_, cookie) = app.open_manage_link(mine_ref, &manage_token(&mine)).await;
    let stranger = app.get(&format!("/manage/{theirs_ref}")).await;
    let borrowed = app
        .get_with_cookie(&format!("/manage/{theirs_ref}"), &cookie)
        .await;
    assert_eq!(borrowed.status(), 404);
    assert_eq!(stranger.status(), 404);
    assert_eq!(
        borrowed.text().await.unwrap(),
        stranger.text().await.unwrap()
    );
    let cancel =
        post_with_cookie(&app, &format!("/manage/{theirs_ref}/cancel"), &[], &cookie).await;
    assert_eq!(cancel.status(), 404);
    // A cookie value is sealed with the server key: a changed one, or one
    // made up, opens nothing.
    let value = &cookie["manage=".len()..];
    let last = value.chars().last().unwrap();
    let tampered = format!(
        "manage={}{}",
        &value[..value.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    let clear = format!("manage={mine_ref}.{}", manage_token(&mine));
    for forged in [
        tampered,
        clear,
        "manage=AAAA".to_string(),
        "manage=".to_string(),
    ] {
        let page = app
            .get_with_cookie(&format!("/manage/{mine_ref}"), &forged)
            .await;
        assert_eq!(page.status(), 404, "{forged}");
    }
    let theirs_view: Value = app
        .get(&format!(
            "/api/v1/bookings/{theirs_ref}?token={}",
            manage_token(&theirs)
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs_view["status"], "confirmed");
}

/// A webmail page is another site: the browser withholds the SameSite
/// cookie on the redirect that follows, so the clean address, reached with
/// no cookie from another site, sends the browser on from within this site
/// instead of saying the page does not exist.
async fn a_link_followed_from_another_site_is_sent_on_from_within_this_site(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let path = format!("/manage/{reference}");
    let from_webmail = app.get_from_another_site(&path).await;
    assert_eq!(from_webmail.status(), 200);
    let html = from_webmail.text().await.unwrap();
    assert!(
        html.contains(&format!("http-equiv=\"refresh\" content=\"0; url={path}\"")),
        "{html}"
    );
    assert!(html.contains(&format!("href=\"{path}\"")));
    assert!(!html.contains("予約 太郎"), "shows nothing of the booking");
    // From within the site, without a cookie: the plain 404.
    let same_site = app
        .client
        .get(app.url(&path))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), 404);
}

/// Moves a booking's visit `days_ago` days into the past.
async fn visit_ended(database: &TestDatabase, reference: &str, days_ago: i64) {
    let reference = reference.to_string();
    let end: NaiveDateTime = Utc::now().naive_utc() - chrono::Duration::days(days_ago);
    open(&database.url)
        .write(move |conn| {
            diesel::update(bookings::table.find(&reference))
                .set((
                    bookings::start_at.eq(end - chrono::Duration::minutes(30)),
                    bookings::end_at.eq(end),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn a_manage_token_stops_working_the_set_number_of_days_after_the_visit(backend: Backend) {
    let database = TestDatabase::create(backend);
    let app = spawn_on(database.clone(), |_| {}).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    let (_, cookie) = app.open_manage_link(reference, &token).await;
    let api = format!("/api/v1/bookings/{reference}?token={token}");

    visit_ended(&database, reference, 29).await;
    assert_eq!(app.get(&api).await.status(), 200, "within the 30 days");

    visit_ended(&database, reference, 31).await;
    let expired = app.get(&api).await;
    let wrong = app
        .get(&format!("/api/v1/bookings/{reference}?token=wrong"))
        .await;
    assert_eq!(expired.status(), 404);
    assert_eq!(wrong.status(), 404);
    assert_eq!(
        expired.json::<Value>().await.unwrap(),
        wrong.json::<Value>().await.unwrap(),
        "the same answer as a wrong token"
    );
    for action in ["cancel", "reschedule"] {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/bookings/{reference}/{action}")))
            .bearer_auth(&token)
            .json(&serde_json::json!({"start": local(open_day(4), "10:00")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{action}");
    }
    // The page tells the holder of the link kindly, with the phone number.
    for page in [
        app.get(&format!("/manage/{reference}?token={token}")).await,
        app.get_with_cookie(&format!("/manage/{reference}"), &cookie)
            .await,
    ] {
        assert_eq!(page.status(), 410);
        let html = page.text().await.unwrap();
        assert!(html.contains("有効期限が切れています"), "{html}");
        assert!(html.contains("03-3289-0202"));
    }
    // A wrong token still gets the plain 404 page.
    let stranger = app.get(&format!("/manage/{reference}?token=wrong")).await;
    assert_eq!(stranger.status(), 404);
    app.stop().await;

    // 0 days: the link never expires.
    let forever = spawn_on(database.clone(), |settings| {
        settings.privacy.manage_token_days_after_visit = 0;
    })
    .await;
    assert_eq!(forever.get(&api).await.status(), 200);
}

backend_tests!(
    the_link_token_is_exchanged_for_a_private_cookie_and_a_clean_address,
    a_cookie_opens_only_its_own_booking_and_cannot_be_made_up,
    a_link_followed_from_another_site_is_sent_on_from_within_this_site,
    a_manage_token_stops_working_the_set_number_of_days_after_the_visit,
);
