//! Real-browser tests: headless Chromium driven over WebDriver, on a
//! phone-sized window, with JavaScript switched off and on. A patient reads
//! the article, follows its reservation link, picks a slot, sends an invalid
//! form (and sees the messages and the kept values), books, and cancels on
//! the manage page, then sends the inquiry form (invalid, then valid).
//! Screenshots go to `target/browser-screenshots/`.
//!
//! The staff console's tests (a receptionist's morning) are in `console`;
//! booking a named doctor or 指名なし is in `practitioners`.
//!
//! Needs `chromedriver` (Debian `chromium` + `chromium-driver`) on PATH;
//! without it the tests print "skipped" and pass.

mod console;
mod practitioners;
mod questionnaire;
mod waitlist;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clinic_booking::configuration::Settings;
use clinic_booking::startup::Application;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Map};

const SLUG: &str = "knee-pain-and-cartilage-regeneration";
const PHONE: (u32, u32) = (390, 844);

fn chromedriver_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|candidate| candidate.is_file())
}

/// The chromedriver process, stopped when the test ends (even on panic).
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver on a port it picks itself (`--port=0`) and reads
    /// that port from its output. A port picked here and handed over could
    /// be taken meanwhile by another test's server, whose answers the
    /// browser session would then get.
    fn start(binary: &Path) -> Driver {
        let mut child = Command::new(binary)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let output = child.stdout.take().expect("chromedriver's output");
        let (told, port) = mpsc::channel();
        // Reads until chromedriver exits, so that its output never fills
        // the pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if let Some(port) = listening_port(&line) {
                    let _ = told.send(port);
                }
            }
        });
        let mut driver = Driver {
            child,
            url: String::new(),
        };
        // Should it never tell, the panic drops `driver`, which ends it.
        let port = port
            .recv_timeout(Duration::from_secs(20))
            .expect("chromedriver tells the port it listens on");
        driver.url = format!("http://127.0.0.1:{port}");
        driver
    }
}

