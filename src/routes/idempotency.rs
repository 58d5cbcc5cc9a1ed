//! `Idempotency-Key` for public creates: the record and the remembered
//! response are committed in one transaction, so a retry gets the first
//! response and never a second record.

use actix_web::http::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use chrono::Utc;

use crate::db::idempotency::{self, StoredResponse};
use crate::db::{is_unique_violation, Db, DbConnection};
use crate::error::ApiError;

/// What a create produced: where the new record lives and its JSON.
pub struct Created {
    pub location: String,
    pub body: String,
}

/// A key given with a request, and the fingerprint of that request's body.
pub struct IdempotentRequest {
    pub scope: &'static str,
    pub key: Option<String>,
    pub fingerprint: String,
}

fn replay(stored: StoredResponse, fingerprint: &str) -> Result<HttpResponse, ApiError> {
    if stored.request_hash != fingerprint {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let status = u16::try_from(stored.status_code)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    response.insert_header((CONTENT_TYPE, "application/json"));
    response.insert_header(("Idempotent-Replayed", HeaderValue::from_static("true")));
    if let Some(location) = stored.location {
        response.insert_header((LOCATION, location));
    }
    Ok(response.body(stored.response_body))
}

async fn stored(
    db: &Db,
    scope: &'static str,
    key: &str,
) -> Result<Option<StoredResponse>, ApiError> {
    let key = key.to_string();
    db.read(move |conn| idempotency::find(conn, scope, &key))
        .await
}

/// Runs `create` in one transaction, remembering its 201 response under the
/// request's key; a repeated key with the same body answers that response.
pub async fn create_once<F>(
    db: &Db,
    request: IdempotentRequest,
    create: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<Created, ApiError> + Send + 'static,
{
    let IdempotentRequest {
        scope,
        key,
        fingerprint,
    } = request;
    if let Some(key) = &key {
        if let Some(previous) = stored(db, scope, key).await? {
            return replay(previous, &fingerprint);
        }
    }
    let remembered_key = key.clone();
    let remembered_fingerprint = fingerprint.clone();
    let outcome = db
        .write(move |conn| {
            if let Some(key) = &remembered_key {
                // A request with this key committed since we looked.
                if idempotency::find(conn, scope, key)?.is_some() {
                    return Err(ApiError::IdempotencyRace);
                }
            }
            let created = create(conn)?;
            if let Some(key) = remembered_key {
                let response = StoredResponse {
                    scope: scope.to_string(),
                    idempotency_key: key,
                    request_hash: remembered_fingerprint,
                    status_code: 201,
                    response_body: created.body.clone(),
                    location: Some(created.location.clone()),
                    created_at: Utc::now().naive_utc(),
                };
                idempotency::remember(conn, &response).map_err(|error| {
                    if is_unique_violation(&error) {
                        ApiError::IdempotencyRace
                    } else {
                        error.into()
                    }
                })?;
            }
            Ok(created)
        })
        .await;
    match (outcome, key) {
        (Ok(created), _) => Ok(HttpResponse::Created()
            .insert_header((LOCATION, created.location))
            .content_type("application/json")
            .body(created.body)),
        // A concurrent request with the same key may have committed first
        // (and taken the very slot this one wanted): answer as it was answered.
        (Err(error), Some(key)) => match stored(db, scope, &key).await? {
            Some(previous) => replay(previous, &fingerprint),
            None => Err(error),
        },
        (Err(error), _) => Err(error),
    }
}
