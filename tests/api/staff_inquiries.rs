//! Staff inquiries: the list (newest first, filters, pages), one inquiry
//! with its mail, PATCH of status and note, refused fields, and the audit
//! entries all of it leaves.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_problem, error_codes, spawn_app, Backend, TestApp};
use crate::staff_helpers::{staff_get, staff_token};

async fn send_inquiry(app: &TestApp, category: &str, message: &str) -> String {
    let response = app
        .post_json(
            "/api/v1/inquiries",
            &json!({
                "name": "問合 花子",
                "email": "hanako@example.jp",
                "phone": "03-3289-0202",
                "category": category,
                "message": message,
                "consent": true,
                "source": "knee-pain-and-cartilage-regeneration",
            }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["reference"].as_str().unwrap().to_string()
}

async fn patch_inquiry(
    app: &TestApp,
    token: &str,
    reference: &str,
    body: Value,
) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/api/v1/staff/inquiries/{reference}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

fn references(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["reference"].as_str().unwrap().to_string())
        .collect()
}

async fn audit_actions(app: &TestApp, token: &str) -> Vec<(String, String, Option<String>)> {
    let audit = json_of(staff_get(app, token, "/api/v1/staff/audit").await).await;
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["actor"].as_str().unwrap().to_string(),
                entry["action"].as_str().unwrap().to_string(),
                entry["reference"].as_str().map(str::to_string),
            )
        })
        .collect()
}

async fn staff_list_inquiries_newest_first_by_status_and_category_page_by_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let first = send_inquiry(&app, "treatment", "費用について").await;
    let second = send_inquiry(&app, "general", "駐車場はありますか").await;
    let third = send_inquiry(&app, "treatment", "副作用について").await;

    let all = json_of(staff_get(&app, &token, "/api/v1/staff/inquiries").await).await;
    assert_eq!(
        references(&all),
        [&third, &second, &first].map(String::clone)
    );
    assert_eq!(all["next"], Value::Null);
    let item = &all["items"][2];
    assert_eq!(item["status"], "received");
    assert_eq!(item["category"], "treatment");
    assert_eq!(item["category_label"], "治療について");
    assert_eq!(item["name"], "問合 花子");
    assert_eq!(item["email"], "hanako@example.jp");
    assert_eq!(item["phone"], "03-3289-0202");
    assert_eq!(item["message"], "費用について");
    assert_eq!(item["source"], "knee-pain-and-cartilage-regeneration");
    assert_eq!(item["staff_note"], Value::Null);
    assert!(item["created_at"].as_str().unwrap().ends_with("+09:00"));
    assert!(item["consent_at"].as_str().unwrap().ends_with("+09:00"));
    assert!(item.get("mail").is_none(), "mail only on the detail");

    let treatment =
        json_of(staff_get(&app, &token, "/api/v1/staff/inquiries?category=treatment").await).await;
    assert_eq!(references(&treatment), [&third, &first].map(String::clone));

    // Pages: two, then the last one through the `next` URL.
    let page = json_of(staff_get(&app, &token, "/api/v1/staff/inquiries?limit=2").await).await;
    assert_eq!(references(&page), [&third, &second].map(String::clone));
    let next = page["next"].as_str().expect("a next page").to_string();
    let next = next
        .split_once("/api/v1")
        .map(|(_, rest)| format!("/api/v1{rest}"))
        .unwrap();
    assert!(next.contains("limit=2"), "{next}");
    let last = json_of(staff_get(&app, &token, &next).await).await;
    assert_eq!(references(&last), [&first].map(String::clone));
    assert_eq!(last["next"], Value::Null);

    let patched = patch_inquiry(&app, &token, &second, json!({"status": "in_progress"})).await;
    assert_eq!(patched.status(), 200);
    let open = json_of(
        staff_get(
            &app,
            &token,
            "/api/v1/staff/inquiries?status=received,closed",
        )
        .await,
    )
    .await;
    assert_eq!(references(&open), [&third, &first].map(String::clone));
    let working =
        json_of(staff_get(&app, &token, "/api/v1/staff/inquiries?status=in_progress").await).await;
    assert_eq!(references(&working), [&second].map(String::clone));

    for query in ["status=done", "category=spam", "limit=0"] {
        let response = staff_get(&app, &token, &format!("/api/v1/staff/inquiries?{query}")).await;
        let field = query.split('=').next().unwrap();
        assert_problem(response, 422, field, "invalid").await;
    }
    // A malformed or forged cursor is the caller's mistake, never a 500.
    use base64::Engine;
    let forged =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("-200000-01-01T00:00:00|ZZZZ-ZZZZ");
    // Malformed: 400; well-formed but no page ever gave it out: 422.
    for (after, status) in [("garbage!", 400), (forged.as_str(), 422)] {
        let path = format!("/api/v1/staff/inquiries?after={after}");
        assert_eq!(
            staff_get(&app, &token, &path).await.status(),
            status,
            "{after}"
        );
    }
    // Reading the list is on the record.
    assert!(audit_actions(&app, &token).await.contains(&(
        "desk".into(),
        "inquiries.listed".into(),
        None
    )));
}

