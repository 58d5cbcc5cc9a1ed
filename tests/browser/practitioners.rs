//! A patient of a clinic with doctors books on a phone, JavaScript off and
//! on: first asking for a named doctor, then with 指名なし (no preference).
//! The week of free times follows the choice; the thank-you page names the
//! doctor. Screenshots: `practitioners-js-off-*`, `practitioners-js-on-*`.

use clinic_booking::configuration::{ResourceSettings, Settings};
use fantoccini::{Client, Locator};

use super::{
    browser, chromedriver_path, click, navigate_by, screenshot, start_app_with, text_of, type_into,
    value_of, Driver,
};

/// Two doctors working every opening day; stem-cell needs one of them and
/// one of two rooms, cleaned for 30 minutes after.
fn with_doctors(settings: &mut Settings) {
    let every_day = r#"["10:00-18:30"]"#;
    let days: String = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ]
    .iter()
    .map(|day| format!("{day} = {every_day}\n"))
    .collect();
    let toml = format!(
        r#"
        [[resources]]
        code = "dr-a"
        kind = "practitioner"
        label = "A 医師"
        label_en = "Dr. A"
        {days}
        [[resources]]
        code = "dr-b"
        kind = "practitioner"
        label = "B 医師"
        label_en = "Dr. B"
        {days}
        [[resources]]
        code = "room-1"
        kind = "room"
        label = "処置室1"
        [[resources]]
        code = "room-2"
        kind = "room"
        label = "処置室2"
        "#
    );
    #[derive(serde::Deserialize)]
    struct Only {
        resources: Vec<ResourceSettings>,
    }
    let only: Only = toml::from_str(&toml).expect("test resources");
    settings.resources = only.resources;
    for kind in &mut settings.schedule.consultation_types {
        if kind.code == "stem-cell" {
            kind.practitioners = vec!["dr-a".into(), "dr-b".into()];
            kind.rooms = vec!["room-1".into(), "room-2".into()];
            kind.buffer_minutes = 30;
        }
    }
}

/// Chooses `value` in the practitioner list; without JavaScript the
/// patient then presses the button beside it, with it the page follows
/// the choice at once.
async fn choose_practitioner(client: &Client, value: &str, javascript: bool) {
    let select = client
        .find(Locator::Css("#f-practitioner-choice"))
        .await
        .expect("the practitioner list");
    let old = client.find(Locator::Css("html")).await.expect("html");
    select
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("choose {value:?}: {e}"));
    if javascript {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while old.tag_name().await.is_ok() {
            assert!(std::time::Instant::now() < deadline, "the page followed");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    } else {
        navigate_by(client, "form.type-form button[type='submit']").await;
    }
    text_of(client, "form.booking-form").await;
}

/// Picks the first free start of the week shown, fills the form and books;
/// the start chosen.
async fn book_first_free(client: &Client, email: &str) -> String {
    let slot = client
        .find(Locator::Css(".day .slot-grid input[name='start']"))
        .await
        .expect("a free slot");
    let start = slot.attr("value").await.expect("value").expect("start");
    let id = slot.attr("id").await.expect("id").expect("id");
    click(client, &format!("label[for='{id}']")).await;
    type_into(client, "#f-name", "指名 花子").await;
    type_into(client, "#f-email", email).await;
    type_into(client, "#f-phone", "090-1234-5678").await;
    click(client, "#f-consent").await;
    navigate_by(client, "form.booking-form button[type='submit']").await;
    start
}

async fn book_with_a_doctor(javascript: bool) {
    let Some(chromedriver) = chromedriver_path() else {
        eprintln!("skipped: chromedriver is not on PATH");
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mode = if javascript { "js-on" } else { "js-off" };
    let dir = tempfile::tempdir().expect("temp dir");
    let address = start_app_with(dir.path(), with_doctors).await;
    let driver = Driver::start(&chromedriver);
    let client = browser(&driver, javascript, &dir.path().join("profile")).await;

    // A named doctor: the week shown is theirs, and the booking too.
    client
        .goto(&format!("{address}/reserve?type=stem-cell"))
        .await
        .expect("open the form");
    assert!(text_of(&client, "#f-practitioner")
        .await
        .contains("指名なし"));
    choose_practitioner(&client, "dr-b", javascript).await;
    let url = client.current_url().await.expect("url");
    assert!(url.as_str().contains("practitioner=dr-b"), "{url}");
    assert_eq!(text_of(&client, "#f-practitioner").await, "担当: B 医師");
    assert_eq!(
        value_of(&client, "#f-practitioner-choice").await,
        "dr-b",
        "the choice is shown"
    );
    navigate_by(&client, "a[rel='next']").await;
    assert!(client
        .current_url()
        .await
        .expect("url")
        .as_str()
        .contains("practitioner=dr-b"));
    screenshot(&client, &format!("practitioners-{mode}-1-named")).await;
    let start = book_first_free(&client, "named@example.jp").await;
    assert_eq!(text_of(&client, "#practitioner").await, "B 医師");
    assert!(text_of(&client, "#when").await.contains(&start[11..16]));
    screenshot(&client, &format!("practitioners-{mode}-2-named-thanks")).await;

    // 指名なし after a doctor was chosen: the free doctor is assigned.
    client
        .goto(&format!(
            "{address}/reserve?type=stem-cell&practitioner=dr-b"
        ))
        .await
        .expect("open the form");
    choose_practitioner(&client, "", javascript).await;
    assert!(text_of(&client, "#f-practitioner")
        .await
        .contains("指名なし"));
    navigate_by(&client, "a[rel='next']").await;
    screenshot(&client, &format!("practitioners-{mode}-3-no-preference")).await;
    let second = book_first_free(&client, "anyone@example.jp").await;
    // The same first free start: dr-b has it, so dr-a (the one free) does.
    assert_eq!(second, start);
    assert_eq!(text_of(&client, "#practitioner").await, "A 医師");
    screenshot(&client, &format!("practitioners-{mode}-4-assigned")).await;
    client.close().await.expect("close browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_books_a_named_doctor_and_no_preference_without_javascript() {
    book_with_a_doctor(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_books_a_named_doctor_and_no_preference_with_javascript() {
    book_with_a_doctor(true).await;
}