/// The port in chromedriver's "ChromeDriver was started successfully on
/// port 46305." line.
fn listening_port(line: &str) -> Option<u16> {
    line.split_once("started successfully on port ")?
        .1
        .trim_end_matches('.')
        .parse()
        .ok()
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real application on a free port with a fresh SQLite database.
async fn start_app(dir: &Path) -> String {
    start_app_with(dir, |_| {}).await
}

/// As `start_app`, with `configure` applied to the settings.
async fn start_app_with(dir: &Path, configure: impl FnOnce(&mut Settings)) -> String {
    let mut settings = Settings::defaults().expect("default settings");
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.public_url = String::new();
    settings.server.workers = 2;
    settings.server.shutdown_grace_seconds = 1;
    settings.database.url = format!("sqlite://{}", dir.join("clinic.db").display()).into();
    settings.forms.min_fill_seconds = 0;
    // The patient's walk moves the booking to the first free slot, often
    // today, and then cancels it: the change deadline (its own API tests)
    // would hide the cancel form.
    settings.schedule.patient_change_deadline_hours = 0;
    configure(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

async fn browser(driver: &Driver, javascript: bool, profile: &Path) -> Client {
    sized_browser(driver, javascript, profile, PHONE).await
}

/// A browser with a window of `size` (width, height).
async fn sized_browser(
    driver: &Driver,
    javascript: bool,
    profile: &Path,
    size: (u32, u32),
) -> Client {
    let mut args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        format!("--window-size={},{}", size.0, size.1),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.push("--lang=ja".into());
    let mut options = json!({
        "args": args,
        "prefs": {
            "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 },
        },
    });
    if Path::new("/usr/bin/chromium").is_file() {
        options["binary"] = "/usr/bin/chromium".into();
    }
    let mut capabilities = Map::new();
    capabilities.insert("browserName".into(), "chrome".into());
    capabilities.insert("goog:chromeOptions".into(), options);
    let client = ClientBuilder::rustls()
        .expect("rustls connector")
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session");
    client
        .set_window_size(size.0, size.1)
        .await
        .expect("window size");
    client
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

async fn value_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default()
}

async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Clicks `css` and waits until the browser shows the next page (its old
/// document is gone), so nothing is read from the page being left.
async fn navigate_by(client: &Client, css: &str) {
    let old = client.find(Locator::Css("html")).await.expect("html");
    click(client, css).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while old.tag_name().await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "no new page after clicking {css}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let field = client.find(Locator::Css(css)).await.expect(css);
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

/// A booking made through the API two weeks ahead: its reference and its
/// manage link (as the confirmation mail carries it).
async fn booked_by_api(address: &str) -> (String, String) {
    use chrono::Datelike;
    let mut day = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive()
        + chrono::Duration::days(14);
    if day.weekday() == chrono::Weekday::Sun {
        day += chrono::Duration::days(1);
    }
    let booking: serde_json::Value = reqwest::Client::new()
        .post(format!("{address}/api/v1/bookings"))
        .json(&json!({
            "name": "山田 花子", "email": "hanako@example.jp", "phone": "090-1234-5678",
            "start": format!("{day}T12:00"), "consent": true,
        }))
        .send()
        .await
        .expect("booking")
        .json()
        .await
        .expect("json");
    (
        booking["reference"]
            .as_str()
            .expect("reference")
            .to_string(),
        booking["manage_url"]
            .as_str()
            .expect("manage_url")
            .to_string(),
    )
}

/// The whole patient journey in one browser.
async fn journey(javascript: bool) {
    let Some(chromedriver) = chromedriver_path() else {
        eprintln!("skipped: chromedriver is not on PATH");
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mode = if javascript { "js-on" } else { "js-off" };
    let dir = tempfile::tempdir().expect("temp dir");
    let address = start_app(dir.path()).await;
    let driver = Driver::start(&chromedriver);
    let client = browser(&driver, javascript, &dir.path().join("profile")).await;
    // The article, and its link to the reservation form.
    client
        .goto(&format!("{address}/articles/{SLUG}"))
        .await
        .expect("open article");
    assert_eq!(
        text_of(&client, "h1").await,
        "痛みが軽くなる仕組みと軟骨再生の可能性"
    );
    assert!(text_of(&client, ".references").await.contains("Hunter DJ"));
    // site.js marks the page; WebDriver's own scripts run either way, so
    // this is how to tell that the page's JavaScript really was off or on.
    let html_class = client
        .find(Locator::Css("html"))
        .await
        .expect("html")
        .attr("class")
        .await
        .expect("class");
    assert_eq!(
        html_class.as_deref() == Some("js"),
        javascript,
        "JavaScript switched as asked"
    );
    screenshot(&client, &format!("{mode}-1-article")).await;
    navigate_by(&client, ".cta a[href^='/reserve']").await;
    text_of(&client, "form.booking-form").await;
    let url = client.current_url().await.expect("url");
    assert_eq!(url.path(), "/reserve");
    assert!(url.as_str().contains(&format!("source={SLUG}")));

    // Next week's slots, then the first free one.
    navigate_by(&client, "a[rel='next']").await;
    text_of(&client, "a[rel='prev']").await;
    let first_slot = client
        .find(Locator::Css(".day .slot-grid input[name='start']"))
        .await
        .expect("a free slot");
    let start = first_slot
        .attr("value")
        .await
        .expect("value")
        .expect("start");
    let id = first_slot.attr("id").await.expect("id").expect("id");
    click(&client, &format!("label[for='{id}']")).await;
    screenshot(&client, &format!("{mode}-2-slots")).await;

    // An invalid form: messages beside the fields, values kept.
    type_into(&client, "#f-name", "山田 <b>花子</b>").await;
    type_into(&client, "#f-email", "not-an-email").await;
    type_into(&client, "#f-phone", "090-1234-5678").await;
    type_into(&client, "#f-message", "右膝が痛みます。").await;
    click(&client, "label[for='f-first_visit-yes']").await;
    navigate_by(&client, "form.booking-form button[type='submit']").await;
    let summary = text_of(&client, ".error-summary").await;
    assert!(
        summary.contains("メールアドレスの形式が正しくありません。"),
        "{summary}"
    );
    assert!(text_of(&client, "#consent-error").await.contains("同意"));
    assert_eq!(
        client
            .find(Locator::Css("#f-email"))
            .await
            .expect("email")
            .attr("aria-describedby")
            .await
            .expect("attr")
            .as_deref(),
        Some("email-error")
    );
    assert_eq!(value_of(&client, "#f-email").await, "not-an-email");
    assert_eq!(value_of(&client, "#f-name").await, "山田 <b>花子</b>");
    assert_eq!(
        value_of(&client, "input[name='start']:checked").await,
        start
    );
    assert!(client
        .find(Locator::Css("#f-first_visit-yes:checked"))
        .await
        .is_ok());
    screenshot(&client, &format!("{mode}-3-errors")).await;

    // Corrected and sent: the thank-you page with the reference.
    type_into(&client, "#f-email", "hanako@example.jp").await;
    click(&client, "#f-consent").await;
    navigate_by(&client, "form.booking-form button[type='submit']").await;
    let reference = text_of(&client, "#reference").await;
    assert_eq!(reference.len(), 9, "reference like K7QM-3XWD: {reference}");
    let when = text_of(&client, "#when").await;
    assert!(when.contains(&start[11..16]), "{when} shows {start}");
    screenshot(&client, &format!("{mode}-4-thanks")).await;

    // The manage page: cancel through its POST form.
    let url = client.current_url().await.expect("url");
    assert_eq!(url.path(), format!("/reserve/thanks/{reference}"));
    assert_eq!(url.query(), None, "no token in the address");
    navigate_by(&client, "a[href^='/manage/']").await;
    assert_eq!(text_of(&client, "#status").await, "ご予約確定");
    let url = client.current_url().await.expect("url");
    assert_eq!(url.path(), format!("/manage/{reference}"));
    assert_eq!(url.query(), None, "no token in the address");
    screenshot(&client, &format!("{mode}-5-manage")).await;

    // Reschedule to another free slot through the manage page's form, in
    // the next week: a move into the next day or two would pass the change
    // deadline, and the page would offer no cancel after it.
    navigate_by(&client, "a[rel='next']").await;
    let other = client
        .find(Locator::Css("details[open] input[name='start']"))
        .await
        .expect("a free slot to move to");
    let new_start = other.attr("value").await.expect("value").expect("start");
    let id = other.attr("id").await.expect("id").expect("id");
    click(&client, &format!("label[for='{id}']")).await;
    navigate_by(&client, "#reschedule-button").await;
    assert!(text_of(&client, ".notice").await.contains("変更しました"));
    let when = text_of(&client, "#when").await;
    assert!(
        when.contains(&new_start[11..16]),
        "{when} shows {new_start}"
    );
    navigate_by(&client, "#cancel-button").await;
    let notice = text_of(&client, ".notice").await;
    assert!(notice.contains("キャンセルしました"));
    assert_eq!(text_of(&client, "#status").await, "キャンセル済み");
    screenshot(&client, &format!("{mode}-6-cancelled")).await;

    // The link in a confirmation, followed from a webmail page (another
    // site): the browser lands on the booking's page, its address clean.
    let (link_reference, link) = booked_by_api(&address).await;
    client
        .goto(&format!(
            "data:text/html;charset=utf-8,<a id=go href={link}>link</a>"
        ))
        .await
        .expect("open the other site");
    navigate_by(&client, "#go").await;
    assert_eq!(text_of(&client, "#reference").await, link_reference);
    assert_eq!(text_of(&client, "#status").await, "ご予約確定");
    let url = client.current_url().await.expect("url");
    assert_eq!(url.path(), format!("/manage/{link_reference}"));
    assert_eq!(url.query(), None, "no token in the address");
    screenshot(&client, &format!("{mode}-6b-link-from-mail")).await;

    // The inquiry form is reachable from the article too.
    client
        .goto(&format!("{address}/articles/{SLUG}"))
        .await
        .expect("open article");
    navigate_by(&client, ".cta a[href^='/inquiry']").await;
    text_of(&client, "form.inquiry-form").await;
    screenshot(&client, &format!("{mode}-7-inquiry")).await;

    // An invalid inquiry: messages beside the fields, values kept.
    type_into(&client, "#f-name", "問合 花子").await;
    type_into(&client, "#f-email", "hanako@").await;
    type_into(&client, "#f-message", "幹細胞治療の費用を教えてください。").await;
    navigate_by(&client, "form.inquiry-form button[type='submit']").await;
    let summary = text_of(&client, ".error-summary").await;
    assert!(
        summary.contains("メールアドレスの形式が正しくありません。"),
        "{summary}"
    );
    assert!(text_of(&client, "#consent-error").await.contains("同意"));
    assert_eq!(value_of(&client, "#f-email").await, "hanako@");
    assert_eq!(value_of(&client, "#f-name").await, "問合 花子");
    assert_eq!(
        value_of(&client, "#f-message").await,
        "幹細胞治療の費用を教えてください。"
    );
    assert_eq!(
        client
            .find(Locator::Css("input[name='source']"))
            .await
            .expect("source kept")
            .attr("value")
            .await
            .expect("attr")
            .as_deref(),
        Some(SLUG)
    );
    screenshot(&client, &format!("{mode}-8-inquiry-errors")).await;

    // Corrected and sent: the thank-you page with the reference.
    type_into(&client, "#f-email", "hanako@example.jp").await;
    click(&client, "#f-consent").await;
    navigate_by(&client, "form.inquiry-form button[type='submit']").await;
    let reference = text_of(&client, "#reference").await;
    assert_eq!(reference.len(), 9, "reference like K7QM-3XWD: {reference}");
    let url = client.current_url().await.expect("url");
    assert_eq!(url.path(), format!("/inquiry/thanks/{reference}"));
    screenshot(&client, &format!("{mode}-9-inquiry-thanks")).await;

    // A page of another site posting the same form through the patient's
    // browser is refused.
    let foreign = format!(
        "<form method='post' action='{address}/inquiry'>\
         <input name='name' value='他院 太郎'><input name='email' value='x@example.jp'>\
         <input name='message' value='spam'><input name='consent' value='true'>\
         <button id='send' type='submit'>send</button></form>"
    );
    client
        .goto(&format!(
            "data:text/html;charset=utf-8,{}",
            foreign
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect::<String>()
        ))
        .await
        .expect("open a page of another site");
    navigate_by(&client, "#send").await;
    assert_eq!(
        text_of(&client, "h1").await,
        "送信を受け付けられませんでした"
    );
    screenshot(&client, &format!("{mode}-10-cross-site")).await;

    client.close().await.expect("close browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_books_and_cancels_on_a_phone_without_javascript() {
    journey(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_books_and_cancels_on_a_phone_with_javascript() {
    journey(true).await;
}
