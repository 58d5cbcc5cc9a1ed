//! A receptionist's morning in the staff console, in headless Chromium on a
//! desk-sized window, with JavaScript off and on: sign in, open today,
//! check a patient in, move another booking, close the afternoon, look at
//! the week, the inquiries and failed mail, print the day, sign out.
//! Screenshots of every page go to `target/browser-screenshots/`
//! (`console-js-off-*`, `console-js-on-*`).

use std::path::Path;

use chrono::{NaiveTime, Utc};
use clinic_booking::configuration::Settings;
use clinic_booking::db::bookings::{self, BookingRow};
use clinic_booking::db::Db;
use clinic_booking::domain::{BookingStatus, ManageToken, Reference};
use clinic_booking::schedule::ClinicCalendar;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, Locator};
use serde_json::json;

use super::{
    chromedriver_path, click, navigate_by, screenshot, sized_browser, start_app_with, text_of,
    Driver,
};

const DESK: (u32, u32) = (1280, 1000);

/// Settings of the morning: every weekday open, so that today is a
/// working day whatever day the test runs on.
fn settings_for(dir: &Path) -> Settings {
    let mut settings = Settings::defaults().expect("settings");
    settings.database.url = format!("sqlite://{}", dir.join("clinic.db").display()).into();
    settings.schedule.closed_weekdays = Vec::new();
    settings
}

/// Bookings patients made earlier for today (and one tomorrow), stored as
/// the booking workflow stores them, whatever the time is now.
fn seed(settings: &Settings) -> Vec<String> {
    let calendar =
        ClinicCalendar::from_settings(&settings.schedule, &settings.clinic.timezone).unwrap();
    let db = Db::connect(&settings.database, settings.database_url()).expect("database");
    let mut conn = db.connection().expect("connection");
    let today = calendar.today(Utc::now());
    let now = Utc::now().naive_utc();
    let patients = [
        (
            0,
            "10:00",
            "受付 花子",
            "ウケツケ ハナコ",
            "consultation",
            Some(true),
        ),
        (
            0,
            "10:30",
            "移動 太郎",
            "イドウ タロウ",
            "follow-up",
            Some(false),
        ),
        (
            0,
            "11:00",
            "幹細胞 三郎",
            "カンサイボウ サブロウ",
            "stem-cell",
            Some(true),
        ),
        (0, "13:00", "午後 美咲", "ゴゴ ミサキ", "exosome", None),
        (
            1,
            "14:00",
            "明日 健一",
            "アシタ ケンイチ",
            "consultation",
            Some(true),
        ),
    ];
    patients
        .iter()
        .map(|(days, time, name, kana, kind, first_visit)| {
            let kind = calendar.consultation_type(kind).unwrap().clone();
            let time = NaiveTime::parse_from_str(time, "%H:%M").unwrap();
            let start = calendar
                .at(today + chrono::Duration::days(*days), time)
                .unwrap();
            let end = calendar.end_of(start, &kind);
            let mut row = BookingRow {
                reference: Reference::generate().to_string(),
                manage_token_hash: ManageToken::generate().hash(),
                status: BookingStatus::Confirmed,
                type_code: kind.code.clone(),
                start_at: start.naive_utc(),
                end_at: end.naive_utc(),
                name: name.to_string(),
                name_kana: Some(kana.to_string()),
                email: "patient@example.jp".into(),
                phone: "090-1234-5678".into(),
                first_visit: *first_visit,
                message: Some("右膝が痛みます。".into()),
                source: None,
                staff_note: None,
                consent_at: now,
                consent_version: settings.privacy.notice_version.clone(),
                sequence: 0,
                created_at: now,
                updated_at: now,
                cancelled_at: None,
                practitioner: None,
            };
            let slots = calendar.covered_slots(start, &kind);
            bookings::insert(&mut conn, &mut row, &slots, calendar.capacity_per_slot())
                .expect("booking stored");
            row.reference
        })
        .collect()
}

fn staff_token(settings: &Settings) -> String {
    let db = Db::connect(&settings.database, settings.database_url()).expect("database");
    let mut conn = db.connection().expect("connection");
    clinic_booking::workflows::staff_tokens::create_token(&mut conn, "reception-1", Utc::now())
        .expect("token")
}

/// Chromium's own command that renders the page as for print (the 受付表).
#[derive(Debug)]
struct EmulateMedia(&'static str);

impl WebDriverCompatibleCommand for EmulateMedia {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": self.0}});
        (http::Method::POST, Some(body.to_string()))
    }
}

async fn is_visible(client: &Client, css: &str) -> bool {
    client
        .find(Locator::Css(css))
        .await
        .expect(css)
        .is_displayed()
        .await
        .expect("displayed")
}

