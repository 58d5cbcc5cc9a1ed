//! The log canary: the real binary, logging at `trace`, serves every kind of
//! request (public JSON, forms, manage pages, staff routes, mail delivery
//! and its failures, 4xx answers) carrying unique canary names, emails,
//! phones, messages and tokens; none of them may appear in what it logs.
//! Each test below is one family of requests on a server of its own.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use clinic_booking::configuration::Settings;
use clinic_booking::db::Db;
use serde_json::{json, Value};
use smtp_sink::SmtpSink;

use crate::backend_tests;
use crate::helpers::{
    local, manage_cookie, manage_token, open_day, Backend, TestDatabase, TEST_KEY,
};

const ARTICLE: &str = "knee-pain-and-cartilage-regeneration";

/// The scrapers' secret; like every other secret, never logged.
const METRICS_TOKEN: &str = "canary-metrics-token-5Qw8Zr";

/// The binary, serving on a free port, with everything it writes to
/// standard error (the log) and standard output kept.
struct Server {
    child: Child,
    address: String,
    output: Arc<Mutex<String>>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn keep(stream: impl Read + Send + 'static, output: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut output = output.lock().unwrap();
            output.push_str(&line);
            output.push('\n');
        }
    });
}

impl Server {
    async fn start(database_url: &str, smtp_url: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_clinic-booking"));
        if database_url.starts_with("postgres") {
            command.env("CLINIC__SECURITY__SERVER_KEY", TEST_KEY);
        }
        let mut child = command
            .current_dir(dir.path())
            .env("RUST_LOG", "trace")
            .env_remove("DATABASE_URL")
            .env("CLINIC__DATABASE__URL", database_url)
            .env("CLINIC__SERVER__BIND", "127.0.0.1:0")
            .env("CLINIC__SERVER__PUBLIC_URL", "http://clinic.test")
            .env("CLINIC__SERVER__WORKERS", "2")
            .env("CLINIC__SERVER__SHUTDOWN_GRACE_SECONDS", "1")
            .env("CLINIC__RATE_LIMIT__ENABLED", "false")
            .env("CLINIC__FORMS__MIN_FILL_SECONDS", "0")
            // Two bookings by one patient or client make a burst, so the
            // burst lines are in every canary's log.
            .env("CLINIC__BOOKING__BURST_BOOKINGS", "2")
            .env("CLINIC__MAIL__SMTP_URL", smtp_url)
            .env("CLINIC__MAIL__POLL_INTERVAL_MS", "20")
            .env("CLINIC__MAIL__RETRY_INITIAL_SECONDS", "0.05")
            .env("CLINIC__MAIL__RETRY_MAX_SECONDS", "0.2")
            .env("CLINIC__METRICS__TOKEN", METRICS_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start clinic-booking");
        let output = Arc::new(Mutex::new(String::new()));
        keep(child.stderr.take().unwrap(), output.clone());
        keep(child.stdout.take().unwrap(), output.clone());
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let port = loop {
            let port = {
                let log = output.lock().unwrap();
                log.find("listening on http://127.0.0.1:").map(|at| {
                    log[at + "listening on http://127.0.0.1:".len()..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                })
            };
            if let Some(port) = port.filter(|p| !p.is_empty()) {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "clinic-booking exited ({status}): {}",
                    output.lock().unwrap()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Server {
            child,
            address: format!("http://127.0.0.1:{port}"),
            output,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    async fn get_with_cookie(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }

    async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(pairs).unwrap())
            .send()
            .await
            .unwrap()
    }

    async fn staff(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    fn log(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One patient's canary values; the ASCII markers make a value findable
/// however a log line might have escaped the Japanese around it.
struct Patient {
    name: String,
    kana: String,
    email: String,
    phone: String,
    message: String,
}

impl Patient {
    fn new(tag: &str) -> Patient {
        let n: u32 = rand::random::<u32>() % 9000 + 1000;
        let kana: String = n
            .to_string()
            .bytes()
            .map(|d| {
                "ヌネノハヒフヘホマミ"
                    .chars()
                    .nth(usize::from(d - b'0'))
                    .unwrap()
            })
            .collect();
        Patient {
            name: format!("鳥籠Nm{tag}{n} 花子"),
            kana: format!("カナリア{kana}"),
            email: format!("cml{tag}{n}@example.jp"),
            phone: format!("080-{n}-{:04}", 1000 + tag.len() * 7),
            message: format!("Msg{tag}{n} 膝が痛みます"),
        }
    }

    fn secrets(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.name.split(' ').next().unwrap()["鳥籠".len()..].to_string(),
            self.kana.clone(),
            self.email.clone(),
            self.email.split('@').next().unwrap().to_string(),
            self.phone.clone(),
            self.phone.replace('-', ""),
            self.message.split(' ').next().unwrap().to_string(),
        ]
    }

    fn booking(&self, start: &str) -> Value {
        json!({
            "name": self.name, "name_kana": self.kana, "email": self.email,
            "phone": self.phone, "start": start, "type": "consultation",
            "first_visit": true, "message": self.message, "consent": true,
            "source": ARTICLE,
        })
    }

    fn inquiry(&self) -> Value {
        json!({
            "name": self.name, "email": self.email, "phone": self.phone,
            "category": "treatment", "message": self.message, "consent": true,
        })
    }

    /// A booking as form fields (the API's names).
    fn booking_form<'a>(&'a self, start: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("type", "consultation"),
            ("source", ARTICLE),
            ("start", start),
            ("name", &self.name),
            ("name_kana", &self.kana),
            ("email", &self.email),
            ("phone", &self.phone),
            ("first_visit", "true"),
            ("message", &self.message),
            ("consent", "true"),
        ]
    }

    /// The website's reservation form, as a browser posts it.
    fn reserve_form<'a>(&'a self, token: &'a str, start: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut fields = vec![("form_token", token), ("website", "")];
        fields.extend(self.booking_form(start));
        fields
    }

    /// The website's inquiry form.
    fn inquiry_form<'a>(&'a self, token: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("form_token", token),
            ("website", ""),
            ("name", &self.name),
            ("email", &self.email),
            ("phone", &self.phone),
            ("category", "treatment"),
            ("message", &self.message),
            ("consent", "true"),
        ]
    }
}

/// The hidden `form_token` of a form page.
async fn form_token(server: &Server, path: &str) -> String {
    let html = server.get(path).await.text().await.unwrap();
    let marker = "name=\"form_token\" value=\"";
    let at = html.find(marker).expect("a form token") + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}

async fn staff_token(database_url: &str) -> String {
    let settings = Settings::defaults().unwrap();
    let db = Db::connect(&settings.database, database_url).unwrap();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.connection().unwrap();
        clinic_booking::workflows::staff_tokens::create_token(&mut conn, "canary-desk", Utc::now())
            .unwrap()
    })
    .await
    .unwrap()
}

