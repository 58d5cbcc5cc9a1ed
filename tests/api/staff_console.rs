//! The staff console's pages and actions over HTTP: the day, the week, one
//! booking and its actions, the inquiry inbox, closures and failed mail;
//! each action through the same workflow as the staff API, answered with a
//! redirect and a one-time message, and on the audit log.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::console_helpers::{location, Console};
use crate::helpers::{booking_body, local, open_day, spawn_app, sunday, Backend, TestApp};
use crate::staff_helpers::{reference, staff_get, staff_post, staff_token};

const SITE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Books `start` for a patient of the given name and type.
async fn book_as(app: &TestApp, start: &str, name: &str, kind: &str) -> Value {
    let mut body = booking_body(start);
    body["name"] = name.into();
    body["type"] = kind.into();
    let response = app.post_booking(&body).await;
    let status = response.status();
    let booked: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{booked}");
    booked
}

async fn staff_view(app: &TestApp, token: &str, reference: &str) -> Value {
    staff_get(app, token, &format!("/api/v1/staff/bookings/{reference}"))
        .await
        .json()
        .await
        .unwrap()
}

async fn audit_actions(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let audit: Value = staff_get(app, token, "/api/v1/staff/audit?limit=500")
        .await
        .json()
        .await
        .unwrap();
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["actor"].as_str().unwrap().to_string(),
                entry["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn has(actions: &[(String, String)], actor: &str, action: &str) -> bool {
    actions.iter().any(|(a, b)| a == actor && b == action)
}

async fn the_day_shows_every_slot_with_its_bookings_free_seats_and_closures(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "reception-1").await;
    let day = open_day(3);
    let first = book_as(
        &app,
        &local(day, "10:00"),
        "山田 <b>花子</b>",
        "consultation",
    )
    .await;
    let long = book_as(&app, &local(day, "11:00"), "幹細胞 次郎", "stem-cell").await;
    let closure = staff_post(
        &app,
        &token,
        "/api/v1/staff/closures",
        json!({"start": local(day, "15:00"), "end": local(day, "16:00"), "reason": "院長不在"}),
    )
    .await;
    assert_eq!(closure.status(), 201);
    let console = Console::sign_in(&app, &token).await;
    let response = console.get(&format!("/staff/day/{day}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["content-security-policy"], SITE_POLICY);
    let html = response.text().await.unwrap();
    // Every slot from opening to closing.
    for slot in ["slot-1000", "slot-1030", "slot-1200", "slot-1800"] {
        assert!(html.contains(&format!("id=\"{slot}\"")), "{slot}");
    }
    assert!(!html.contains("id=\"slot-1830\""));
    // The bookings: time, reference, name (escaped) and kana, type, first
    // visit, status.
    assert!(html.contains(&reference(&first)));
    assert!(html.contains("山田 &#60;b&#62;花子&#60;/b&#62;"), "escaped");
    assert!(!html.contains("<b>花子"));
    assert!(html.contains("ヨヤク タロウ"));
    assert!(html.contains("幹細胞治療"));
    assert!(html.contains("初診"));
    assert!(html.contains("予約確定"));
    assert!(html.contains("11:00〜12:00"));
    // The 60-minute booking takes the 11:30 slot too.
    assert!(html.contains(&format!(
        "{}</a> 幹細胞 次郎（11:00から・続き）",
        reference(&long)
    )));
    // Free seats, closures, date navigation, the print layout.
    assert!(html.contains("休診（院長不在）"));
    assert!(html.contains("15:00〜16:00 休診 院長不在"));
    assert!(html.contains(&format!("href=\"/staff/day/{}\"", day.pred_opt().unwrap())));
    assert!(html.contains(&format!("href=\"/staff/day/{}\"", day.succ_opt().unwrap())));
    assert!(html.contains("action=\"/staff/day\""));
    assert!(html.contains("受付表"));
    assert!(html.contains("予約 2件"));
    assert!(html.contains("/static/staff.css"));
    // No practitioner column while no booking names one.
    assert!(!html.contains(">担当<"));
    // The date picker's form leads to the day's own page.
    let picked = console.get(&format!("/staff/day?date={day}")).await;
    assert_eq!(location(&picked), format!("/staff/day/{day}"));
    // Today is /staff.
    let today = console.page("/staff").await;
    assert!(today.contains("本日"));
    // Reading the day is on the record under the token's label.
    assert!(has(
        &audit_actions(&app, &token).await,
        "reception-1",
        "bookings.listed"
    ));
    // A day that is no date is not found.
    assert_eq!(console.get("/staff/day/2026-13-45").await.status(), 404);
}

async fn a_closed_day_says_so_and_still_lists_its_bookings(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(4);
    let booked = app.book(&local(day, "10:00")).await;
    let closed = staff_post(
        &app,
        &token,
        "/api/v1/staff/closures",
        json!({"date": day.to_string(), "reason": "臨時休診"}),
    )
    .await;
    assert_eq!(closed.status(), 201);
    let console = Console::sign_in(&app, &token).await;
    let html = console.page(&format!("/staff/day/{day}")).await;
    assert!(html.contains("終日休診 臨時休診"));
    assert!(html.contains(&reference(&booked)));
    let sunday = console.page(&format!("/staff/day/{}", sunday(1))).await;
    assert!(sunday.contains("休診日（日曜日）"));
    assert!(!sunday.contains("id=\"timeline\""));
}

async fn the_week_shows_seven_days_with_counts_and_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(3);
    book_as(&app, &local(day, "10:00"), "週間 一郎", "consultation").await;
    book_as(&app, &local(day, "14:30"), "週間 二郎", "follow-up").await;
    let console = Console::sign_in(&app, &token).await;
    let html = console.page(&format!("/staff/week/{day}")).await;
    assert_eq!(html.matches("class=\"week-day").count(), 7);
    assert!(html.contains(&format!("id=\"day-{day}\"")));
    assert!(html.contains("<span class=\"time\">10:00</span> 週間 一郎"));
    assert!(html.contains("<span class=\"time\">14:30</span> 週間 二郎"));
    assert!(html.contains("<strong>2</strong>件"));
    assert!(html.contains("この週の予約 2件"));
    assert!(html.contains("休診日（日曜日）"));
    assert_eq!(
        location(&console.get(&format!("/staff/week?date={day}")).await),
        format!("/staff/week/{day}")
    );
}

async fn the_booking_page_shows_what_the_patient_gave_and_its_trail(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "reception-1").await;
    let booked = app.book(&local(open_day(3), "10:00")).await;
    let reference = reference(&booked);
    let console = Console::sign_in(&app, &token).await;
    let html = console.page(&format!("/staff/bookings/{reference}")).await;
    for shown in [
        "予約 太郎",
        "ヨヤク タロウ",
        "taro@example.jp",
        "090-1234-5678",
        "tel:09012345678",
        "右膝が痛みます。",
        "初診",
        "無料カウンセリング・診察",
        "プライバシーポリシー 2026-11-01",
        "受付済にする",
        "予約をキャンセルする",
        "日時を変更する",
        "name=\"start\"",
        "予約確認（患者様）",
        "患者様",
    ] {
        assert!(html.contains(shown), "{shown}");
    }
    // The header's search box finds it by reference, in any spelling.
    let found = console
        .get(&format!(
            "/staff/bookings?reference={}",
            reference.to_lowercase()
        ))
        .await;
    assert_eq!(location(&found), format!("/staff/bookings/{reference}"));
    assert_eq!(console.get("/staff/bookings/ZZZZ-ZZZZ").await.status(), 404);
    assert!(has(
        &audit_actions(&app, &token).await,
        "reception-1",
        "booking.viewed"
    ));
}

