//! Liveness and readiness for load balancers and orchestrators.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::db::Db;
use crate::error::ApiError;
use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = crate::routes::openapi::Status)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers, its schema is up to date, and it takes writes
/// (SQLite refuses them for good once its log could not be synced).
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations", responses(
    (status = 200, description = "Ready to serve", body = crate::routes::openapi::Status),
    (status = 503, description = "Database unreachable, migrations pending, or writes refused after a failed sync",
        body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(fault) = state.db.storage_fault() {
        return Err(ApiError::Unavailable(fault.to_string()));
    }
    let pending = state
        .db
        .read(|conn| Db::has_pending_migrations(conn).map_err(ApiError::Internal))
        .await
        .map_err(|error| ApiError::Unavailable(error.to_string()))?;
    if pending {
        return Err(ApiError::Unavailable(
            "database migrations are pending".into(),
        ));
    }
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}