async fn morning(javascript: bool) {
    let Some(chromedriver) = chromedriver_path() else {
        eprintln!("skipped: chromedriver is not on PATH");
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mode = if javascript { "js-on" } else { "js-off" };
    let shot = |name: &str| format!("console-{mode}-{name}");
    let dir = tempfile::tempdir().expect("temp dir");
    let address = start_app_with(dir.path(), |settings| {
        settings.schedule.closed_weekdays = Vec::new();
    })
    .await;
    let settings = settings_for(dir.path());
    let references = seed(&settings);
    let token = staff_token(&settings);
    // An inquiry from the website, for the inbox.
    let inquiry = reqwest::Client::new()
        .post(format!("{address}/api/v1/inquiries"))
        .json(&json!({"name": "問合 花子", "email": "hanako@example.jp",
                      "category": "treatment", "phone": "03-1234-5678",
                      "message": "幹細胞治療の費用と、治療にかかる期間を教えてください。",
                      "consent": true}))
        .send()
        .await
        .expect("inquiry");
    assert_eq!(inquiry.status(), 201);
    let driver = Driver::start(&chromedriver);
    let client = sized_browser(&driver, javascript, &dir.path().join("profile"), DESK).await;

    // Sign in: the console sends a browser without a session there.
    client
        .goto(&format!("{address}/staff"))
        .await
        .expect("open the console");
    assert_eq!(client.current_url().await.unwrap().path(), "/staff/login");
    assert!(text_of(&client, ".help")
        .await
        .contains("staff-token create"));
    screenshot(&client, &shot("01-login")).await;
    let field = client.find(Locator::Css("#f-token")).await.expect("token");
    field.send_keys(&token).await.expect("type the token");
    navigate_by(&client, "#login-button").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/staff");
    assert!(text_of(&client, "h1").await.contains("本日"));
    assert_eq!(text_of(&client, "#signed-in").await, "reception-1");
    let html_class = client
        .find(Locator::Css("html"))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap();
    assert_eq!(html_class.as_deref() == Some("js"), javascript);
    assert_eq!(is_visible(&client, "#print-button").await, javascript);
    assert!(text_of(&client, "#timeline").await.contains("受付 花子"));
    screenshot(&client, &shot("02-day")).await;

    // Check in the first patient from the day's list.
    let (arriving, moving) = (&references[0], &references[1]);
    navigate_by(&client, &format!("#check-in-{arriving}")).await;
    assert!(text_of(&client, "#flash").await.contains("受付済"));
    assert_eq!(
        text_of(&client, &format!("#booking-{arriving} .badge")).await,
        "受付済"
    );
    // Back at the patient's slot; the picture starts at the top.
    client
        .execute("window.scrollTo(0, 0)", Vec::new())
        .await
        .expect("scroll");
    screenshot(&client, &shot("03-checked-in")).await;

    // The day printed: the reception sheet.
    client
        .issue_cmd(EmulateMedia("print"))
        .await
        .expect("print media");
    assert!(!is_visible(&client, ".site-header").await);
    assert!(text_of(&client, "h1").await.contains("受付表"));
    screenshot(&client, &shot("04-print")).await;
    client
        .issue_cmd(EmulateMedia(""))
        .await
        .expect("screen media");

    // Move another booking to the first free slot the picker offers.
    navigate_by(&client, &format!("a[href='/staff/bookings/{moving}']")).await;
    assert_eq!(text_of(&client, "#reference").await, moving.as_str());
    assert!(text_of(&client, "#name").await.contains("移動 太郎"));
    screenshot(&client, &shot("05-booking")).await;
    let slot = client
        .find(Locator::Css("details[open] input[name='start']"))
        .await
        .expect("a free slot");
    let start = slot.attr("value").await.unwrap().expect("start");
    let id = slot.attr("id").await.unwrap().expect("id");
    click(&client, &format!("label[for='{id}']")).await;
    navigate_by(&client, "#move-button").await;
    assert!(text_of(&client, "#flash")
        .await
        .contains("日時を変更しました"));
    assert!(text_of(&client, "#when").await.contains(&start[11..16]));
    screenshot(&client, &shot("06-moved")).await;

    // Close this afternoon.
    navigate_by(&client, "a[href='/staff/closures']").await;
    let select = |css: &'static str, value: &'static str| {
        let client = client.clone();
        async move {
            client
                .find(Locator::Css(css))
                .await
                .expect(css)
                .select_by_value(value)
                .await
                .expect(value)
        }
    };
    select("#f-start", "14:00").await;
    select("#f-end", "18:30").await;
    client
        .find(Locator::Css("#f-hours-reason"))
        .await
        .unwrap()
        .send_keys("院長不在")
        .await
        .unwrap();
    navigate_by(&client, "#close-hours-button").await;
    assert!(text_of(&client, "#flash")
        .await
        .contains("休診を追加しました"));
    assert!(text_of(&client, ".closure-when")
        .await
        .contains("14:00〜18:30"));
    // The page opened at the new closure; the picture starts at the top.
    client
        .execute("window.scrollTo(0, 0)", Vec::new())
        .await
        .expect("scroll");
    screenshot(&client, &shot("07-closures")).await;

    // The day shows the closure; the week, the inbox and failed mail.
    navigate_by(&client, "a[href='/staff']").await;
    assert!(text_of(&client, "#timeline")
        .await
        .contains("休診（院長不在）"));
    navigate_by(&client, ".staff-header a[href^='/staff/week/']").await;
    assert!(text_of(&client, "#week").await.contains("明日 健一"));
    screenshot(&client, &shot("08-week")).await;
    navigate_by(&client, "a[href='/staff/inquiries']").await;
    assert!(text_of(&client, "#inquiries").await.contains("問合 花子"));
    screenshot(&client, &shot("09-inquiries")).await;
    navigate_by(&client, "#inquiries a.reference").await;
    navigate_by(&client, "#set-in_progress").await;
    assert_eq!(text_of(&client, "#status").await, "対応中");
    screenshot(&client, &shot("10-inquiry")).await;
    navigate_by(&client, "a[href='/staff/mail']").await;
    text_of(&client, "#mail-counts").await;
    screenshot(&client, &shot("11-mail")).await;

    // Sign out: the session is over.
    navigate_by(&client, "#logout-button").await;
    assert!(text_of(&client, "#flash")
        .await
        .contains("ログアウトしました"));
    client
        .goto(&format!("{address}/staff"))
        .await
        .expect("open the console");
    assert_eq!(client.current_url().await.unwrap().path(), "/staff/login");
    client.close().await.expect("close browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receptionists_morning_without_javascript() {
    morning(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receptionists_morning_with_javascript() {
    morning(true).await;
}
