//! The waiting-list form in headless Chromium on a phone, with JavaScript
//! off and on: a full day's link is followed from `/reserve`'s address
//! form, an invalid form comes back with its messages and values, a valid
//! one joins, and the entry's page leaves the list again.

use fantoccini::{Client, Locator};

use super::{
    browser, chromedriver_path, click, navigate_by, screenshot, start_app, text_of, type_into,
    value_of, Driver,
};

/// The third day from today that is not a Sunday (the clinic's default).
fn open_day() -> chrono::NaiveDate {
    use chrono::Datelike;
    let mut date = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive();
    let mut open = 0;
    while open < 3 {
        date += chrono::Duration::days(1);
        if date.weekday() != chrono::Weekday::Sun {
            open += 1;
        }
    }
    date
}

async fn to_min(client: &Client) -> Option<String> {
    client
        .find(Locator::Css("#f-to"))
        .await
        .expect("to")
        .attr("min")
        .await
        .expect("min")
}

async fn join_and_leave(javascript: bool) {
    let Some(chromedriver) = chromedriver_path() else {
        eprintln!("skipped: chromedriver is not on PATH");
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mode = if javascript {
        "waitlist-js-on"
    } else {
        "waitlist-js-off"
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let address = start_app(dir.path()).await;
    let driver = Driver::start(&chromedriver);
    let client = browser(&driver, javascript, &dir.path().join("profile")).await;
    let date = open_day().to_string();
    client
        .goto(&format!("{address}/waitlist?type=consultation&date={date}"))
        .await
        .expect("open the form");
    assert!(text_of(&client, "h1").await.contains("キャンセル待ち"));
    assert_eq!(value_of(&client, "#f-date").await, date);

    // The little script: the latest start follows the earliest.
    client
        .execute(
            "var f = document.getElementById('f-from'); f.value = '10:00';\
             f.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![],
        )
        .await
        .expect("set from");
    assert_eq!(
        to_min(&client).await.as_deref() == Some("10:00"),
        javascript,
        "the window's guide works only with JavaScript"
    );

    // Invalid: no consent, a bad address. Messages, and values kept.
    type_into(&client, "#f-name", "待機 花子").await;
    type_into(&client, "#f-email", "not-an-email").await;
    type_into(&client, "#f-phone", "090-2222-3333").await;
    navigate_by(&client, "#waitlist-button").await;
    let summary = text_of(&client, ".error-summary").await;
    assert!(summary.contains("メールアドレス"), "{summary}");
    assert!(text_of(&client, "#consent-error").await.contains("同意"));
    assert_eq!(value_of(&client, "#f-name").await, "待機 花子");
    assert_eq!(value_of(&client, "#f-email").await, "not-an-email");
    assert_eq!(value_of(&client, "#f-date").await, date);
    screenshot(&client, &format!("{mode}-1-errors")).await;

    // Valid: on the list, shown on the entry's page.
    type_into(&client, "#f-email", "wait@example.jp").await;
    click(&client, "label[for='f-consent']").await;
    navigate_by(&client, "#waitlist-button").await;
    assert!(text_of(&client, "#notice").await.contains("登録しました"));
    let status = client
        .find(Locator::Css("#status"))
        .await
        .expect("status")
        .attr("data-status")
        .await
        .expect("attr");
    assert_eq!(status.as_deref(), Some("waiting"));
    let url = client.current_url().await.expect("url");
    assert!(
        !url.as_str().contains("token"),
        "the entry's page keeps no token in its address: {url}"
    );
    screenshot(&client, &format!("{mode}-2-entry")).await;

    // Leave it.
    navigate_by(&client, "#leave-button").await;
    assert!(text_of(&client, "#notice").await.contains("取り消しました"));
    assert_eq!(text_of(&client, "#status").await, "取り消し済み");
    screenshot(&client, &format!("{mode}-3-left")).await;
    client.close().await.expect("close browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_joins_and_leaves_the_waiting_list_without_javascript() {
    join_and_leave(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_joins_and_leaves_the_waiting_list_with_javascript() {
    join_and_leave(true).await;
}
