use serde_json::json;

use crate::helpers::{booking_body, local, open_day, spawn_app_with, Backend, TestApp};
use crate::staff_helpers::staff_token;

async fn limited(backend: Backend, posts: u32, manage: u32, trusted: &[&str]) -> TestApp {
    let trusted: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
    spawn_app_with(backend, move |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.public_posts_per_minute = posts;
        s.rate_limit.manage_attempts_per_minute = manage;
        s.rate_limit.trusted_proxies = trusted;
    })
    .await
}

async fn get_from(app: &TestApp, forwarded_for: &str, path: &str) -> u16 {
    app.client
        .get(app.url(path))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn post_from(app: &TestApp, forwarded_for: Option<&str>, slot: &str) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/bookings"))
        .json(&booking_body(&local(open_day(3), slot)));
    if let Some(hop) = forwarded_for {
        request = request.header("x-forwarded-for", hop);
    }
    request.send().await.unwrap()
}

async fn public_posts_over_the_budget_get_a_429_problem_with_retry_after(backend: Backend) {
    let app = limited(backend, 3, 60, &[]).await;
    for slot in ["10:00", "10:30", "11:00"] {
        assert_eq!(post_from(&app, None, slot).await.status(), 201);
    }
    let refused = post_from(&app, None, "11:30").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    // The refused booking was not made.
    assert!(
        app.slot_available(open_day(3), &format!("{}T11:30", open_day(3)))
            .await
    );
}

async fn guessing_manage_tokens_is_limited(backend: Backend) {
    let app = limited(backend, 30, 5, &[]).await;
    for _ in 0..5 {
        assert_eq!(
            app.get("/api/v1/bookings/ABCD-EFGH?token=guess")
                .await
                .status(),
            404
        );
    }
    assert_eq!(
        app.get("/api/v1/bookings/ABCD-EFGH?token=guess")
            .await
            .status(),
        429
    );
}

async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(backend: Backend) {
    let app = limited(backend, 2, 60, &[]).await;
    assert_eq!(
        post_from(&app, Some("203.0.113.1"), "10:00").await.status(),
        201
    );
    assert_eq!(
        post_from(&app, Some("203.0.113.2"), "10:30").await.status(),
        201
    );
    assert_eq!(
        post_from(&app, Some("203.0.113.3"), "11:00").await.status(),
        429
    );
}

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(backend: Backend) {
    let app = limited(backend, 1, 60, &["127.0.0.1"]).await;
    assert_eq!(
        post_from(&app, Some("203.0.113.1"), "10:00").await.status(),
        201
    );
    assert_eq!(
        post_from(&app, Some("203.0.113.2"), "10:30").await.status(),
        201
    );
    assert_eq!(
        post_from(&app, Some("203.0.113.1"), "11:00").await.status(),
        429
    );
}

async fn the_429_speaks_english_when_asked(backend: Backend) {
    let app = limited(backend, 1, 60, &[]).await;
    post_from(&app, None, "10:00").await;
    let refused = app
        .client
        .post(app.url("/api/v1/bookings"))
        .header("accept-language", "en")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(problem["title"], "Too many requests");
}

async fn the_thank_you_page_and_the_manage_pages_share_the_manage_budget(backend: Backend) {
    let app = limited(backend, 30, 4, &[]).await;
    let token = "x".repeat(43);
    for path in [
        format!("/reserve/thanks/ABCD-EFGH?token={token}"),
        format!("/manage/ABCD-EFGH?token={token}"),
        format!("/reserve/thanks/ABCD-EFGH?token={token}"),
        "/inquiry/thanks/ABCD-EFGH".to_string(),
    ] {
        assert_ne!(app.get(&path).await.status(), 429, "{path}");
    }
    assert_eq!(
        app.get(&format!("/reserve/thanks/ABCD-EFGH?token={token}"))
            .await
            .status(),
        429
    );
    assert_eq!(
        app.get("/api/v1/bookings/ABCD-EFGH?token=guess")
            .await
            .status(),
        429
    );
}

async fn trusted_proxies_may_be_ranges_and_ipv6_clients_count_by_their_64(backend: Backend) {
    let app = limited(backend, 60, 2, &["127.0.0.0/8", "fd00::/8"]).await;
    let path = "/api/v1/bookings/ABCD-EFGH?token=guess";
    // Two addresses of one /64 share a budget ...
    assert_eq!(get_from(&app, "2001:db8:0:1::1", path).await, 404);
    assert_eq!(get_from(&app, "2001:db8:0:1::2", path).await, 404);
    assert_eq!(get_from(&app, "2001:db8:0:1:abcd::3", path).await, 429);
    // ... another /64 has its own.
    assert_eq!(get_from(&app, "2001:db8:0:2::1", path).await, 404);
    // An IPv4-mapped address is the IPv4 client.
    assert_eq!(get_from(&app, "203.0.113.5", path).await, 404);
    assert_eq!(get_from(&app, "::ffff:203.0.113.5", path).await, 404);
    assert_eq!(get_from(&app, "203.0.113.5", path).await, 429);
    // A trusted proxy between the client and the one the service sees.
    assert_eq!(get_from(&app, "198.51.100.9, fd00::7", path).await, 404);
    assert_eq!(get_from(&app, "198.51.100.9, 127.0.0.5", path).await, 404);
    assert_eq!(get_from(&app, "198.51.100.9", path).await, 429);
}

async fn failed_staff_tokens_are_limited_but_staff_at_work_are_not(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.staff_auth_failures_per_minute = 3;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let token = staff_token(&app, "desk").await;
    let staff_get = |bearer: String, client: &'static str| {
        app.client
            .get(app.url("/api/v1/staff/closures"))
            .bearer_auth(bearer)
            .header("x-forwarded-for", client)
            .send()
    };
    for _ in 0..30 {
        let status = staff_get(token.clone(), "192.0.2.10")
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    for _ in 0..3 {
        let status = staff_get("x".repeat(43), "192.0.2.66")
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
    let refused = staff_get("x".repeat(43), "192.0.2.66").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        staff_get(token.clone(), "192.0.2.10")
            .await
            .unwrap()
            .status(),
        200
    );
}

crate::backend_tests!(
    the_thank_you_page_and_the_manage_pages_share_the_manage_budget,
    trusted_proxies_may_be_ranges_and_ipv6_clients_count_by_their_64,
    failed_staff_tokens_are_limited_but_staff_at_work_are_not,
    public_posts_over_the_budget_get_a_429_problem_with_retry_after,
    guessing_manage_tokens_is_limited,
    a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored,
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget,
    the_429_speaks_english_when_asked,
);
