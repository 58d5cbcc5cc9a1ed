use crate::helpers::{spawn_app, Backend};

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
