//! The intake questionnaire in a real browser, with JavaScript off and on:
//! `/reserve` asks the chosen type's questions only, a bad submission comes
//! back with a message beside each question and every answer kept, a good
//! one books with the answers; the manage page's questionnaire page shows
//! them and takes a change. Screenshots: `questionnaire-js-{off,on}-*`.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use super::{
    browser, chromedriver_path, click, navigate_by, screenshot, start_app, text_of, type_into,
    value_of, Driver,
};

async fn present(client: &Client, css: &str) -> bool {
    client.find(Locator::Css(css)).await.is_ok()
}

/// Shows the questions of `code` on `/reserve`: with JavaScript the select
/// reloads the page by itself; without, the patient presses its button.
async fn choose_type(client: &Client, code: &str, javascript: bool) {
    let select = client
        .find(Locator::Css("#f-type-choice"))
        .await
        .expect("the type list");
    if javascript {
        let old = client.find(Locator::Css("html")).await.expect("html");
        select.select_by_value(code).await.expect("choose");
        let deadline = Instant::now() + Duration::from_secs(10);
        while old.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "choosing {code} loaded no page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    } else {
        select.select_by_value(code).await.expect("choose");
        navigate_by(client, "form.type-form button[type='submit']").await;
    }
}

async fn walk(javascript: bool) {
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

    // The default type (consultation) asks the knee questionnaire; a type
    // without one shows none.
    client
        .goto(&format!("{address}/reserve"))
        .await
        .expect("open /reserve");
    assert!(text_of(&client, "#questionnaire legend")
        .await
        .contains("問診票"));
    choose_type(&client, "stem-cell", javascript).await;
    assert!(text_of(&client, "#f-type").await.contains("幹細胞治療"));
    assert!(!present(&client, "#questionnaire").await);
    choose_type(&client, "consultation", javascript).await;
    assert!(present(&client, "#questionnaire").await);
    screenshot(&client, &format!("questionnaire-{mode}-1-reserve")).await;

    // Next week's first free slot and the patient's details.
    navigate_by(&client, "a[rel='next']").await;
    let slot = client
        .find(Locator::Css(".day .slot-grid input[name='start']"))
        .await
        .expect("a free slot");
    let id = slot.attr("id").await.expect("id").expect("id");
    click(&client, &format!("label[for='{id}']")).await;
    type_into(&client, "#f-name", "問診 花子").await;
    type_into(&client, "#f-email", "hanako@example.jp").await;
    type_into(&client, "#f-phone", "090-1234-5678").await;
    click(&client, "#f-consent").await;

    // Some answers, one required question left out, a pain score too high.
    click(&client, "label[for='f-answers.side-left']").await;
    click(&client, "label[for='f-answers.location-inner']").await;
    click(&client, "label[for='f-answers.location-back']").await;
    type_into(&client, "[name='answers.pain_score']", "12").await;
    click(&client, "label[for='f-answers.anticoagulants-no']").await;
    type_into(&client, "[name='answers.allergies']", "ペニシリン").await;
    navigate_by(&client, "form.booking-form button[type='submit']").await;
    let summary = text_of(&client, ".error-summary").await;
    assert!(
        summary.contains("「いつ頃から痛みますか」にお答えください。"),
        "{summary}"
    );
    assert!(summary.contains("0〜10の数でお答えください"), "{summary}");
    assert!(text_of(&client, "[id='answers.pain_score-error']")
        .await
        .contains("0〜10"));
    assert_eq!(value_of(&client, "[name='answers.pain_score']").await, "12");
    assert_eq!(
        value_of(&client, "[name='answers.allergies']").await,
        "ペニシリン"
    );
    for checked in [
        "[id='f-answers.side-left']:checked",
        "[id='f-answers.location-inner']:checked",
        "[id='f-answers.location-back']:checked",
        "[id='f-answers.anticoagulants-no']:checked",
    ] {
        assert!(present(&client, checked).await, "{checked} kept");
    }
    assert!(!present(&client, "[id='f-answers.location-front']:checked").await);
    screenshot(&client, &format!("questionnaire-{mode}-2-errors")).await;

    // Corrected: booked with the answers.
    click(&client, "label[for='f-answers.since-1_to_3_years']").await;
    type_into(&client, "[name='answers.pain_score']", "6").await;
    navigate_by(&client, "form.booking-form button[type='submit']").await;
    let reference = text_of(&client, "#reference").await;
    assert_eq!(reference.len(), 9, "{reference}");

    // The manage page says it is answered and opens the answers.
    navigate_by(&client, "a[href^='/manage/']").await;
    assert_eq!(text_of(&client, "#questionnaire-status").await, "回答済み");
    navigate_by(&client, "#questionnaire-link").await;
    assert_eq!(value_of(&client, "[name='answers.pain_score']").await, "6");
    assert!(present(&client, "[id='f-answers.since-1_to_3_years']:checked").await);
    screenshot(&client, &format!("questionnaire-{mode}-3-manage")).await;

    // A bad change comes back with its message; a good one is kept.
    type_into(&client, "[name='answers.pain_score']", "-1").await;
    navigate_by(&client, "#answers-button").await;
    assert!(text_of(&client, ".error-summary").await.contains("0〜10"));
    assert_eq!(value_of(&client, "[name='answers.pain_score']").await, "-1");
    type_into(&client, "[name='answers.pain_score']", "3").await;
    click(&client, "label[for='f-answers.imaging-mri']").await;
    navigate_by(&client, "#answers-button").await;
    assert!(text_of(&client, ".notice").await.contains("問診票"));
    navigate_by(&client, "#questionnaire-link").await;
    assert_eq!(value_of(&client, "[name='answers.pain_score']").await, "3");
    assert!(present(&client, "[id='f-answers.imaging-mri']:checked").await);
    assert_eq!(
        value_of(&client, "[name='answers.allergies']").await,
        "ペニシリン"
    );
    screenshot(&client, &format!("questionnaire-{mode}-4-changed")).await;

    client.close().await.expect("close browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_questionnaire_is_asked_and_changed_without_javascript() {
    walk(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_questionnaire_is_asked_and_changed_with_javascript() {
    walk(true).await;
}
