//! `GET /metrics`: the Prometheus exposition, with the outbox and the
//! connection pools read at scrape time; for scrapers only, on an address
//! of its own (`metrics.bind`) or with a bearer token (`metrics.token`).

use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::configuration::MetricsSettings;
use crate::domain::hash_token;
use crate::error::ApiError;
use crate::metrics::handle;
use crate::state::AppState;

/// The outbox as it stands: messages per status and the age of the oldest
/// one still waiting (a growing age means mail is not going out).
async fn record_outbox(state: &AppState) {
    let outbox = state
        .db
        .read(|conn| {
            Ok((
                crate::db::outbox::count_by_status(conn)?,
                crate::db::outbox::oldest_pending(conn)?,
            ))
        })
        .await;
    match outbox {
        Ok((counts, oldest)) => {
            for status in ["pending", "sent", "failed", "suppressed", "cancelled"] {
                let count = counts
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("outbox_messages", "status" => status).set(count as f64);
            }
            let age = oldest
                .map(|at| {
                    (chrono::Utc::now().naive_utc() - at)
                        .num_milliseconds()
                        .max(0) as f64
                        / 1000.0
                })
                .unwrap_or(0.0);
            metrics::gauge!("outbox_oldest_pending_age_seconds").set(age);
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot read the outbox"),
    }
}

/// Where `/metrics` is served, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// On `metrics.bind` alone (with the token when one is set).
    OwnAddress,
    /// On the public listener, to a request with `metrics.token`.
    PublicWithToken,
    /// Nowhere: neither is configured.
    NotServed,
}

impl Exposure {
    pub fn of(settings: &MetricsSettings) -> Exposure {
        if !settings.bind.trim().is_empty() {
            Exposure::OwnAddress
        } else if !settings.token.expose_secret().is_empty() {
            Exposure::PublicWithToken
        } else {
            Exposure::NotServed
        }
    }
}

/// Whether the request presents `metrics.token` (compared in constant time,
/// by hash, so neither its bytes nor its length leak through timing).
fn presents_token(req: &HttpRequest, expected: &str) -> bool {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string())
        .unwrap_or_default();
    let presented = hash_token(&presented);
    let expected = hash_token(expected);
    bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// `GET /metrics` on the public listener: served only when metrics have no
/// address of their own and `metrics.token` is set and presented. Not
/// served is a 404, as for a path that does not exist.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 401, description = "`metrics.token` is set and this request does not present it", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 404, description = "Not served here: no `metrics.token` is set, or metrics have an address of their own (`metrics.bind`)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn endpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.settings.metrics;
    if Exposure::of(settings) != Exposure::PublicWithToken {
        return Err(ApiError::NotFound);
    }
    if !presents_token(&req, settings.token.expose_secret()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(render(&state).await)
}

/// `GET /metrics` on `metrics.bind`: the token is asked for only when set.
pub async fn own_address_endpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = state.settings.metrics.token.expose_secret();
    if !token.is_empty() && !presents_token(&req, token) {
        return Err(ApiError::Unauthorized);
    }
    Ok(render(&state).await)
}

async fn render(state: &AppState) -> HttpResponse {
    let handle = handle();
    record_outbox(state).await;
    for (pool, stats) in state.db.pool_stats() {
        metrics::gauge!("db_pool_connections", "pool" => pool).set(f64::from(stats.connections));
        metrics::gauge!("db_pool_in_use", "pool" => pool).set(f64::from(
            stats.connections.saturating_sub(stats.idle_connections),
        ));
    }
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(handle.render())
}

/// The server of `metrics.bind`: `/metrics` and nothing else (404).
pub fn own_server(
    listener: std::net::TcpListener,
    state: web::Data<AppState>,
) -> std::io::Result<actix_web::dev::Server> {
    Ok(actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(
                crate::telemetry::trace_request,
            ))
            .route("/metrics", web::get().to(own_address_endpoint))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::NotFound)
            }))
    })
    .workers(1)
    // The main server's signal handling stops this one (after itself).
    .disable_signals()
    .listen(listener)?
    .run())
}
