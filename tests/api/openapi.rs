use serde_json::Value;

use crate::helpers::{spawn_app, Backend};

async fn the_openapi_description_lists_every_public_operation(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/clinic",
        "/api/v1/availability",
        "/api/v1/bookings",
        "/api/v1/bookings/{reference}",
        "/api/v1/bookings/{reference}/cancel",
        "/api/v1/bookings/{reference}/reschedule",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is described");
    }
    let create = &document["paths"]["/api/v1/bookings"]["post"];
    assert!(create["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
    assert!(create["responses"]["409"]["content"]["application/problem+json"].is_object());
    assert!(create["responses"]["201"]["links"]["GetBooking"].is_object());
}

async fn the_docs_ui_is_served_from_the_binary(backend: Backend) {
    let app = spawn_app(backend).await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    let script = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(script.status(), 200);
    assert_eq!(app.get("/docs").await.status(), 302);
}

async fn an_unsupported_method_is_a_405_with_allow(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .delete(app.url("/api/v1/clinic"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

crate::backend_tests!(
    the_openapi_description_lists_every_public_operation,
    the_docs_ui_is_served_from_the_binary,
    an_unsupported_method_is_a_405_with_allow,
);
