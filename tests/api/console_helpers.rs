//! Helpers of the staff console tests: a browser's session (its cookie and
//! the CSRF token its pages carry) driven over plain HTTP.

use chrono::Utc;
use clinic_booking::configuration::Settings;
use clinic_booking::db::Db;
use diesel::RunQueryDsl;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::Response;

use crate::helpers::TestApp;

/// The value of `name="{name}" value="..."` in a page (the first one).
pub fn field_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

/// The `name=value` part of the response's `Set-Cookie` for `name`.
pub fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .map(|value| value.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A browser signed in to the console.
pub struct Console<'a> {
    pub app: &'a TestApp,
    /// `staff_session=...`
    pub cookie: String,
    pub csrf: String,
}

/// What the sign-in form needs: its cookie and the value it repeats.
pub async fn login_form(app: &TestApp) -> (String, String) {
    let response = app.get("/staff/login").await;
    assert_eq!(response.status(), 200);
    let cookie = set_cookie(&response, "staff_login").expect("login cookie");
    let pair = cookie.split(';').next().unwrap().to_string();
    let html = response.text().await.unwrap();
    let value = field_value(&html, "login_csrf").expect("login_csrf field");
    (pair, value)
}

/// Posts the sign-in form with `token`, as a browser that opened it.
pub async fn post_login(app: &TestApp, token: &str, next: &str) -> Response {
    let (cookie, value) = login_form(app).await;
    app.client
        .post(app.url("/staff/login"))
        .header(COOKIE, cookie)
        .form(&[("token", token), ("login_csrf", &value), ("next", next)])
        .send()
        .await
        .unwrap()
}

impl<'a> Console<'a> {
    pub async fn sign_in(app: &'a TestApp, token: &str) -> Console<'a> {
        let response = post_login(app, token, "/staff").await;
        assert_eq!(response.status(), 303, "signed in");
        let cookie = set_cookie(&response, "staff_session").expect("session cookie");
        let cookie = cookie.split(';').next().unwrap().to_string();
        let mut console = Console {
            app,
            cookie,
            csrf: String::new(),
        };
        let html = console.page("/staff").await;
        console.csrf = field_value(&html, "csrf").expect("a form with the CSRF token");
        console
    }

    pub async fn get(&self, path: &str) -> Response {
        self.app
            .client
            .get(self.app.url(path))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// A page that must answer 200; its HTML.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        let status = response.status();
        let html = response.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {html}");
        html
    }

    /// Posts `form` with the session's CSRF token.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.push(("csrf", &self.csrf));
        self.post_raw(path, &form).await
    }

    /// Posts `form` as it is (no CSRF token added).
    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.app
            .client
            .post(self.app.url(path))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Posts with the CSRF token and follows the 303 to the page it leads
    /// to; that page's HTML.
    pub async fn act(&self, path: &str, form: &[(&str, &str)]) -> String {
        let response = self.post(path, form).await;
        let status = response.status();
        let target = location(&response);
        let body = response.text().await.unwrap();
        assert_eq!(status, 303, "POST {path}: {body}");
        self.page(&target).await
    }
}

/// Makes the sessions of the app's database look idle since `hours` ago.
pub async fn age_sessions(app: &TestApp, hours: i64) {
    let settings = Settings::defaults().expect("settings");
    let db = Db::connect(&settings.database, &app.database_url()).expect("database");
    tokio::task::spawn_blocking(move || {
        let mut conn = db.connection().expect("connection");
        let then = (Utc::now() - chrono::Duration::hours(hours)).naive_utc();
        diesel::sql_query(format!(
            "UPDATE staff_sessions SET last_seen_at = '{}'",
            then.format("%Y-%m-%d %H:%M:%S")
        ))
        .execute(&mut conn)
        .expect("age sessions");
    })
    .await
    .expect("task");
}
