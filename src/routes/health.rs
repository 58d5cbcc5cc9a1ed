//! Liveness and readiness for load balancers and orchestrators.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::db::Db;
use crate::error::ApiError;
use crate::startup::AppState;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers and its schema is up to date.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
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
