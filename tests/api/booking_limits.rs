//! What one patient may book: the cap on active bookings (by mailbox,
//! however it is spelled, and optionally by phone), on the API and the
//! reservation form, and the burst watch that tells staff.

use clinic_booking::configuration::Settings;
use clinic_booking::db::Db;
use diesel::RunQueryDsl;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{
    assert_problem, booking_body, local, manage_token, open_day, spawn_app_with, spawn_on, Backend,
    TestApp, TestDatabase,
};

/// An app with the cap on active bookings as configured by default (the
/// test settings turn it off), then `configure`.
async fn capped(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(backend, |settings| {
        settings.booking.max_active_per_contact =
            Settings::defaults().unwrap().booking.max_active_per_contact;
        configure(settings);
    })
    .await
}

fn body_as(start: &str, email: &str) -> Value {
    let mut body = booking_body(start);
    body["email"] = json!(email);
    body
}

async fn book_as(app: &TestApp, start: &str, email: &str) -> reqwest::Response {
    app.post_booking(&body_as(start, email)).await
}

/// Books `times` on `open_day(day)` for `email`, each a 201.
async fn book_all(app: &TestApp, day: i64, times: &[&str], email: &str) -> Vec<Value> {
    let mut booked = Vec::new();
    for time in times {
        let response = book_as(app, &local(open_day(day), time), email).await;
        assert_eq!(response.status(), 201, "{time} for {email}");
        booked.push(response.json().await.unwrap());
    }
    booked
}

async fn a_fourth_active_booking_for_one_mailbox_is_refused_with_too_many_active_bookings(
    backend: Backend,
) {
    let app = capped(backend, |_| {}).await;
    book_all(&app, 3, &["10:00", "10:30", "11:00"], "taro@example.jp").await;
    // The same mailbox, spelled another way.
    let start = local(open_day(3), "11:30");
    let refused = book_as(&app, &start, "Taro+clinic@Example.JP").await;
    let problem = assert_problem(refused, 409, "email", "too_many_active_bookings").await;
    assert_eq!(problem["type"], "/problems/too-many-active-bookings");
    assert!(problem["detail"].as_str().unwrap().contains('3'));
    assert!(app.slot_available(open_day(3), &start).await);
    // Another patient is not affected.
    assert_eq!(book_as(&app, &start, "jiro@example.jp").await.status(), 201);
}

async fn a_cancelled_booking_frees_its_place_under_the_cap(backend: Backend) {
    let app = capped(backend, |_| {}).await;
    let booked = book_all(&app, 3, &["10:00", "10:30", "11:00"], "taro@example.jp").await;
    let start = local(open_day(4), "10:00");
    assert_eq!(book_as(&app, &start, "taro@example.jp").await.status(), 409);
    let reference = booked[0]["reference"].as_str().unwrap();
    let cancelled = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{reference}/cancel?token={}",
            manage_token(&booked[0])
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    assert_eq!(book_as(&app, &start, "taro@example.jp").await.status(), 201);
}