async fn staff_see_one_inquiry_with_its_mail_and_the_read_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let reference = send_inquiry(&app, "reservation", "予約の変更").await;
    app.mail
        .wait_for(2, std::time::Duration::from_secs(10), |m| {
            m.text().contains(&reference)
        })
        .await;
    // Any spelling of the reference a person may type.
    let typed = reference.to_lowercase().replace('-', "");
    let view =
        json_of(staff_get(&app, &token, &format!("/api/v1/staff/inquiries/{typed}")).await).await;
    assert_eq!(view["reference"], reference.as_str());
    assert_eq!(view["category_label"], "ご予約について");
    assert_eq!(view["consent_version"], "2026-11-01");
    let mail = view["mail"].as_array().unwrap();
    assert_eq!(mail.len(), 2, "{view}");
    for message in mail {
        assert_eq!(message["reference"], reference.as_str());
        assert!(message.get("recipient").is_none() && message.get("body").is_none());
        assert!(["patient", "clinic"].contains(&message["audience"].as_str().unwrap()));
    }
    assert!(!serde_json::to_string(&view["mail"]).unwrap().contains('@'));
    assert!(audit_actions(&app, &token).await.contains(&(
        "desk".into(),
        "inquiry.viewed".into(),
        Some(reference.clone())
    )));
    for missing in ["ABCD-EFGH", "not-a-reference"] {
        let response = staff_get(&app, &token, &format!("/api/v1/staff/inquiries/{missing}")).await;
        assert_eq!(response.status(), 404, "{missing}");
        let response = patch_inquiry(&app, &token, missing, json!({"status": "closed"})).await;
        assert_eq!(response.status(), 404, "{missing}");
    }
}

async fn staff_change_status_and_note_and_every_change_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let reference = send_inquiry(&app, "treatment", "費用について").await;

    for status in ["in_progress", "closed", "received", "closed"] {
        let view =
            json_of(patch_inquiry(&app, &token, &reference, json!({"status": status})).await).await;
        assert_eq!(view["status"], status);
    }
    let view = json_of(
        patch_inquiry(
            &app,
            &token,
            &reference,
            json!({"status": "closed", "staff_note": "12/1 折り返し電話済み"}),
        )
        .await,
    )
    .await;
    assert_eq!(view["status"], "closed");
    assert_eq!(view["staff_note"], "12/1 折り返し電話済み");
    assert!(view["mail"].is_array());
    let view =
        json_of(patch_inquiry(&app, &token, &reference, json!({"staff_note": null})).await).await;
    assert_eq!(view["staff_note"], Value::Null);
    assert_eq!(view["status"], "closed");

    let audit = json_of(staff_get(&app, &token, "/api/v1/staff/audit").await).await;
    let mine: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["reference"] == reference.as_str())
        .collect();
    let actions: Vec<&str> = mine
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    // Newest first; asking for the status it already had changed nothing.
    assert_eq!(
        actions,
        [
            "inquiry.staff_note_changed",
            "inquiry.staff_note_changed",
            "inquiry.status_changed",
            "inquiry.status_changed",
            "inquiry.status_changed",
            "inquiry.status_changed",
        ]
    );
    assert_eq!(
        mine[2]["detail"],
        json!({"from": "received", "to": "closed"})
    );
    assert!(mine.iter().all(|entry| entry["actor"] == "desk"));
    // The note stays out of the audit log: it may hold health information.
    assert!(!audit.to_string().contains("折り返し"));
}