async fn checking_a_patient_in_marks_the_booking_arrived_with_a_message_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "reception-1").await;
    let day = open_day(3);
    let booked = app.book(&local(day, "10:00")).await;
    let reference = reference(&booked);
    let console = Console::sign_in(&app, &token).await;
    // From the day's list, back to the day.
    let day_page = console.page(&format!("/staff/day/{day}")).await;
    assert!(day_page.contains(&format!("id=\"check-in-{reference}\"")));
    let back = format!("/staff/day/{day}#slot-1000");
    let response = console
        .post(
            &format!("/staff/bookings/{reference}/status"),
            &[("status", "arrived"), ("back", &back)],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), back);
    let html = console.page(&format!("/staff/day/{day}")).await;
    assert!(html.contains(&format!("{reference} を「受付済」にしました。")));
    assert!(html.contains("badge status-arrived"));
    // The message is shown once.
    let again = console.page(&format!("/staff/day/{day}")).await;
    assert!(!again.contains("にしました。"));
    let view = staff_view(&app, &token, &reference).await;
    assert_eq!(view["status"], "arrived");
    assert!(view["arrived_at"].is_string());
    assert!(has(
        &audit_actions(&app, &token).await,
        "reception-1",
        "booking.status_changed"
    ));
    // Then completed, a no-show correction and back, from the booking page.
    for (status, label) in [
        ("completed", "来院済み"),
        ("no_show", "無断キャンセル（来院なし）"),
        ("confirmed", "予約確定"),
    ] {
        let html = console
            .act(
                &format!("/staff/bookings/{reference}/status"),
                &[("status", status)],
            )
            .await;
        assert!(
            html.contains(&format!("{reference} を「{label}」にしました。")),
            "{status}"
        );
        assert_eq!(staff_view(&app, &token, &reference).await["status"], status);
    }
    // A page elsewhere is never where `back` leads.
    let response = console
        .post(
            &format!("/staff/bookings/{reference}/status"),
            &[("status", "arrived"), ("back", "https://evil.example/")],
        )
        .await;
    assert_eq!(location(&response), format!("/staff/bookings/{reference}"));
}