async fn a_patient_at_the_cap_may_still_move_a_booking(backend: Backend) {
    let app = capped(backend, |_| {}).await;
    let booked = book_all(&app, 3, &["10:00", "10:30", "11:00"], "taro@example.jp").await;
    let reference = booked[2]["reference"].as_str().unwrap();
    let moved = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{reference}/reschedule?token={}",
            manage_token(&booked[2])
        )))
        .json(&json!({"start": local(open_day(5), "15:00")}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
}

async fn gmail_dots_and_googlemail_are_one_mailbox(backend: Backend) {
    let app = capped(backend, |_| {}).await;
    for (time, email) in [
        ("10:00", "taro.yamada@gmail.com"),
        ("10:30", "taroyamada@googlemail.com"),
        ("11:00", "Taro.Yama.Da+x@gmail.com"),
    ] {
        book_all(&app, 3, &[time], email).await;
    }
    let refused = book_as(
        &app,
        &local(open_day(3), "11:30"),
        "t.a.r.o.yamada@gmail.com",
    )
    .await;
    assert_problem(refused, 409, "email", "too_many_active_bookings").await;
    // Outside Gmail a dot makes another mailbox.
    book_all(
        &app,
        4,
        &["10:00", "10:30", "11:00"],
        "taro.yamada@example.jp",
    )
    .await;
    assert_eq!(
        book_as(&app, &local(open_day(4), "11:30"), "taroyamada@example.jp")
            .await
            .status(),
        201
    );
}

async fn one_phone_number_is_capped_only_when_cap_by_phone_is_set(backend: Backend) {
    let by_mail = capped(backend, |_| {}).await;
    let by_phone = capped(backend, |s| s.booking.cap_by_phone = true).await;
    for app in [&by_mail, &by_phone] {
        for (time, email) in [
            ("10:00", "a@example.jp"),
            ("10:30", "b@example.jp"),
            ("11:00", "c@example.jp"),
        ] {
            assert_eq!(
                book_as(app, &local(open_day(3), time), email)
                    .await
                    .status(),
                201
            );
        }
    }
    let mut fourth = body_as(&local(open_day(3), "11:30"), "d@example.jp");
    // The same number, typed another way.
    fourth["phone"] = json!("09012345678");
    assert_eq!(by_mail.post_booking(&fourth).await.status(), 201);
    assert_problem(
        by_phone.post_booking(&fourth).await,
        409,
        "email",
        "too_many_active_bookings",
    )
    .await;
}

async fn the_cap_is_a_setting_and_zero_turns_it_off(backend: Backend) {
    let one = capped(backend, |s| s.booking.max_active_per_contact = 1).await;
    book_all(&one, 3, &["10:00"], "taro@example.jp").await;
    assert_eq!(
        book_as(&one, &local(open_day(3), "10:30"), "taro@example.jp")
            .await
            .status(),
        409
    );
    let off = capped(backend, |s| s.booking.max_active_per_contact = 0).await;
    book_all(
        &off,
        3,
        &["10:00", "10:30", "11:00", "11:30", "12:00"],
        "taro@example.jp",
    )
    .await;
}

async fn parallel_bookings_for_one_mailbox_never_pass_the_cap(backend: Backend) {
    let app = capped(backend, |_| {}).await;
    let times = [
        "10:00", "10:30", "11:00", "11:30", "12:00", "12:30", "13:00", "13:30",
    ];
    let answers = futures_util::future::join_all(times.iter().map(|time| {
        let app = &app;
        async move {
            book_as(app, &local(open_day(3), time), "taro@example.jp")
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    let made = answers.iter().filter(|status| **status == 201).count();
    let refused = answers.iter().filter(|status| **status == 409).count();
    assert_eq!((made, refused), (3, 5), "{answers:?}");
}

async fn the_reservation_form_shows_the_cap_beside_the_email_and_keeps_what_was_typed(
    backend: Backend,
) {
    let app = capped(backend, |s| s.forms.min_fill_seconds = 0).await;
    book_all(&app, 3, &["10:00", "10:30", "11:00"], "hanako@example.jp").await;
    let html = app.get("/reserve").await.text().await.unwrap();
    let marker = "name=\"form_token\" value=\"";
    let at = html.find(marker).unwrap() + marker.len();
    let token = html[at..].split('"').next().unwrap().to_string();
    let start = local(open_day(4), "10:00");
    let fields = [
        ("form_token", token.as_str()),
        ("website", ""),
        ("type", "consultation"),
        ("start", start.as_str()),
        ("name", "予約 花子"),
        ("email", "Hanako+2@example.jp"),
        ("phone", "090-1234-5678"),
        ("message", "膝が痛みます。"),
        ("consent", "true"),
    ];
    let response = app
        .client
        .post(app.url("/reserve"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("data-code=\"too_many_active_bookings\""),
        "{html}"
    );
    assert!(html.contains("id=\"email-error\""));
    assert!(html.contains("ご予約の数の上限"));
    assert!(html.contains("value=\"Hanako+2@example.jp\""));
    assert!(html.contains("膝が痛みます。"));
    assert!(html.contains(&format!("value=\"{start}\" checked")));
    assert!(app.slot_available(open_day(4), &start).await);
}

async fn bookings_made_before_the_cap_existed_count_against_it(backend: Backend) {
    let db = TestDatabase::create(backend);
    let cap = |s: &mut Settings| {
        s.booking.max_active_per_contact =
            Settings::defaults().unwrap().booking.max_active_per_contact
    };
    let app = spawn_on(db.clone(), cap).await;
    book_all(&app, 3, &["10:00", "10:30", "11:00"], "taro@example.jp").await;
    app.stop().await;
    // As a database from before the upgrade holds them: without a key.
    let settings = Settings::defaults().unwrap();
    let old = Db::connect(&settings.database, &db.url).unwrap();
    diesel::sql_query("UPDATE bookings SET mailbox_hash = NULL")
        .execute(&mut *old.connection().unwrap())
        .unwrap();
    drop(old);
    let upgraded = spawn_on(db, cap).await;
    let refused = book_as(&upgraded, &local(open_day(3), "11:30"), "taro@example.jp").await;
    assert_problem(refused, 409, "email", "too_many_active_bookings").await;
}

/// The value of a counter line of the process's metrics (the test apps
/// share one recorder; compare before and after).
fn counter(name_and_labels: &str) -> f64 {
    clinic_booking::metrics::handle()
        .render()
        .lines()
        .find(|line| line.starts_with(name_and_labels))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

async fn a_mailbox_booking_and_cancelling_in_a_burst_is_counted_for_staff(backend: Backend) {
    let app = capped(backend, |s| {
        s.booking.burst_bookings = 3;
        s.booking.burst_window_minutes = 60;
    })
    .await;
    let burst = "bookings_in_bursts_total{by=\"mailbox\"}";
    let over_cap = "bookings_refused_over_cap_total";
    let first = book_all(&app, 3, &["10:00", "10:30"], "taro@example.jp").await;
    let before = counter(burst);
    // Book, cancel, book again: under the cap, but a burst.
    let reference = first[0]["reference"].as_str().unwrap();
    app.client
        .post(app.url(&format!(
            "/api/v1/bookings/{reference}/cancel?token={}",
            manage_token(&first[0])
        )))
        .send()
        .await
        .unwrap();
    book_all(&app, 3, &["11:00"], "Taro@example.jp").await;
    assert!(
        counter(burst) >= before + 1.0,
        "the third booking is a burst"
    );
    let refusals = counter(over_cap);
    book_all(&app, 3, &["11:30"], "taro@example.jp").await;
    assert!(counter(burst) >= before + 2.0);
    book_as(&app, &local(open_day(3), "12:00"), "taro@example.jp").await;
    assert!(counter(over_cap) >= refusals + 1.0);
}

async fn one_client_address_booking_under_many_names_in_a_burst_is_counted_for_staff(
    backend: Backend,
) {
    let app = capped(backend, |s| {
        s.booking.burst_bookings = 3;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let burst = "bookings_in_bursts_total{by=\"client\"}";
    let from = |client: &'static str, time: &'static str, email: &'static str| {
        app.client
            .post(app.url("/api/v1/bookings"))
            .header("x-forwarded-for", client)
            .json(&body_as(&local(open_day(3), time), email))
            .send()
    };
    let before = counter(burst);
    for (time, email) in [("10:00", "a@example.jp"), ("10:30", "b@example.jp")] {
        assert_eq!(
            from("203.0.113.7", time, email).await.unwrap().status(),
            201
        );
    }
    // Another client between them does not make it a burst of either.
    assert_eq!(
        from("198.51.100.3", "11:00", "c@example.jp")
            .await
            .unwrap()
            .status(),
        201
    );
    let quiet = counter(burst);
    assert_eq!(
        from("203.0.113.7", "11:30", "d@example.jp")
            .await
            .unwrap()
            .status(),
        201
    );
    assert!(
        counter(burst) >= quiet + 1.0,
        "the third booking of one client"
    );
    assert!(quiet >= before);
}

backend_tests!(
    one_client_address_booking_under_many_names_in_a_burst_is_counted_for_staff,
    a_fourth_active_booking_for_one_mailbox_is_refused_with_too_many_active_bookings,
    a_cancelled_booking_frees_its_place_under_the_cap,
    a_patient_at_the_cap_may_still_move_a_booking,
    gmail_dots_and_googlemail_are_one_mailbox,
    one_phone_number_is_capped_only_when_cap_by_phone_is_set,
    the_cap_is_a_setting_and_zero_turns_it_off,
    parallel_bookings_for_one_mailbox_never_pass_the_cap,
    the_reservation_form_shows_the_cap_beside_the_email_and_keeps_what_was_typed,
    bookings_made_before_the_cap_existed_count_against_it,
    a_mailbox_booking_and_cancelling_in_a_burst_is_counted_for_staff,
);
