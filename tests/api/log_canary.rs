//! The log canary: the real binary, logging at `trace`, serves every kind of
//! request (public JSON, forms, manage pages, staff routes, mail delivery
//! and its failures, 4xx answers) carrying unique canary names, emails,
//! phones, messages and tokens; none of them may appear in what it logs.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use clinic_booking::configuration::Settings;
use clinic_booking::db::Db;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{
    local, manage_cookie, manage_token, open_day, Backend, TestDatabase, TEST_KEY,
};
use crate::smtp_sink::SmtpSink;

const ARTICLE: &str = "knee-pain-and-cartilage-regeneration";

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
            .env("CLINIC__MAIL__SMTP_URL", smtp_url)
            .env("CLINIC__MAIL__POLL_INTERVAL_MS", "20")
            .env("CLINIC__MAIL__RETRY_INITIAL_SECONDS", "0.05")
            .env("CLINIC__MAIL__RETRY_MAX_SECONDS", "0.2")
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
        clinic_booking::staff::create_token(&mut conn, "canary-desk", Utc::now()).unwrap()
    })
    .await
    .unwrap()
}

async fn no_personal_data_or_token_reaches_the_log(backend: Backend) {
    let database = TestDatabase::create(backend);
    let sink = SmtpSink::start().await;
    let server = Server::start(&database.url, &sink.url()).await;
    let staff = staff_token(&database.url).await;
    let mut secrets = vec![staff.clone()];
    let date = open_day(4);
    let day = date.to_string();

    // Public reads.
    for path in [
        "/healthz".to_string(),
        "/readyz".to_string(),
        "/metrics".to_string(),
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

    // JSON bookings: created (twice with one Idempotency-Key), the key
    // reused with another body (422), invalid fields (422), a full slot
    // (409), a malformed body (400), a body too large (413), a 405.
    let alice = Patient::new("A");
    secrets.extend(alice.secrets());
    let start = local(date, "10:00");
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
    secrets.push(token.clone());
    let bob = Patient::new("B");
    secrets.extend(bob.secrets());
    let reused = server
        .client
        .post(server.url("/api/v1/bookings"))
        .header("Idempotency-Key", "canary-key-1")
        .json(&bob.booking(&local(date, "11:00")))
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
    huge["message"] = json!(bob.message.repeat(1000));
    let response = server.post_json("/api/v1/bookings", &huge).await;
    assert_eq!(response.status(), 413);
    let response = server
        .client
        .delete(server.url("/api/v1/bookings"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);

    // A form-encoded booking through the JSON API.
    let carol = Patient::new("C");
    secrets.extend(carol.secrets());
    let carol_start = local(date, "12:00");
    let response = server
        .client
        .post(server.url("/api/v1/bookings"))
        .form(&carol.booking_form(&carol_start))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let carol_booking: Value = response.json().await.unwrap();
    secrets.push(manage_token(&carol_booking));

    // The patient's own API: view (query token, bearer, wrong token),
    // reschedule, cancel.
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
    secrets.push(wrong.clone());
    assert_eq!(
        server.get(&format!("{path}?token={wrong}")).await.status(),
        404
    );
    let moved = server
        .client
        .post(server.url(&format!("{path}/reschedule")))
        .bearer_auth(&token)
        .json(&json!({"start": local(date, "14:00")}))
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

    // Inquiries: JSON (created, invalid).
    let dave = Patient::new("D");
    secrets.extend(dave.secrets());
    let response = server.post_json("/api/v1/inquiries", &dave.inquiry()).await;
    assert_eq!(response.status(), 201);
    let inquiry: Value = response.json().await.unwrap();
    let inquiry_ref = inquiry["reference"].as_str().unwrap().to_string();
    let mut bad = dave.inquiry();
    bad["consent"] = json!(false);
    bad["email"] = json!(dave.name);
    let response = server.post_json("/api/v1/inquiries", &bad).await;
    assert_eq!(response.status(), 422);

    // The HTML forms: a booking, a form with errors shown again, an
    // inquiry, and the manage pages.
    let erin = Patient::new("E");
    secrets.extend(erin.secrets());
    let form = form_token(&server, &format!("/reserve?source={ARTICLE}")).await;
    let erin_start = local(date, "15:00");
    let response = server
        .post_form("/reserve", &erin.reserve_form(&form, &erin_start))
        .await;
    assert_eq!(response.status(), 303);
    let thanks = response.headers()["location"].to_str().unwrap().to_string();
    let cookie = manage_cookie(&response);
    secrets.push(cookie["manage=".len()..].to_string());
    assert_eq!(server.get_with_cookie(&thanks, &cookie).await.status(), 200);
    let form = form_token(&server, "/reserve").await;
    let mut wrong_fields = erin.reserve_form(&form, &erin_start);
    let bad_email = format!("{}@", erin.email);
    wrong_fields.retain(|(name, _)| *name != "email");
    wrong_fields.push(("email", &bad_email));
    let response = server.post_form("/reserve", &wrong_fields).await;
    assert!(response.status().is_client_error() || response.status().is_success());
    let form = form_token(&server, "/inquiry").await;
    let response = server
        .post_form("/inquiry", &erin.inquiry_form(&form))
        .await;
    assert!(!response.status().is_server_error());

    let manage = format!("/manage/{}", carol_booking["reference"].as_str().unwrap());
    let carol_token = manage_token(&carol_booking);
    let exchange = server.get(&format!("{manage}?token={carol_token}")).await;
    assert_eq!(exchange.status(), 303);
    let cookie = manage_cookie(&exchange);
    secrets.push(cookie["manage=".len()..].to_string());
    assert_eq!(server.get_with_cookie(&manage, &cookie).await.status(), 200);
    let response = server
        .post_form(
            &format!("{manage}/reschedule"),
            &[("token", &carol_token), ("start", &local(date, "16:00"))],
        )
        .await;
    assert_eq!(response.status(), 303);
    let response = server
        .post_form(&format!("{manage}/cancel"), &[("token", &carol_token)])
        .await;
    assert_eq!(response.status(), 303);

    // Staff routes: list, view, change (with a note that names the
    // patient), calendar feed with the token in the query, audit, erasure.
    let frank = Patient::new("F");
    secrets.extend(frank.secrets());
    let frank_booking: Value = server
        .post_json("/api/v1/bookings", &frank.booking(&local(date, "17:00")))
        .await
        .json()
        .await
        .unwrap();
    secrets.push(manage_token(&frank_booking));
    let frank_ref = frank_booking["reference"].as_str().unwrap();
    use reqwest::Method;
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
    secrets.push(wrong_staff.clone());
    let status = server
        .staff(Method::GET, &wrong_staff, "/api/v1/staff/bookings", None)
        .await
        .status();
    assert_eq!(status, 401);

    // Mail: every patient message delivered through the sink, then one
    // refused (550) so the failure path logs too.
    let delivered = sink
        .wait_for(1, Duration::from_secs(15), |m| m.is_to(&dave.email))
        .await;
    assert!(!delivered.is_empty(), "the inquiry was acknowledged");
    sink.wait_for(1, Duration::from_secs(15), |m| m.is_to(&frank.email))
        .await;
    sink.reject_with_550();
    let grace = Patient::new("G");
    secrets.extend(grace.secrets());
    let response = server
        .post_json("/api/v1/inquiries", &grace.inquiry())
        .await;
    assert_eq!(response.status(), 201);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sink.rejected() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sink.rejected() > 0, "a delivery was refused");

    // Erasure on request, of a booking and an inquiry.
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
    tokio::time::sleep(Duration::from_millis(300)).await;

    let log = server.log();
    assert!(
        log.contains("\"route\":\"/api/v1/bookings/{reference}\""),
        "requests are logged: {log}"
    );
    assert!(log.contains(&reference), "the reference is logged instead");
    for secret in &secrets {
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

backend_tests!(no_personal_data_or_token_reaches_the_log);
