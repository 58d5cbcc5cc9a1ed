//! Spawns the real application on port 0 with a fresh database (a temporary
//! SQLite file, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is
//! set) and talks to it over HTTP.

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use chrono_tz::Asia::Tokyo;
use clinic_booking::configuration::Settings;
use clinic_booking::startup::Application;
use diesel::{Connection, PgConnection, RunQueryDsl};
use rand::Rng;
use serde_json::{json, Value};
use smtp_sink::SmtpSink;

/// Runs each named test once on SQLite and once on PostgreSQL, and each
/// test named after `postgres_only:` (what SQLite cannot do: several
/// instances on one database, `SKIP LOCKED`) on PostgreSQL alone. The
/// PostgreSQL ones pass as skipped when `TEST_DATABASE_URL` is not set,
/// and fail when it is set but the server cannot be reached.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)? $(; postgres_only: $($postgres_only:ident),* $(,)?)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::Backend::Postgres.available() {
                        super::$name($crate::helpers::Backend::Postgres).await
                    }
                }
            )*
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $postgres_only() {
                    if $crate::helpers::Backend::Postgres.available() {
                        super::$postgres_only().await
                    }
                }
            )*)?
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Whether tests run on this backend. PostgreSQL: when
    /// `TEST_DATABASE_URL` is set at all (otherwise the test says
    /// "skipped"). Set, even to nothing (a CI secret that did not expand),
    /// it must lead to a server: `TestDatabase::create` fails the test
    /// rather than letting it pass without testing PostgreSQL.
    pub fn available(self) -> bool {
        match self {
            Backend::Sqlite => true,
            Backend::Postgres => {
                let set = std::env::var_os("TEST_DATABASE_URL").is_some();
                if !set {
                    eprintln!("skipped: TEST_DATABASE_URL is not set");
                }
                set
            }
        }
    }
}

/// A database that exists for one test and is dropped after it.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub fn create(backend: Backend) -> Arc<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("clinic.db").display());
                Arc::new(TestDatabase {
                    url,
                    postgres: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let server = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
                let admin_url = without_tls(&server, None);
                let name = format!("clinic_test_{:016x}", rand::rng().random::<u64>());
                let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
                    panic!(
                        "TEST_DATABASE_URL is set but PostgreSQL cannot be reached ({e}); \
                         unset it to skip the PostgreSQL tests"
                    )
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let url = without_tls(&server, Some(&name));
                Arc::new(TestDatabase {
                    url,
                    postgres: Some((admin_url, name)),
                    _dir: None,
                })
            }
        }
    }
}

/// `server` (a `TEST_DATABASE_URL`), for `database` instead of its own when
/// given, and without TLS unless it asks for TLS itself. The tests' server
/// is on loopback; and libpq's TLS is OpenSSL, which tears itself down at
/// exit while an app that a test left running may still hold a connection
/// in another thread: the test binary once crashed as it exited, after
/// every test had passed (a segfault in libcrypto).
fn without_tls(server: &str, database: Option<&str>) -> String {
    let (path, query) = server.split_once('?').unwrap_or((server, ""));
    let path = match database {
        Some(database) => {
            let (base, _) = path
                .rsplit_once('/')
                .expect("TEST_DATABASE_URL with a database name");
            format!("{base}/{database}")
        }
        None => path.to_string(),
    };
    let query = if query.contains("sslmode=") {
        query.to_string()
    } else if query.is_empty() {
        "sslmode=disable".to_string()
    } else {
        format!("{query}&sslmode=disable")
    };
    format!("{path}?{query}")
}

impl TestDatabase {
    /// A fresh database with the schema, and the service's handle on it
    /// (for the storage functions themselves, with no service running);
    /// the first value keeps the database alive.
    pub fn migrated(backend: Backend) -> (Arc<TestDatabase>, clinic_booking::db::Db) {
        let test_db = TestDatabase::create(backend);
        let db =
            clinic_booking::db::Db::connect(&Settings::defaults().unwrap().database, &test_db.url)
                .unwrap();
        db.run_migrations().unwrap();
        (test_db, db)
    }

