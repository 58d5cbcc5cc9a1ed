//! `StaffAuth`: the extractor every staff route takes. A missing, wrong or
//! revoked token, or a calendar token anywhere but the feed, is a 401
//! before the handler runs.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::error::ApiError;
use crate::state::AppState;
use crate::workflows::booking::Actor;
use crate::workflows::staff_tokens::StaffScope;

/// A request made with a live staff token; `label` names its holder.
#[derive(Debug, Clone)]
pub struct StaffAuth {
    pub label: String,
}

impl StaffAuth {
    pub fn actor(&self) -> Actor {
        Actor::Staff(self.label.clone())
    }
}

impl FromRequest for StaffAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req, StaffScope::Staff).await })
    }
}

/// The bearer token of a request (`Authorization: Bearer ...`).
fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

/// Checks the staff token of a request for a route that needs `needed`.
/// The calendar feed (`StaffScope::Calendar`) also accepts `?token=`, for
/// calendar apps that cannot send headers (only the feed: tokens in URLs
/// end up in logs and histories, which is why a calendar token opens
/// nothing else).
pub async fn authenticate(req: &HttpRequest, needed: StaffScope) -> Result<StaffAuth, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
    let allow_query = needed == StaffScope::Calendar;
    let token = bearer(req).or_else(|| {
        allow_query
            .then(|| {
                web::Query::<std::collections::HashMap<String, String>>::from_query(
                    req.query_string(),
                )
                .ok()
                .and_then(|query| query.get("token").cloned())
            })
            .flatten()
    });
    let token = token.ok_or(ApiError::Unauthorized)?;
    let label = crate::workflows::staff_tokens::authenticate_for(&state.db, token, needed).await?;
    Ok(StaffAuth { label })
}
