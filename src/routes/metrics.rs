//! `GET /metrics`: the Prometheus exposition, with the outbox and the
//! connection pools read at scrape time.

use actix_web::{web, HttpResponse};

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

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8")))]
pub async fn endpoint(state: web::Data<AppState>) -> HttpResponse {
    let handle = handle();
    record_outbox(&state).await;
    for (pool, stats) in state.db.pool_stats() {
        metrics::gauge!("db_pool_connections", "pool" => pool).set(f64::from(stats.connections));
        metrics::gauge!("db_pool_in_use", "pool" => pool).set(f64::from(
            stats.connections.saturating_sub(stats.idle_connections),
        ));
    }
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}