/// A server logging at `trace`, the SMTP sink it sends to, and the values
/// that must never reach its log.
struct Canary {
    server: Server,
    sink: SmtpSink,
    database: Arc<TestDatabase>,
    secrets: Vec<String>,
    date: NaiveDate,
}

impl Canary {
    async fn start(backend: Backend) -> Canary {
        let database = TestDatabase::create(backend);
        let sink = SmtpSink::start();
        let server = Server::start(&database.url, &sink.url()).await;
        Canary {
            server,
            sink,
            database,
            secrets: vec![METRICS_TOKEN.to_string()],
            date: open_day(4),
        }
    }

    /// A new patient whose every value is a secret.
    fn patient(&mut self, tag: &str) -> Patient {
        let patient = Patient::new(tag);
        self.secrets.extend(patient.secrets());
        patient
    }

    /// A token for the staff routes, made through the library (so the
    /// server never saw it before it is used).
    async fn staff_token(&mut self) -> String {
        let token = staff_token(&self.database.url).await;
        self.secrets.push(token.clone());
        token
    }

    fn at(&self, time: &str) -> String {
        local(self.date, time)
    }

    /// Asserts that the log shows each of `logged` (so the requests were
    /// logged at all) and none of the secrets, in any encoding.
    async fn assert_log_clean(&self, logged: &[&str]) {
        // Let the last request's and delivery's lines arrive.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let log = self.server.log();
        for expected in logged {
            assert!(log.contains(expected), "{expected:?} is not logged: {log}");
        }
        for secret in &self.secrets {
            let encoded = serde_urlencoded::to_string([("v", secret.as_str())]).unwrap();
            let escaped = serde_json::to_string(secret).unwrap();
            for form in [secret.as_str(), &encoded[2..], escaped.trim_matches('"')] {
                if let Some(at) = log.find(form) {
                    let from = log[..at].rfind('\n').map_or(0, |n| n + 1);
                    let to = log[at..].find('\n').map_or(log.len(), |n| at + n);
                    panic!("{form:?} is in the log: {}", &log[from..to]);
                }
            }
        }
    }
}