async fn a_refused_action_says_why_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let booked = app.book(&local(open_day(3), "10:00")).await;
    let reference = reference(&booked);
    let console = Console::sign_in(&app, &token).await;
    console
        .act(
            &format!("/staff/bookings/{reference}/status"),
            &[("status", "arrived")],
        )
        .await;
    // A patient who arrived is not cancelled (set back to confirmed first).
    let html = console
        .act(&format!("/staff/bookings/{reference}/cancel"), &[])
        .await;
    assert!(
        html.contains("現在の予約状態ではこの操作はできません。"),
        "{html}"
    );
    assert!(html.contains("class=\"flash-error\""));
    assert_eq!(
        staff_view(&app, &token, &reference).await["status"],
        "arrived"
    );
    // An unknown status is refused too.
    let html = console
        .act(
            &format!("/staff/bookings/{reference}/status"),
            &[("status", "lost")],
        )
        .await;
    assert!(html.contains("状態の内容が正しくありません。"));
    assert_eq!(
        staff_view(&app, &token, &reference).await["status"],
        "arrived"
    );
}

async fn cancelling_from_the_console_frees_the_slot_and_mails_the_patient(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(3);
    let booked = app.book(&local(day, "10:00")).await;
    let reference = reference(&booked);
    let console = Console::sign_in(&app, &token).await;
    let html = console
        .act(&format!("/staff/bookings/{reference}/cancel"), &[])
        .await;
    assert!(html.contains("キャンセルしました。患者様にキャンセルのメールをお送りします。"));
    assert_eq!(
        staff_view(&app, &token, &reference).await["status"],
        "cancelled"
    );
    assert!(app.slot_available(day, &local(day, "10:00")).await);
    let mails = app
        .mail
        .wait_for(1, Duration::from_secs(15), |mail| {
            mail.is_to("taro@example.jp") && mail.text().contains("キャンセルを承りました")
        })
        .await;
    assert_eq!(mails.len(), 1, "the patient is told");
    // The cancelled booking can be confirmed again from its page.
    assert!(html.contains("予約を復活する"));
}