    /// An existing SQLite file (e.g. a restored backup).
    pub fn sqlite_at(path: std::path::PathBuf) -> Arc<TestDatabase> {
        Arc::new(TestDatabase {
            url: format!("sqlite://{}", path.display()),
            postgres: None,
            _dir: None,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// The `metrics.token` of every test app (tests of the default, where
/// `/metrics` is not served, clear it).
pub const METRICS_TOKEN: &str = "test-metrics-token";

pub struct TestApp {
    pub address: String,
    /// The port of `metrics.bind`, when the test set one.
    pub metrics_port: Option<u16>,
    pub client: reqwest::Client,
    /// Kept so the database outlives the app.
    _db: Arc<TestDatabase>,
    handle: actix_web::dev::ServerHandle,
    /// The running service (HTTP, then its workers), until `stop` waits
    /// for it.
    running: std::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
    /// The SMTP server this app sends to (unless the test pointed
    /// `mail.smtp_url` elsewhere).
    pub mail: Arc<SmtpSink>,
    /// The running instance's state (its clock, for tests that move time).
    pub state: actix_web::web::Data<clinic_booking::state::AppState>,
}

/// The server key of PostgreSQL test databases (instances on one database
/// share it, as in production); SQLite ones make theirs beside the file.
pub const TEST_KEY: &str = "test-server-key-of-at-least-32-characters";

/// The settings every test starts from: the built-in defaults, a free port.
pub fn test_settings(db: &TestDatabase) -> Settings {
    let mut settings = Settings::defaults().expect("default settings");
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.public_url = String::new();
    settings.server.workers = 2;
    settings.server.shutdown_grace_seconds = 1;
    settings.database.url = db.url.clone().into();
    settings.database.pool_size = 4;
    if db.url.starts_with("postgres") {
        settings.security.server_key = TEST_KEY.to_string().into();
    }
    // Tests fire many requests from one address; the rate-limit tests turn
    // the limits back on.
    settings.rate_limit.enabled = false;
    // Tests book many times for one patient (booking_body's address); the
    // cap's own tests (booking_limits.rs) turn it back on.
    settings.booking.max_active_per_contact = 0;
    // Quick mail retries, and never a file in the repository.
    settings.mail.file_dir = std::env::temp_dir()
        .join("clinic-booking-test-mail")
        .display()
        .to_string();
    settings.mail.poll_interval_ms = 20;
    settings.mail.retry_initial_seconds = 0.05;
    settings.mail.retry_max_seconds = 0.4;
    settings.mail.max_attempts_permanent = 3;
    settings.mail.smtp_timeout_seconds = 5;
    settings.metrics.token = METRICS_TOKEN.to_string().into();
    settings
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_on(TestDatabase::create(backend), configure).await
}

/// Starts an instance on an existing test database (a second instance, or
/// the same database after a restart).
pub async fn spawn_on(db: Arc<TestDatabase>, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(&db);
    let mail = Arc::new(SmtpSink::start());
    settings.mail.smtp_url = mail.url();
    configure(&mut settings);
    let app = Application::build(settings.clone())
        .await
        .expect("application builds");
    let port = app.port();
    let metrics_port = app.metrics_port();
    let handle = app.handle();
    let state = app.state();
    let running = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        metrics_port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client"),
        _db: db,
        handle,
        running: std::sync::Mutex::new(Some(running)),
        mail,
        state,
    }
}

impl TestApp {
    /// The database this app runs on, for checks through the library.
    pub fn database_url(&self) -> String {
        self._db.url.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Stops the server, letting in-flight requests finish, and waits for
    /// its workers (mail, retention, webhooks, waiting list) to stop too.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
        let running = self.running.lock().unwrap().take();
        if let Some(running) = running {
            running
                .await
                .expect("the service ran to its end")
                .expect("the service stopped cleanly");
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// `/metrics` as a scraper reads it (with the test token), asserting
    /// it is served.
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "GET /metrics");
        response.text().await.expect("metrics text")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_booking(&self, body: &Value) -> reqwest::Response {
        self.post_json("/api/v1/bookings", body).await
    }

    /// Books `start`, asserting success; returns the response body.
    pub async fn book(&self, start: &str) -> Value {
        let response = self.post_booking(&booking_body(start)).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json body");
        assert_eq!(status, 201, "booking {start} failed: {body}");
        body
    }

    pub async fn availability(&self, query: &str) -> reqwest::Response {
        self.get(&format!("/api/v1/availability?{query}")).await
    }

    /// Whether `start` (RFC 3339 or local) is offered as available.
    pub async fn slot_available(&self, date: NaiveDate, start: &str) -> bool {
        let body: Value = self
            .availability(&format!("from={date}&to={date}"))
            .await
            .json()
            .await
            .expect("json");
        body["days"][0]["slots"]
            .as_array()
            .expect("slots")
            .iter()
            .find(|slot| slot["start"].as_str().is_some_and(|s| s.starts_with(start)))
            .map(|slot| slot["available"].as_bool().expect("available"))
            .unwrap_or(false)
    }
}

/// The manage token inside a booking's `manage_url`.
pub fn manage_token(booking: &Value) -> String {
    let url = booking["manage_url"].as_str().expect("manage_url");
    url.split("token=")
        .nth(1)
        .expect("token in manage_url")
        .to_string()
}

/// The `manage` cookie `response` sets, as `manage=VALUE` for a `Cookie`
/// header (the first one, when it sets several).
pub fn manage_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("manage="))
        .and_then(|value| value.split(';').next())
        .expect("a manage cookie")
        .to_string()
}

impl TestApp {
    /// GET `path` with `Cookie: cookie`.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("request")
    }

    /// GET `path` as a browser sent on from another site (a webmail page)
    /// does: `Sec-Fetch-Site: cross-site`, no cookie.
    pub async fn get_from_another_site(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .expect("request")
    }

    /// Opens a manage link (`/manage/REF?token=...`) the way a browser does:
    /// the exchange, then the clean page with the cookie. Returns the clean
    /// path and the cookie.
    pub async fn open_manage_link(&self, reference: &str, token: &str) -> (String, String) {
        let exchange = self
            .get(&format!("/manage/{reference}?token={token}"))
            .await;
        assert_eq!(exchange.status(), 303, "the link is exchanged");
        let location = exchange.headers()["location"].to_str().unwrap().to_string();
        (location, manage_cookie(&exchange))
    }
}

/// A valid booking request for `start`.
pub fn booking_body(start: &str) -> Value {
    json!({
        "name": "予約 太郎",
        "name_kana": "ヨヤク タロウ",
        "email": "taro@example.jp",
        "phone": "090-1234-5678",
        "start": start,
        "type": "consultation",
        "first_visit": true,
        "message": "右膝が痛みます。",
        "consent": true,
    })
}

/// The clinic's date today.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&Tokyo).date_naive()
}