async fn a_patch_with_another_field_or_an_unknown_status_is_refused_and_changes_nothing(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let reference = send_inquiry(&app, "treatment", "費用について").await;

    let response = patch_inquiry(
        &app,
        &token,
        &reference,
        json!({"status": "closed", "email": "someone@example.jp"}),
    )
    .await;
    assert_problem(response, 422, "email", "unknown_field").await;
    let response = patch_inquiry(&app, &token, &reference, json!({"status": "done"})).await;
    assert_problem(response, 422, "status", "invalid").await;
    let response = patch_inquiry(
        &app,
        &token,
        &reference,
        json!({"status": "", "staff_note": "あ".repeat(2001), "category": "other"}),
    )
    .await;
    let problem = assert_problem(response, 422, "status", "required").await;
    let codes = error_codes(&problem);
    assert!(
        codes.contains(&("staff_note".into(), "too_long".into())),
        "{problem}"
    );
    assert!(
        codes.contains(&("category".into(), "unknown_field".into())),
        "{problem}"
    );
    let response = app
        .client
        .patch(app.url(&format!("/api/v1/staff/inquiries/{reference}")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let view = json_of(
        staff_get(
            &app,
            &token,
            &format!("/api/v1/staff/inquiries/{reference}"),
        )
        .await,
    )
    .await;
    assert_eq!(view["status"], "received");
    assert_eq!(view["category"], "treatment");
    assert_eq!(view["email"], "hanako@example.jp");
    assert_eq!(view["staff_note"], Value::Null);
}

async fn the_staff_inquiry_and_outbox_operations_are_described(backend: Backend) {
    let app = spawn_app(backend).await;
    let document: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    for (path, method, operation_id) in [
        ("/api/v1/staff/inquiries", "get", "staffListInquiries"),
        (
            "/api/v1/staff/inquiries/{reference}",
            "get",
            "staffGetInquiry",
        ),
        (
            "/api/v1/staff/inquiries/{reference}",
            "patch",
            "staffUpdateInquiry",
        ),
        ("/api/v1/staff/outbox", "get", "staffListOutbox"),
    ] {
        let operation = &document["paths"][path][method];
        assert_eq!(operation["operationId"], operation_id, "{method} {path}");
        assert_eq!(operation["tags"], json!(["staff"]));
        assert_eq!(operation["security"], json!([{"staff_token": []}]));
        assert!(
            operation["responses"]["401"]["content"]["application/problem+json"].is_object(),
            "{method} {path}"
        );
        assert!(operation["responses"]["200"]["content"]["application/json"].is_object());
    }
    // A method the description does not list is a 405 with `Allow`.
    for (path, allow) in [
        ("/api/v1/staff/inquiries", "GET"),
        ("/api/v1/staff/inquiries/K7QM-3XWD", "GET, PATCH"),
        ("/api/v1/staff/outbox", "GET"),
    ] {
        let response = app.client.delete(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 405, "{path}");
        assert_eq!(response.headers()["allow"], allow, "{path}");
    }
    for schema in [
        "StaffInquiryView",
        "InquiryList",
        "InquiryPatch",
        "OutboxList",
        "OutboxView",
    ] {
        assert!(
            document["components"]["schemas"][schema].is_object(),
            "{schema}"
        );
    }
}

backend_tests!(
    staff_list_inquiries_newest_first_by_status_and_category_page_by_page,
    staff_see_one_inquiry_with_its_mail_and_the_read_is_audited,
    staff_change_status_and_note_and_every_change_is_audited,
    a_patch_with_another_field_or_an_unknown_status_is_refused_and_changes_nothing,
    the_staff_inquiry_and_outbox_operations_are_described,
);
