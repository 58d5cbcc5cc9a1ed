//! Staff see what became of the clinic's emails: the outbox list (without
//! addresses or bodies) and the mail status on a booking.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_problem, local, open_day, spawn_app, Backend, TestApp};
use crate::staff_helpers::{reference, staff_get, staff_token};

const WAIT: Duration = Duration::from_secs(15);

async fn outbox(app: &TestApp, token: &str, query: &str) -> Value {
    let response = staff_get(app, token, &format!("/api/v1/staff/outbox{query}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// Polls the outbox list until `done` holds for it.
async fn outbox_until(
    app: &TestApp,
    token: &str,
    query: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = outbox(app, token, query).await;
        if done(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "not in time: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn items(list: &Value) -> &Vec<Value> {
    list["items"].as_array().unwrap()
}

async fn a_message_the_mail_server_rejects_shows_up_as_failed_for_staff(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    app.mail.reject_with_550();
    let response = app
        .post_json(
            "/api/v1/inquiries",
            &json!({
                "name": "問合 花子", "email": "hanako@example.jp",
                "message": "費用について", "consent": true,
            }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let inquiry: Value = response.json().await.unwrap();
    let reference = inquiry["reference"].as_str().unwrap();

    let failed = outbox_until(&app, &token, "?status=failed", |list| {
        items(list).len() == 2
    })
    .await;
    for message in items(&failed) {
        assert_eq!(message["status"], "failed");
        assert_eq!(message["reference"], reference);
        assert_eq!(message["attempts"], 3);
        assert!(message["last_error"].as_str().unwrap().contains("550"));
        assert_eq!(message["next_attempt_at"], Value::Null);
        assert!(message.get("recipient").is_none() && message.get("body").is_none());
    }
    let audiences: Vec<&str> = items(&failed)
        .iter()
        .map(|m| m["audience"].as_str().unwrap())
        .collect();
    assert!(audiences.contains(&"patient") && audiences.contains(&"clinic"));
    // No address and no text of the message anywhere in the answer.
    let text = failed.to_string();
    assert!(!text.contains('@'), "{text}");
    assert!(!text.contains("費用について"));
    assert_eq!(failed["counts"]["failed"], 2);
    assert_eq!(failed["counts"]["sent"], 0);
    assert_eq!(failed["counts"]["pending"], 0);
    assert_eq!(failed["next"], Value::Null);
    let sent = outbox(&app, &token, "?status=sent").await;
    assert!(items(&sent).is_empty());
}

async fn staff_page_through_the_outbox_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(3);
    let first = reference(&app.book(&local(day, "10:00")).await);
    let second = reference(&app.book(&local(day, "11:00")).await);
    // Each booking: a confirmation, the clinic's copy and a reminder.
    let all = outbox_until(&app, &token, "", |list| items(list).len() == 6).await;
    let order: Vec<&str> = items(&all)
        .iter()
        .map(|m| m["reference"].as_str().unwrap())
        .collect();
    assert_eq!(order[..3], [second.as_str(); 3]);
    assert_eq!(order[3..], [first.as_str(); 3]);
    let ids: Vec<i64> = items(&all)
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]));

    let page = outbox(&app, &token, "?limit=4").await;
    assert_eq!(items(&page).len(), 4);
    let next = page["next"].as_str().expect("a next page");
    let next = format!("/api/v1{}", next.split_once("/api/v1").unwrap().1);
    let rest = staff_get(&app, &token, &next)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let rest_ids: Vec<i64> = items(&rest)
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(rest_ids, ids[4..]);
    assert_eq!(rest["next"], Value::Null);

    let response = staff_get(&app, &token, "/api/v1/staff/outbox?status=lost").await;
    assert_problem(response, 422, "status", "invalid").await;
    let response = staff_get(&app, &token, "/api/v1/staff/outbox?after=nonsense!").await;
    assert_eq!(response.status(), 400);
}

async fn the_staff_booking_detail_shows_how_its_mail_stands(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let reference = reference(&booking);
    let path = format!("/api/v1/staff/bookings/{reference}");
    let deadline = Instant::now() + WAIT;
    let view = loop {
        let view: Value = staff_get(&app, &token, &path).await.json().await.unwrap();
        let mail = view["mail"].as_array().expect("mail on the detail");
        let confirmation = mail.iter().find(|m| m["kind"] == "booking_confirmed");
        if confirmation.is_some_and(|m| m["status"] == "sent") {
            break view;
        }
        assert!(Instant::now() < deadline, "not sent in time: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mail = view["mail"].as_array().unwrap();
    assert!(mail.iter().all(|m| m["reference"] == reference.as_str()));
    let confirmation = mail
        .iter()
        .find(|m| m["kind"] == "booking_confirmed")
        .unwrap();
    assert!(confirmation["sent_at"]
        .as_str()
        .unwrap()
        .ends_with("+09:00"));
    assert!(!serde_json::to_string(&view["mail"]).unwrap().contains('@'));
    // The list stays light: mail only on the detail.
    let list: Value = staff_get(&app, &token, "/api/v1/staff/bookings")
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"][0].get("mail").is_none());
}

backend_tests!(
    a_message_the_mail_server_rejects_shows_up_as_failed_for_staff,
    staff_page_through_the_outbox_newest_first,
    the_staff_booking_detail_shows_how_its_mail_stands,
);