/// The `days`-th open day (not Sunday) after today, by default rules
/// (national holidays are open unless configured otherwise): at least
/// `days` days ahead, and a different day for each `days` (the Sunday
/// after a Friday must not make `open_day(2)` and `open_day(3)` the same
/// Monday).
pub fn open_day(days: i64) -> NaiveDate {
    let mut date = today();
    let mut open = 0;
    while open < days {
        date += Duration::days(1);
        if date.weekday() != Weekday::Sun {
            open += 1;
        }
    }
    date
}

/// The next Sunday at least `days` from today.
pub fn sunday(days: i64) -> NaiveDate {
    let mut date = today() + Duration::days(days);
    while date.weekday() != Weekday::Sun {
        date += Duration::days(1);
    }
    date
}

/// `date` at `time` (HH:MM) as the local value an HTML form sends.
pub fn local(date: NaiveDate, time: &str) -> String {
    format!("{date}T{time}")
}

/// The error codes of a problem response, as (field, code) pairs.
pub fn error_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or_default().to_string(),
                        e["code"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts a problem+json response with `status` and one error `code` on `field`.
pub async fn assert_problem(
    response: reqwest::Response,
    status: u16,
    field: &str,
    code: &str,
) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("problem body");
    assert_eq!(problem["status"], status);
    assert!(
        error_codes(&problem).contains(&(field.to_string(), code.to_string())),
        "expected {field}/{code} in {problem}"
    );
    problem
}