async fn moving_a_booking_to_a_free_slot_mails_the_patient(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(3);
    let booked = app.book(&local(day, "10:00")).await;
    app.book(&local(day, "11:00")).await;
    let reference = reference(&booked);
    let console = Console::sign_in(&app, &token).await;
    let html = console
        .page(&format!("/staff/bookings/{reference}?from={day}"))
        .await;
    let free = local(day, "15:00");
    assert!(
        html.contains(&format!("value=\"{free}\"")),
        "the picker offers 15:00"
    );
    assert!(
        !html.contains(&format!("value=\"{}\"", local(day, "11:00"))),
        "not a taken one"
    );

    // A taken slot: the page again with the reason and free neighbours.
    let response = console
        .post(
            &format!("/staff/bookings/{reference}/move"),
            &[("start", &local(day, "11:00")), ("from", &day.to_string())],
        )
        .await;
    assert_eq!(response.status(), 409);
    let html = response.text().await.unwrap();
    assert!(html.contains("ご希望の枠はすでに埋まっています。"));
    assert!(html.contains("近い時間の空き枠"));
    // A closed day: the reason beside the picker.
    let response = console
        .post(
            &format!("/staff/bookings/{reference}/move"),
            &[("start", &local(sunday(1), "10:00"))],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("休診日です"));
    assert_eq!(
        staff_view(&app, &token, &reference).await["start"],
        booked["start"]
    );

    let html = console
        .act(
            &format!("/staff/bookings/{reference}/move"),
            &[("start", &free), ("from", &day.to_string())],
        )
        .await;
    assert!(html.contains("日時を変更しました。患者様に変更のメールをお送りします。"));
    let view = staff_view(&app, &token, &reference).await;
    assert!(view["start"].as_str().unwrap().starts_with(&free));
    assert!(app.slot_available(day, &local(day, "10:00")).await);
    let mails = app
        .mail
        .wait_for(1, Duration::from_secs(15), |mail| {
            mail.is_to("taro@example.jp") && mail.text().contains("日時を、以下のとおり変更")
        })
        .await;
    assert_eq!(mails.len(), 1, "the patient is told");
    assert!(mails[0].text().contains("15:00"), "the new time");
}

async fn a_staff_note_is_saved_and_a_too_long_one_comes_back_as_typed(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let reference = reference(&app.book(&local(open_day(3), "10:00")).await);
    let console = Console::sign_in(&app, &token).await;
    let html = console
        .act(
            &format!("/staff/bookings/{reference}/note"),
            &[("staff_note", "保険証を確認 <script>")],
        )
        .await;
    assert!(html.contains("スタッフメモを保存しました。"));
    assert!(html.contains("保険証を確認 &#60;script&#62;"));
    assert_eq!(
        staff_view(&app, &token, &reference).await["staff_note"],
        "保険証を確認 <script>"
    );
    // The longest note a browser sends percent-encoded (18 KB).
    let longest = "長".repeat(2000);
    console
        .act(
            &format!("/staff/bookings/{reference}/note"),
            &[("staff_note", &longest)],
        )
        .await;
    assert_eq!(
        staff_view(&app, &token, &reference).await["staff_note"],
        longest.as_str()
    );
    console
        .act(
            &format!("/staff/bookings/{reference}/note"),
            &[("staff_note", "保険証を確認 <script>")],
        )
        .await;
    let long = "長".repeat(2001);
    let response = console
        .post(
            &format!("/staff/bookings/{reference}/note"),
            &[("staff_note", &long)],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("スタッフメモが長すぎます。"));
    assert!(html.contains(&long), "what was typed is kept");
    assert_eq!(
        staff_view(&app, &token, &reference).await["staff_note"],
        "保険証を確認 <script>"
    );
}

