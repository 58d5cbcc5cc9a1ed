//! HTTP routes, one module per resource; handlers stay thin.

pub mod answers;
pub mod availability;
pub mod bookings;
pub mod bursts;
pub mod clinic;
pub mod fhir;
pub mod health;
pub mod idempotency;
pub mod input;
pub(crate) mod inquiries;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod practitioners;
pub mod site;
pub mod staff;
pub mod waitlist;

use actix_web::{web, HttpRequest};

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|error, _| {
        ApiError::bad_request(None, format!("The query string is malformed: {error}")).into()
    }))
    .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
    .service(resource("/healthz", "GET").route(web::get().to(health::healthz)))
    .service(resource("/readyz", "GET").route(web::get().to(health::readyz)))
    .service(resource("/metrics", "GET").route(web::get().to(metrics::endpoint)))
    .service(
        utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
            .url("/api/v1/openapi.json", crate::routes::openapi::document()),
    )
    .service(resource("/docs", "GET").route(web::get().to(docs_redirect)))
    .service(
        web::scope("/api/v1")
            .service(resource("/clinic", "GET").route(web::get().to(clinic::show)))
            .service(resource("/availability", "GET").route(web::get().to(availability::list)))
            .service(resource("/practitioners", "GET").route(web::get().to(practitioners::list)))
            .service(resource("/bookings", "POST").route(web::post().to(bookings::create)))
            .service(resource("/bookings/{reference}", "GET").route(web::get().to(bookings::show)))
            .service(
                resource("/bookings/{reference}/cancel", "POST")
                    .route(web::post().to(bookings::cancel)),
            )
            .service(
                resource("/bookings/{reference}/reschedule", "POST")
                    .route(web::post().to(bookings::reschedule)),
            )
            .service(
                resource("/bookings/{reference}/answers", "GET, PUT")
                    .route(web::get().to(answers::show))
                    .route(web::put().to(answers::update)),
            )
            .service(resource("/articles", "GET").route(web::get().to(site::articles::list)))
            .service(resource("/articles/{slug}", "GET").route(web::get().to(site::articles::show)))
            .service(resource("/inquiries", "POST").route(web::post().to(inquiries::create)))
            .service(resource("/waitlist", "POST").route(web::post().to(waitlist::create)))
            .service(resource("/waitlist/{reference}", "GET").route(web::get().to(waitlist::show)))
            .service(
                resource("/waitlist/{reference}/cancel", "POST")
                    .route(web::post().to(waitlist::cancel)),
            )
            .service(
                resource("/waitlist/{reference}/accept", "POST")
                    .route(web::post().to(waitlist::accept)),
            )
            .service(web::scope("/staff").configure(staff::configure)),
    )
    .service(web::scope("/staff").configure(staff::console::configure))
    .configure(fhir::configure)
    .configure(site::configure)
    .default_service(web::to(not_found));
}

/// A resource that answers 405 with `Allow` (not the app's 404) to a method
/// it does not serve, as HTTP clients and the OpenAPI description expect.
pub fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed { allow })
    }))
}

/// `/docs` without the slash: the UI lives under `/docs/`.
async fn docs_redirect() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// Every secret a request presents, the bearer header's first, then
/// `?token=`: a client may send a header meant for another API (a staff
/// token) beside the manage link's own token.
pub fn presented_tokens(req: &HttpRequest) -> Vec<String> {
    let bearer = presented_token(req);
    let query =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|query| query.get("token").cloned());
    bearer.into_iter().chain(query).collect()
}

/// A secret presented as `Authorization: Bearer ...` or, where a client
/// cannot send headers, as `?token=`.
pub fn presented_token(req: &HttpRequest) -> Option<String> {
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|token| token.trim().to_string());
    bearer.or_else(|| {
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|query| query.get("token").cloned())
    })
}
