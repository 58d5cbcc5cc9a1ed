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

async fn every_response_carries_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/healthz").await;
    assert!(response.headers().get("x-request-id").is_some());
}

crate::backend_tests!(
    healthz_answers_while_the_process_is_up,
    readyz_answers_when_the_database_is_reachable_and_migrated,
    every_response_carries_a_request_id,
);