async fn send_inquiry(app: &TestApp, name: &str, category: &str) -> String {
    let response = app
        .post_json(
            "/api/v1/inquiries",
            &json!({"name": name, "email": "hanako@example.jp", "category": category,
                    "message": "費用について教えてください。", "consent": true}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["reference"].as_str().unwrap().to_string()
}

async fn the_inquiry_inbox_lists_unread_first_and_filters(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let old_unread = send_inquiry(&app, "古い 未読", "treatment").await;
    let taken_on = send_inquiry(&app, "対応 中子", "reservation").await;
    let new_unread = send_inquiry(&app, "新しい 未読", "general").await;
    let console = Console::sign_in(&app, &token).await;
    console
        .act(
            &format!("/staff/inquiries/{taken_on}/status"),
            &[("status", "in_progress")],
        )
        .await;
    let html = console.page("/staff/inquiries").await;
    let at = |reference: &str| html.find(reference).expect(reference);
    assert!(at(&new_unread) < at(&old_unread), "newest unread first");
    assert!(at(&old_unread) < at(&taken_on), "unread before in progress");
    assert!(html.contains("未対応") && html.contains("対応中"));
    let filtered = console
        .page("/staff/inquiries?status=received&category=treatment")
        .await;
    assert!(filtered.contains(&old_unread));
    assert!(!filtered.contains(&new_unread) && !filtered.contains(&taken_on));
    assert!(filtered.contains("id=\"status-received\" checked"));
    assert!(has(
        &audit_actions(&app, &token).await,
        "desk",
        "inquiries.listed"
    ));
}

async fn an_inquiry_gets_its_status_and_note_from_its_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let inquiry = send_inquiry(&app, "問合 <i>花子</i>", "treatment").await;
    let console = Console::sign_in(&app, &token).await;
    let html = console.page(&format!("/staff/inquiries/{inquiry}")).await;
    assert!(html.contains("問合 &#60;i&#62;花子&#60;/i&#62;"));
    assert!(html.contains("費用について教えてください。"));
    assert!(html.contains("治療について"));
    let html = console
        .act(
            &format!("/staff/inquiries/{inquiry}/status"),
            &[("status", "closed")],
        )
        .await;
    assert!(html.contains("を「完了」にしました。"));
    let html = console
        .act(
            &format!("/staff/inquiries/{inquiry}/note"),
            &[("staff_note", "電話で回答済み")],
        )
        .await;
    assert!(html.contains("電話で回答済み"));
    let view: Value = staff_get(&app, &token, &format!("/api/v1/staff/inquiries/{inquiry}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "closed");
    assert_eq!(view["staff_note"], "電話で回答済み");
    let actions = audit_actions(&app, &token).await;
    for action in [
        "inquiry.viewed",
        "inquiry.status_changed",
        "inquiry.staff_note_changed",
    ] {
        assert!(has(&actions, "desk", action), "{action}");
    }
}

async fn a_closure_is_added_with_the_bookings_inside_and_removed(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(3);
    let inside = book_as(&app, &local(day, "15:00"), "休診 影響子", "consultation").await;
    let console = Console::sign_in(&app, &token).await;
    let empty = console.page("/staff/closures").await;
    assert!(empty.contains("今後の休診設定はありません。"));
    // An end before the start: the form again, as it was filled in.
    let response = console
        .post(
            "/staff/closures",
            &[
                ("kind", "hours"),
                ("date", &day.to_string()),
                ("start", "16:00"),
                ("end", "14:00"),
                ("reason", "院長不在"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("終了日は開始日以降の日付にしてください。"));
    assert!(html.contains("<option value=\"16:00\" selected>"));
    assert!(html.contains("value=\"院長不在\""));

    let response = console
        .post(
            "/staff/closures",
            &[
                ("kind", "hours"),
                ("date", &day.to_string()),
                ("start", "14:00"),
                ("end", "18:30"),
                ("reason", "院長不在"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let target = location(&response);
    assert!(target.starts_with("/staff/closures#closure-"));
    let html = console.page("/staff/closures").await;
    assert!(html.contains("確定済みの予約が1件あります"));
    assert!(html.contains("14:00〜18:30"));
    assert!(html.contains("休診 影響子"));
    assert!(html.contains("090-1234-5678"));
    assert!(html.contains(&reference(&inside)));
    assert!(!app.slot_available(day, &local(day, "16:00")).await);
    let closures: Value = staff_get(&app, &token, "/api/v1/staff/closures")
        .await
        .json()
        .await
        .unwrap();
    let id = closures["items"][0]["id"].as_i64().unwrap();
    assert_eq!(closures["items"][0]["created_by"], "desk");
    // The booking inside stays booked, with the closure on its trail.
    assert_eq!(
        staff_view(&app, &token, &reference(&inside)).await["status"],
        "confirmed"
    );
    // A whole day.
    let html = console
        .act(
            "/staff/closures",
            &[
                ("kind", "day"),
                ("date", &open_day(5).to_string()),
                ("reason", ""),
            ],
        )
        .await;
    assert!(html.contains("終日"));
    assert!(html.contains("この時間に確定済みの予約はありません。"));

    let html = console
        .act(&format!("/staff/closures/{id}/delete"), &[])
        .await;
    assert!(html.contains("休診設定を削除しました。"));
    assert!(app.slot_available(day, &local(day, "16:00")).await);
    let actions = audit_actions(&app, &token).await;
    for action in [
        "closure.created",
        "closure.deleted",
        "booking.inside_closure",
    ] {
        assert!(has(&actions, "desk", action), "{action}");
    }
    // Removing it again: not found.
    let again = console
        .post(&format!("/staff/closures/{id}/delete"), &[])
        .await;
    assert_eq!(again.status(), 404);
}

async fn a_failed_message_is_listed_and_sent_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    app.mail.reject_with_550();
    let booked = app.book(&local(open_day(3), "10:00")).await;
    let reference = reference(&booked);
    let console = Console::sign_in(&app, &token).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let html = loop {
        let html = console.page("/staff/mail").await;
        if html.matches("再送する</button>").count() == 2 {
            break html;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never failed: {html}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(html.contains(&reference));
    assert!(html.contains("550"));
    assert!(!html.contains("taro@example.jp"), "no address");
    let id = html
        .split("action=\"/staff/mail/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string();
    app.mail.accept_again();
    let html = console.act(&format!("/staff/mail/{id}/requeue"), &[]).await;
    assert!(html.contains("送信待ちに戻しました"));
    let mails = app
        .mail
        .wait_for(1, Duration::from_secs(15), |mail| {
            mail.text().contains(&reference)
        })
        .await;
    assert!(!mails.is_empty(), "sent once requeued");
    assert!(has(
        &audit_actions(&app, &token).await,
        "desk",
        "outbox.retried"
    ));
    // Only a failed message is sent again.
    let html = console.act(&format!("/staff/mail/{id}/requeue"), &[]).await;
    assert!(html.contains("再送できません"));
}

async fn the_patients_slot_picker_offers_nothing_inside_a_closure(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "desk").await;
    let day = open_day(3);
    let closure = staff_post(
        &app,
        &token,
        "/api/v1/staff/closures",
        json!({"start": local(day, "14:00"), "end": local(day, "16:00")}),
    )
    .await;
    assert_eq!(closure.status(), 201);
    let html = app
        .get(&format!("/reserve?from={day}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("value=\"{}\"", local(day, "13:30"))));
    for closed in ["14:00", "14:30", "15:00", "15:30"] {
        assert!(
            !html.contains(&format!("value=\"{}\"", local(day, closed))),
            "{closed} is closed"
        );
    }
    assert!(html.contains(&format!("value=\"{}\"", local(day, "16:00"))));
}

backend_tests!(
    the_day_shows_every_slot_with_its_bookings_free_seats_and_closures,
    a_closed_day_says_so_and_still_lists_its_bookings,
    the_week_shows_seven_days_with_counts_and_names,
    the_booking_page_shows_what_the_patient_gave_and_its_trail,
    checking_a_patient_in_marks_the_booking_arrived_with_a_message_once,
    a_refused_action_says_why_and_changes_nothing,
    cancelling_from_the_console_frees_the_slot_and_mails_the_patient,
    moving_a_booking_to_a_free_slot_mails_the_patient,
    a_staff_note_is_saved_and_a_too_long_one_comes_back_as_typed,
    the_inquiry_inbox_lists_unread_first_and_filters,
    an_inquiry_gets_its_status_and_note_from_its_page,
    a_closure_is_added_with_the_bookings_inside_and_removed,
    a_failed_message_is_listed_and_sent_again,
    the_patients_slot_picker_offers_nothing_inside_a_closure,
);
