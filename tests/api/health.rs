use crate::helpers::{booking_body, open_day, spawn_app, Backend};

async fn healthz_answers_while_the_process_is_up(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
}

async fn readyz_answers_when_the_database_is_reachable_and_migrated(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
}

async fn readyz_fails_while_a_migration_is_pending(backend: Backend) {
    use diesel::connection::SimpleConnection;
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    // Forget the newest migration, as if a newer binary's migration had not
    // run yet.
    let settings = clinic_booking::configuration::Settings::defaults().unwrap();
    let db = clinic_booking::db::Db::connect(&settings.database, &app.database_url()).unwrap();
    db.connection()
        .unwrap()
        .batch_execute(
            "DELETE FROM __diesel_schema_migrations WHERE version = \
             (SELECT MAX(version) FROM __diesel_schema_migrations)",
        )
        .unwrap();
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(app.get("/healthz").await.status(), 200, "still alive");
}

/// Once SQLite's log cannot be synced to the disk, the instance stops
/// taking bookings for good and says so: bookings are refused with
/// problem+json, readiness fails (a balancer stops sending patients here),
/// liveness still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_writes_and_is_not_ready_after_a_failed_sync() {
    let app = spawn_app(Backend::Sqlite).await;
    let day = open_day(3);
    app.book(&format!("{day}T10:00:00+09:00")).await;
    let url = app.database_url();
    let wal = format!(
        "{}-wal",
        url.strip_prefix("sqlite://").expect("a SQLite URL")
    );
    std::fs::remove_file(&wal).expect("the WAL file");

    // The first write after that is committed but cannot be synced (or, if
    // the mail worker's write hit the failed sync first, is refused): its
    // outcome is unknown, and it is answered as every later write is.
    let unsynced = app
        .post_booking(&booking_body(&format!("{day}T10:30:00+09:00")))
        .await;
    assert_eq!(unsynced.status(), 503);
    assert_eq!(
        unsynced.headers()["content-type"],
        "application/problem+json"
    );

    // A sync would succeed now; writes are refused all the same.
    std::fs::write(&wal, b"").unwrap();
    let refused = app
        .post_booking(&booking_body(&format!("{day}T11:00:00+09:00")))
        .await;
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "/problems/service-unavailable", "{body}");
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200, "still alive");
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/healthz").await;
    assert!(response.headers().get("x-request-id").is_some());
}

crate::backend_tests!(
    readyz_fails_while_a_migration_is_pending,
    healthz_answers_while_the_process_is_up,
    readyz_answers_when_the_database_is_reachable_and_migrated,
    every_response_carries_a_request_id,
);