/// Public reads, then JSON bookings: created (twice with one
/// Idempotency-Key), the key reused with another body (422), invalid fields
/// (422), a full slot (409), a malformed body (400), a body too large
/// (413), a 405; then the patient's own API: view (query token, bearer,
/// wrong token), reschedule, cancel.
async fn json_bookings_and_the_patients_api_log_no_personal_data(backend: Backend) {
    let mut canary = Canary::start(backend).await;
    let server = &canary.server;
    let day = canary.date.to_string();
    for path in [
        "/healthz".to_string(),
        "/readyz".to_string(),
        "/api/v1/clinic".to_string(),
        format!("/api/v1/availability?from={day}&to={day}"),
        "/api/v1/openapi.json".to_string(),
        "/docs/".to_string(),
        "/".to_string(),
        "/privacy".to_string(),
        "/api/v1/articles".to_string(),
        format!("/api/v1/articles/{ARTICLE}"),
        format!("/articles/{ARTICLE}"),
        "/reserve".to_string(),
        "/inquiry".to_string(),
    ] {
        let status = server.get(&path).await.status();
        assert!(
            status.is_success() || status.is_redirection(),
            "{path}: {status}"
        );
    }
    let scraped = server
        .client
        .get(server.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert_eq!(server.get("/metrics").await.status(), 401);

    let alice = canary.patient("A");
    let bob = canary.patient("B");
    let server = &canary.server;
    let start = canary.at("10:00");
    let mut created = None;
    for _ in 0..2 {
        let response = server
            .client
            .post(server.url("/api/v1/bookings"))
            .header("Idempotency-Key", "canary-key-1")
            .json(&alice.booking(&start))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        created = Some(response.json::<Value>().await.unwrap());
    }
    let booking = created.unwrap();
    let reference = booking["reference"].as_str().unwrap().to_string();
    let token = manage_token(&booking);
    let reused = server
        .client
        .post(server.url("/api/v1/bookings"))
        .header("Idempotency-Key", "canary-key-1")
        .json(&bob.booking(&canary.at("11:00")))
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 422);
    let mut invalid = bob.booking(&start);
    invalid["email"] = json!(format!("{}@@", bob.email));
    invalid["phone"] = json!(format!("{}-99999", bob.phone));
    let response = server.post_json("/api/v1/bookings", &invalid).await;
    assert_eq!(response.status(), 422);
    let response = server
        .post_json("/api/v1/bookings", &bob.booking(&start))
        .await;
    assert_eq!(response.status(), 409);
    let response = server
        .client
        .post(server.url("/api/v1/bookings"))
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\", \"email\": ", bob.name))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let mut huge = bob.booking(&start);
    huge["message"] = json!(bob.message.repeat(5000));
    let response = server.post_json("/api/v1/bookings", &huge).await;
    assert_eq!(response.status(), 413);
    let response = server
        .client
        .delete(server.url("/api/v1/bookings"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);

    let path = format!("/api/v1/bookings/{reference}");
    assert_eq!(
        server.get(&format!("{path}?token={token}")).await.status(),
        200
    );
    let bearer = server
        .client
        .get(server.url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    let wrong = format!("{token}wrong");
    assert_eq!(
        server.get(&format!("{path}?token={wrong}")).await.status(),
        404
    );
    let moved = server
        .client
        .post(server.url(&format!("{path}/reschedule")))
        .bearer_auth(&token)
        .json(&json!({"start": canary.at("14:00")}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    let cancelled = server
        .client
        .post(server.url(&format!("{path}/cancel?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);

    canary.secrets.extend([token, wrong]);
    canary
        .assert_log_clean(&["\"route\":\"/api/v1/bookings/{reference}\"", &reference])
        .await;
}

/// A form-encoded booking through the JSON API and its manage pages
/// (view, reschedule, cancel); the website's reservation form (a booking,
/// and a form with errors shown again) and inquiry form; JSON inquiries
/// (created, invalid).
async fn forms_manage_pages_and_inquiries_log_no_personal_data(backend: Backend) {
    let mut canary = Canary::start(backend).await;
    let carol = canary.patient("C");
    let dave = canary.patient("D");
    let erin = canary.patient("E");
    let server = &canary.server;

    let carol_start = canary.at("12:00");
    let response = server
        .client
        .post(server.url("/api/v1/bookings"))
        .form(&carol.booking_form(&carol_start))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let carol_booking: Value = response.json().await.unwrap();
    let carol_ref = carol_booking["reference"].as_str().unwrap().to_string();
    let carol_token = manage_token(&carol_booking);
    let manage = format!("/manage/{carol_ref}");
    let exchange = server.get(&format!("{manage}?token={carol_token}")).await;
    assert_eq!(exchange.status(), 303);
    let mut cookies = vec![manage_cookie(&exchange)];
    assert_eq!(
        server.get_with_cookie(&manage, &cookies[0]).await.status(),
        200
    );
    let response = server
        .post_form(
            &format!("{manage}/reschedule"),
            &[("token", &carol_token), ("start", &canary.at("16:00"))],
        )
        .await;
    assert_eq!(response.status(), 303);
    let response = server
        .post_form(&format!("{manage}/cancel"), &[("token", &carol_token)])
        .await;
    assert_eq!(response.status(), 303);

    let form = form_token(server, &format!("/reserve?source={ARTICLE}")).await;
    let erin_start = canary.at("15:00");
    let response = server
        .post_form("/reserve", &erin.reserve_form(&form, &erin_start))
        .await;
    assert_eq!(response.status(), 303);
    let thanks = response.headers()["location"].to_str().unwrap().to_string();
    cookies.push(manage_cookie(&response));
    assert_eq!(
        server.get_with_cookie(&thanks, &cookies[1]).await.status(),
        200
    );
    let form = form_token(server, "/reserve").await;
    let mut wrong_fields = erin.reserve_form(&form, &erin_start);
    let bad_email = format!("{}@", erin.email);
    wrong_fields.retain(|(name, _)| *name != "email");
    wrong_fields.push(("email", &bad_email));
    let response = server.post_form("/reserve", &wrong_fields).await;
    assert!(response.status().is_client_error() || response.status().is_success());
    let form = form_token(server, "/inquiry").await;
    let response = server
        .post_form("/inquiry", &erin.inquiry_form(&form))
        .await;
    assert!(!response.status().is_server_error());

    let response = server.post_json("/api/v1/inquiries", &dave.inquiry()).await;
    assert_eq!(response.status(), 201);
    let inquiry: Value = response.json().await.unwrap();
    let inquiry_ref = inquiry["reference"].as_str().unwrap().to_string();
    let mut bad = dave.inquiry();
    bad["consent"] = json!(false);
    bad["email"] = json!(dave.name);
    let response = server.post_json("/api/v1/inquiries", &bad).await;
    assert_eq!(response.status(), 422);

    canary.secrets.push(carol_token);
    canary.secrets.extend(
        cookies
            .iter()
            .map(|cookie| cookie["manage=".len()..].to_string()),
    );
    canary
        .assert_log_clean(&[
            "\"route\":\"/manage/{reference}\"",
            &carol_ref,
            &inquiry_ref,
        ])
        .await;
}

/// Staff routes: list, view, change (with a note that names the patient),
/// the calendar feed with the token in the query, a wrong token, the
/// audit; then erasure on request of a booking and an inquiry.
async fn staff_routes_and_erasure_log_no_personal_data_or_token(backend: Backend) {
    use reqwest::Method;
    let mut canary = Canary::start(backend).await;
    let staff = canary.staff_token().await;
    let frank = canary.patient("F");
    let dave = canary.patient("D");
    let server = &canary.server;
    let day = canary.date.to_string();

    let frank_booking: Value = server
        .post_json("/api/v1/bookings", &frank.booking(&canary.at("17:00")))
        .await
        .json()
        .await
        .unwrap();
    let frank_token = manage_token(&frank_booking);
    let frank_ref = frank_booking["reference"].as_str().unwrap().to_string();
    let response = server.post_json("/api/v1/inquiries", &dave.inquiry()).await;
    assert_eq!(response.status(), 201);
    let inquiry: Value = response.json().await.unwrap();
    let inquiry_ref = inquiry["reference"].as_str().unwrap().to_string();

    for path in [
        format!("/api/v1/staff/bookings?from={day}&to={day}"),
        format!("/api/v1/staff/bookings/{frank_ref}"),
        "/api/v1/staff/audit".to_string(),
    ] {
        let status = server
            .staff(Method::GET, &staff, &path, None)
            .await
            .status();
        assert_eq!(status, 200, "{path}");
    }
    let note = json!({"staff_note": format!("{} {}", frank.name, frank.phone)});
    let status = server
        .staff(
            Method::PATCH,
            &staff,
            &format!("/api/v1/staff/bookings/{frank_ref}"),
            Some(note),
        )
        .await
        .status();
    assert_eq!(status, 200);
    let feed = server
        .get(&format!("/api/v1/staff/calendar.ics?token={staff}"))
        .await;
    assert_eq!(feed.status(), 200);
    let wrong_staff = format!("{staff}x");
    let status = server
        .staff(Method::GET, &wrong_staff, "/api/v1/staff/bookings", None)
        .await
        .status();
    assert_eq!(status, 401);

    for path in [
        format!("/api/v1/staff/bookings/{frank_ref}/personal-data"),
        format!("/api/v1/staff/inquiries/{inquiry_ref}/personal-data"),
    ] {
        let status = server
            .staff(Method::DELETE, &staff, &path, None)
            .await
            .status();
        assert!(status.is_success(), "{path}: {status}");
    }

    canary.secrets.extend([frank_token, wrong_staff]);
    canary
        .assert_log_clean(&[
            "\"route\":\"/api/v1/staff/bookings/{reference}\"",
            &frank_ref,
            &inquiry_ref,
        ])
        .await;
}

/// Mail: a booking's confirmation, its reschedule and cancellation, and an
/// inquiry's acknowledgement delivered through the sink; then one refused
/// (550) so the failure path logs too.
async fn mail_delivery_and_refusal_log_no_personal_data(backend: Backend) {
    let mut canary = Canary::start(backend).await;
    let frank = canary.patient("F");
    let dave = canary.patient("D");
    let grace = canary.patient("G");
    let server = &canary.server;
    let sink = &canary.sink;
    let wait = Duration::from_secs(15);

    let booking: Value = server
        .post_json("/api/v1/bookings", &frank.booking(&canary.at("17:00")))
        .await
        .json()
        .await
        .unwrap();
    let token = manage_token(&booking);
    let reference = booking["reference"].as_str().unwrap().to_string();
    let path = format!("/api/v1/bookings/{reference}");
    let moved = server
        .client
        .post(server.url(&format!("{path}/reschedule")))
        .bearer_auth(&token)
        .json(&json!({"start": canary.at("14:00")}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    let cancelled = server
        .client
        .post(server.url(&format!("{path}/cancel?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    let response = server.post_json("/api/v1/inquiries", &dave.inquiry()).await;
    assert_eq!(response.status(), 201);
    let delivered = sink.wait_for(3, wait, |m| m.is_to(&frank.email)).await;
    assert_eq!(delivered.len(), 3, "confirmed, moved, cancelled");
    let delivered = sink.wait_for(1, wait, |m| m.is_to(&dave.email)).await;
    assert!(!delivered.is_empty(), "the inquiry was acknowledged");

    sink.reject_with_550();
    let response = server
        .post_json("/api/v1/inquiries", &grace.inquiry())
        .await;
    assert_eq!(response.status(), 201);
    let refused: Value = response.json().await.unwrap();
    let refused_ref = refused["reference"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sink.rejected() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sink.rejected() > 0, "a delivery was refused");

    canary.secrets.push(token);
    canary.assert_log_clean(&[&reference, &refused_ref]).await;
}

/// The abuse defences: a burst of bookings by one patient and one client,
/// a booking over the cap, a cross-site POST; staff are told by reference.
async fn bursts_the_cap_and_cross_site_posts_log_no_personal_data(backend: Backend) {
    let mut canary = Canary::start(backend).await;
    let alice = canary.patient("C");
    let server = &canary.server;
    let mut references = Vec::new();
    for time in ["10:00", "10:30", "11:00"] {
        let response = server
            .post_json("/api/v1/bookings", &alice.booking(&canary.at(time)))
            .await;
        assert_eq!(response.status(), 201);
        let booking: Value = response.json().await.unwrap();
        references.push(booking["reference"].as_str().unwrap().to_string());
    }
    let over = server
        .post_json("/api/v1/bookings", &alice.booking(&canary.at("11:30")))
        .await;
    assert_eq!(over.status(), 409);
    let cross_site = server
        .client
        .post(server.url("/api/v1/inquiries"))
        .header("origin", "https://evil.example")
        .json(&alice.inquiry())
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    canary
        .assert_log_clean(&[
            "booking burst: one patient booked repeatedly",
            "booking burst: one client address booked repeatedly",
            &references[2],
            "booking refused: the patient holds too many active bookings",
            &references.join(","),
            "cross-site POST refused",
        ])
        .await;
}

backend_tests!(
    bursts_the_cap_and_cross_site_posts_log_no_personal_data,
    json_bookings_and_the_patients_api_log_no_personal_data,
    forms_manage_pages_and_inquiries_log_no_personal_data,
    staff_routes_and_erasure_log_no_personal_data_or_token,
    mail_delivery_and_refusal_log_no_personal_data,
);
