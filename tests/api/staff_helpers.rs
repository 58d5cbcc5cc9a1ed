//! Helpers of the staff API tests: tokens and authorised requests.

use chrono::Utc;
use clinic_booking::configuration::Settings;
use clinic_booking::db::Db;
use serde_json::Value;

use crate::helpers::TestApp;

fn open(app: &TestApp) -> Db {
    let settings = Settings::defaults().expect("settings");
    Db::connect(&settings.database, &app.database_url()).expect("database")
}

/// A fresh staff token labelled `label`, made the way the CLI makes it.
pub async fn staff_token(app: &TestApp, label: &str) -> String {
    let db = open(app);
    let label = label.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.connection().expect("connection");
        clinic_booking::workflows::staff_tokens::create_token(&mut conn, &label, Utc::now())
            .expect("token")
    })
    .await
    .expect("task")
}

/// A fresh `calendar` token labelled `label`: it opens the feed alone.
pub async fn calendar_token(app: &TestApp, label: &str) -> String {
    let db = open(app);
    let label = label.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.connection().expect("connection");
        clinic_booking::workflows::staff_tokens::create_scoped_token(
            &mut conn,
            &label,
            clinic_booking::workflows::staff_tokens::StaffScope::Calendar,
            Utc::now(),
        )
        .expect("token")
    })
    .await
    .expect("task")
}

pub async fn revoke(app: &TestApp, label: &str) {
    let db = open(app);
    let label = label.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.connection().expect("connection");
        clinic_booking::workflows::staff_tokens::revoke_token(&mut conn, &label).expect("revoke")
    })
    .await
    .expect("task")
}

pub async fn staff_get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

pub async fn staff_patch(
    app: &TestApp,
    token: &str,
    reference: &str,
    body: Value,
) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/api/v1/staff/bookings/{reference}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request")
}

pub async fn staff_post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request")
}

pub async fn staff_delete(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// PATCHes and asserts 200; the booking as staff see it.
pub async fn patched(app: &TestApp, token: &str, reference: &str, body: Value) -> Value {
    let response = staff_patch(app, token, reference, body.clone()).await;
    let status = response.status();
    let view: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "PATCH {body} failed: {view}");
    view
}

pub fn reference(booking: &Value) -> String {
    booking["reference"]
        .as_str()
        .expect("reference")
        .to_string()
}
