use serde_json::Value;

use crate::helpers::{spawn_app, Backend};

/// Every operation the app serves under `/api/v1`, but the document itself.
/// A new route belongs here and in `src/openapi.rs`.
const API_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/clinic"),
    ("get", "/api/v1/availability"),
    ("get", "/api/v1/practitioners"),
    ("post", "/api/v1/bookings"),
    ("get", "/api/v1/bookings/{reference}"),
    ("post", "/api/v1/bookings/{reference}/cancel"),
    ("post", "/api/v1/bookings/{reference}/reschedule"),
    ("get", "/api/v1/bookings/{reference}/answers"),
    ("put", "/api/v1/bookings/{reference}/answers"),
    ("post", "/api/v1/inquiries"),
    ("get", "/api/v1/articles"),
    ("get", "/api/v1/articles/{slug}"),
    ("get", "/api/v1/staff/bookings"),
    ("get", "/api/v1/staff/bookings/{reference}"),
    ("patch", "/api/v1/staff/bookings/{reference}"),
    ("post", "/api/v1/staff/closures"),
    ("get", "/api/v1/staff/closures"),
    ("get", "/api/v1/staff/closures/{id}"),
    ("delete", "/api/v1/staff/closures/{id}"),
    ("get", "/api/v1/staff/calendar.ics"),
    ("get", "/api/v1/staff/audit"),
    ("get", "/api/v1/staff/inquiries"),
    ("get", "/api/v1/staff/inquiries/{reference}"),
    ("patch", "/api/v1/staff/inquiries/{reference}"),
    ("get", "/api/v1/staff/outbox"),
    ("post", "/api/v1/staff/outbox/{id}/retry"),
    ("delete", "/api/v1/staff/bookings/{reference}/personal-data"),
    (
        "delete",
        "/api/v1/staff/inquiries/{reference}/personal-data",
    ),
    ("get", "/api/v1/staff/webhooks/deliveries"),
    ("post", "/api/v1/staff/webhooks/deliveries/{id}/retry"),
    ("post", "/api/v1/waitlist"),
    ("get", "/api/v1/waitlist/{reference}"),
    ("post", "/api/v1/waitlist/{reference}/cancel"),
    ("post", "/api/v1/waitlist/{reference}/accept"),
    ("get", "/api/v1/staff/waitlist"),
    ("delete", "/api/v1/staff/waitlist/{reference}/personal-data"),
];

async fn description(app: &crate::helpers::TestApp) -> Value {
    let response = app.get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A concrete URL for a path template.
fn concrete(path: &str) -> String {
    path.replace("{reference}", "AAAA-AAAA")
        .replace("{slug}", "no-such-article")
        .replace("{id}", "1")
}

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

async fn every_api_route_is_described_and_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let document = description(&app).await;
    for (method, path) in API_ROUTES {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is described");
        assert!(
            operation["operationId"].is_string(),
            "{method} {path} has an operationId"
        );
        // The app routes it: an unsupported method would be a 405, an
        // unknown path the app's 404 for every method alike.
        let response = app
            .client
            .request(
                method.to_uppercase().parse().unwrap(),
                app.url(&concrete(path)),
            )
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), 405, "{method} {path} is served");
    }
    // The other way round: nothing is described that the list does not name
    // (so the list stays complete as routes are added).
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            assert!(
                API_ROUTES.contains(&(method.as_str(), path.as_str())),
                "{method} {path} is described: add it to API_ROUTES"
            );
        }
    }
}

async fn every_staff_operation_needs_the_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let document = description(&app).await;
    let scheme = &document["components"]["securitySchemes"]["staff_token"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let staff: Vec<_> = API_ROUTES
        .iter()
        .filter(|(_, path)| path.starts_with("/api/v1/staff/"))
        .collect();
    assert!(!staff.is_empty());
    for (method, path) in staff {
        let operation = &document["paths"][path][method];
        assert_eq!(
            operation["security"],
            serde_json::json!([{"staff_token": []}]),
            "{method} {path} declares the staff bearer token, and only it"
        );
        assert!(
            operation["responses"]["401"]["content"]["application/problem+json"].is_object(),
            "{method} {path} documents its 401"
        );
        // And the service enforces it.
        let response = app
            .client
            .request(
                method.to_uppercase().parse().unwrap(),
                app.url(&concrete(path)),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path} without a token");
    }
    let feed = &document["paths"]["/api/v1/staff/calendar.ics"]["get"];
    assert!(feed["responses"]["200"]["content"]
        .as_object()
        .unwrap()
        .keys()
        .any(|media| media.starts_with("text/calendar")));
    assert!(feed["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|parameter| parameter["name"] == "token" && parameter["in"] == "query"));
    let closure = &document["paths"]["/api/v1/staff/closures"]["post"]["responses"]["201"];
    assert!(closure["links"]["GetClosure"].is_object());
    assert!(closure["links"]["DeleteClosure"].is_object());
}

async fn an_unsupported_method_on_a_staff_resource_is_a_405_with_allow(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .put(app.url("/api/v1/staff/closures/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, DELETE");
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

/// A malformed Idempotency-Key is a 400 wherever the header is taken, so
/// every operation that takes it says so.
async fn every_operation_taking_an_idempotency_key_documents_its_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let document = description(&app).await;
    let mut taking = 0;
    for (method, path) in API_ROUTES {
        let operation = &document["paths"][path][method];
        let takes_key = operation["parameters"]
            .as_array()
            .is_some_and(|params| params.iter().any(|p| p["name"] == "Idempotency-Key"));
        if takes_key {
            taking += 1;
            assert!(
                operation["responses"]["400"].is_object(),
                "{method} {path} takes an Idempotency-Key: document its 400"
            );
        }
    }
    assert!(taking > 3, "the bookings and the waiting list take the key");
}

crate::backend_tests!(
    the_openapi_description_lists_every_public_operation,
    the_docs_ui_is_served_from_the_binary,
    an_unsupported_method_is_a_405_with_allow,
    every_api_route_is_described_and_served,
    every_staff_operation_needs_the_bearer_token,
    every_operation_taking_an_idempotency_key_documents_its_400,
    an_unsupported_method_on_a_staff_resource_is_a_405_with_allow,
);
