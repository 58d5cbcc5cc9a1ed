//! `Idempotency-Key` for public POSTs: the change and the remembered
//! response are committed in one transaction, so a retry gets the first
//! response and never a second record or a second change. The remembered
//! response is sealed with the server key: a new booking's carries its
//! manage link, which a copy of the database must not give away.

use actix_web::http::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use chrono::Utc;

use crate::db::idempotency::{self, StoredResponse};
use crate::db::{is_unique_violation, Db, DbConnection};
use crate::error::ApiError;
use crate::server_key::{Purpose, ServerKey};
use crate::state::AppState;

/// What a create produced: where the new record lives and its JSON.
pub struct Created {
    pub location: String,
    pub body: String,
}

/// The JSON answer of a POST, as it is sent and remembered.
pub struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl From<Created> for Answer {
    fn from(created: Created) -> Self {
        Answer {
            status: StatusCode::CREATED,
            location: Some(created.location),
            body: created.body,
        }
    }
}

impl Answer {
    pub fn ok(body: String) -> Self {
        Answer {
            status: StatusCode::OK,
            location: None,
            body,
        }
    }

    fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(location) = self.location {
            response.insert_header((LOCATION, location));
        }
        response.content_type("application/json").body(self.body)
    }
}

/// A key given with a request, the fingerprint of that request's body, and
/// the scope keys are unique in (an endpoint, or one booking's endpoint).
pub struct IdempotentRequest {
    pub scope: String,
    pub key: Option<String>,
    pub fingerprint: String,
}

fn replay(
    key: &ServerKey,
    stored: StoredResponse,
    fingerprint: &str,
) -> Result<HttpResponse, ApiError> {
    if stored.request_hash != fingerprint {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let body = key
        .open(Purpose::StoredAnswer, &stored.response_body)
        .map_err(|error| {
            ApiError::Internal(anyhow::Error::new(error).context(format!(
                "cannot replay the answer stored under an Idempotency-Key ({})",
                stored.scope
            )))
        })?
        .into_owned();
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
    Ok(response.body(body))
}

async fn stored(db: &Db, scope: &str, key: &str) -> Result<Option<StoredResponse>, ApiError> {
    let (scope, key) = (scope.to_string(), key.to_string());
    db.read(move |conn| idempotency::find(conn, &scope, &key))
        .await
}

/// Runs `create` in one transaction, remembering its 201 response under the
/// request's key; a repeated key with the same body answers that response.
pub async fn create_once<F>(
    state: &AppState,
    request: IdempotentRequest,
    create: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<Created, ApiError> + Send + 'static,
{
    answer_once(state, request, move |conn| create(conn).map(Answer::from)).await
}

/// Runs `work` in one transaction, remembering its answer under the
/// request's key; a repeated key with the same body answers that answer.
pub async fn answer_once<F>(
    state: &AppState,
    request: IdempotentRequest,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<Answer, ApiError> + Send + 'static,
{
    let (db, server_key) = (&state.db, &state.server_key);
    let IdempotentRequest {
        scope,
        key,
        fingerprint,
    } = request;
    let sealer = server_key.clone();
    let remembered_scope = scope.clone();
    let remembered_key = key.clone();
    let remembered_fingerprint = fingerprint.clone();
    // The key is looked up in the transaction that would do the work, not
    // before it: one call to the database for each request, not two.
    let outcome = db
        .write(move |conn| {
            let Some(key) = remembered_key else {
                return work(conn).map(Outcome::Done);
            };
            if let Some(previous) = idempotency::find(conn, &remembered_scope, &key)? {
                return Ok(Outcome::AnsweredBefore(previous));
            }
            // A request with this key that committed since we looked makes
            // the INSERT below a unique violation: this transaction is
            // undone and answered with that request's answer.
            let answer = work(conn)?;
            let response = StoredResponse {
                scope: remembered_scope,
                idempotency_key: key,
                request_hash: remembered_fingerprint,
                status_code: i32::from(answer.status.as_u16()),
                response_body: sealer.seal(Purpose::StoredAnswer, &answer.body)?,
                location: answer.location.clone(),
                created_at: Utc::now().naive_utc(),
            };
            idempotency::remember(conn, &response).map_err(|error| {
                if is_unique_violation(&error) {
                    ApiError::IdempotencyRace
                } else {
                    error.into()
                }
            })?;
            Ok(Outcome::Done(answer))
        })
        .await;
    match (outcome, key) {
        (Ok(Outcome::Done(answer)), _) => Ok(answer.into_response()),
        (Ok(Outcome::AnsweredBefore(previous)), _) => replay(server_key, previous, &fingerprint),
        // A concurrent request with the same key may have committed first
        // (and taken the very slot this one wanted): answer as it was answered.
        (Err(error), Some(key)) => match stored(db, &scope, &key).await? {
            Some(previous) => replay(server_key, previous, &fingerprint),
            None => Err(error),
        },
        (Err(error), _) => Err(error),
    }
}

/// What the transaction of `answer_once` came to.
enum Outcome {
    /// The work was done (and its answer remembered, with a key).
    Done(Answer),
    /// The key was used before: its answer, as stored.
    AnsweredBefore(StoredResponse),
}
