//! HTTP routes, one module per resource; handlers stay thin.

mod availability;
mod bookings;
mod clinic;
mod health;
pub mod idempotency;
pub mod input;
pub mod staff;

use actix_web::{web, HttpRequest};

use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|error, _| {
        ApiError::bad_request(None, format!("The query string is malformed: {error}")).into()
    }))
    .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .service(
        web::scope("/api/v1")
            .route("/clinic", web::get().to(clinic::show))
            .route("/availability", web::get().to(availability::list))
            .route("/bookings", web::post().to(bookings::create))
            .route("/bookings/{reference}", web::get().to(bookings::show))
            .route(
                "/bookings/{reference}/cancel",
                web::post().to(bookings::cancel),
            )
            .route(
                "/bookings/{reference}/reschedule",
                web::post().to(bookings::reschedule),
            )
            .service(web::scope("/staff").configure(staff::configure)),
    )
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
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
