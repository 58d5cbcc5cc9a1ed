//! The webhook worker: `webhooks.concurrent_deliveries` tasks of every
//! instance that claim due deliveries, post them signed and record the
//! answer. They run beside the mail worker with their own concurrency and
//! their own HTTP client, so a slow receiver (each attempt may take up to
//! `webhooks.timeout_seconds`) holds up other webhooks at most, never a
//! patient's mail. An idle task wakes when this instance queues an event,
//! or at its next poll (events queued by other instances).

use std::time::Duration;

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{signature, WebhookSettings, Webhooks};
use crate::db::webhooks::{self as store, DeliveryRow, Outcome};
use crate::db::Db;
use crate::error::ApiError;

/// What the worker needs: the database, the delivery settings, and the
/// receivers with what wakes it.
#[derive(Clone)]
pub struct Dispatch {
    pub db: Db,
    pub settings: WebhookSettings,
    pub webhooks: Arc<Webhooks>,
}

/// A running worker; `stop` lets the attempts in flight finish.
pub struct WebhookWorker {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl WebhookWorker {
    pub fn start(dispatch: Dispatch) -> anyhow::Result<WebhookWorker> {
        let (stop, stopped) = watch::channel(false);
        let settings = &dispatch.settings;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_seconds.max(1)))
            // A redirect is an answer like any other non-2xx: the
            // receiver's URL is configured, not discovered.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("clinic-booking/", env!("CARGO_PKG_VERSION")))
            .build()?;
        // Names this worker's leases; unique enough across instances.
        let owner = format!("webhooks-{:016x}", rand::random::<u64>());
        let tasks = if dispatch.webhooks.endpoints.is_empty() {
            // Nothing can be queued; deliveries left from an earlier
            // configuration wait until receivers are configured again.
            Vec::new()
        } else {
            let count = settings.concurrent_deliveries.max(1);
            tracing::info!(receivers = dispatch.webhooks.endpoints.len(), tasks = count, %owner, "webhook worker started");
            (0..count)
                .map(|_| {
                    tokio::spawn(run(
                        dispatch.clone(),
                        client.clone(),
                        owner.clone(),
                        stopped.clone(),
                    ))
                })
                .collect()
        };
        Ok(WebhookWorker { stop, tasks })
    }

    /// Asks the worker to stop and waits until it has: an attempt in
    /// flight is finished (within `webhooks.timeout_seconds`) and recorded.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "webhook worker ended abnormally");
            }
        }
    }
}

async fn run(
    dispatch: Dispatch,
    client: reqwest::Client,
    owner: String,
    mut stopped: watch::Receiver<bool>,
) {
    let poll = Duration::from_millis(dispatch.settings.poll_interval_ms.max(10));
    loop {
        if *stopped.borrow() {
            break;
        }
        let idle = match deliver_next(&dispatch, &client, &owner).await {
            Ok(delivered) => !delivered,
            Err(error) => {
                tracing::error!(%error, "webhook worker: database error");
                true
            }
        };
        if idle {
            tokio::select! {
                changed = stopped.changed() => if changed.is_err() || *stopped.borrow() { break },
                _ = tokio::time::sleep(poll) => {}
                _ = dispatch.webhooks.wake.notified() => {}
            }
        }
    }
}

/// Claims the delivery due soonest, attempts it and records the answer;
/// `false` when none was due.
async fn deliver_next(
    dispatch: &Dispatch,
    client: &reqwest::Client,
    owner: &str,
) -> Result<bool, ApiError> {
    let now = Utc::now().naive_utc();
    if !dispatch
        .db
        .read(move |conn| store::has_due(conn, now))
        .await?
    {
        return Ok(false);
    }
    let lease = chrono::Duration::from_std(dispatch.settings.lease())
        .unwrap_or_else(|_| chrono::Duration::minutes(5));
    let claimer = owner.to_string();
    let claimed = dispatch
        .db
        .write_unannounced(move |conn| store::claim(conn, &claimer, now, now + lease))
        .await?;
    let Some(row) = claimed else {
        return Ok(false);
    };
    // More may be due: let an idle task look, so that deliveries to
    // different receivers (or bookings) go side by side.
    dispatch.webhooks.wake.notify_one();
    let outcome = attempt(dispatch, client, &row).await;
    log_outcome(&row, &outcome);
    let recorder = owner.to_string();
    let id = row.id;
    let kept = dispatch
        .db
        .write_unannounced(move |conn| {
            store::record(conn, id, &recorder, &outcome, Utc::now().naive_utc())
        })
        .await?;
    if !kept {
        tracing::warn!(reference = %row.reference, delivery_id = row.id, "webhook lease lost before recording");
    }
    Ok(true)
}

/// Posts one delivery, signed with every key of its receiver.
async fn attempt(dispatch: &Dispatch, client: &reqwest::Client, row: &DeliveryRow) -> Outcome {
    let Some(endpoint) = dispatch
        .webhooks
        .endpoints
        .iter()
        .find(|endpoint| endpoint.url == row.url)
    else {
        return Outcome::Failed {
            status: None,
            error: "no receiver with this URL is configured any more".to_string(),
        };
    };
    let timestamp = Utc::now().timestamp();
    let signatures = signature::header(
        &endpoint.keys,
        &row.webhook_id,
        timestamp,
        row.body.as_bytes(),
    );
    let sent = client
        .post(&row.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &row.webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signatures)
        .body(row.body.clone())
        .send()
        .await;
    let (status, error) = match sent {
        Ok(response) if response.status().is_success() => {
            return Outcome::Delivered {
                status: i32::from(response.status().as_u16()),
            }
        }
        Ok(response) => {
            let code = response.status();
            (
                Some(i32::from(code.as_u16())),
                format!("the receiver answered {code}"),
            )
        }
        Err(error) => (None, describe(error)),
    };
    match dispatch
        .settings
        .next_attempt(row.attempts + 1, Utc::now().naive_utc(), row.retry_until)
    {
        Some(at) => Outcome::Retry { at, status, error },
        None => Outcome::Failed { status, error },
    }
}

/// A failed request, for staff and the log: what went wrong, with its
/// causes (the URL is on the delivery already).
fn describe(error: reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = what.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().filter(|c| !c.is_control()).take(500).collect()
}

fn log_outcome(row: &DeliveryRow, outcome: &Outcome) {
    let (reference, id, event) = (&row.reference, row.id, &row.event_type);
    match outcome {
        Outcome::Delivered { status } => {
            tracing::info!(%reference, delivery_id = id, event, status, "webhook delivered")
        }
        Outcome::Retry { status, error, .. } => tracing::warn!(
            %reference, delivery_id = id, event, attempts = row.attempts + 1, ?status, %error,
            "webhook delivery failed; will retry"
        ),
        Outcome::Failed { status, error } => tracing::error!(
            %reference, delivery_id = id, event, attempts = row.attempts + 1, ?status, %error,
            "webhook delivery failed for good"
        ),
    }
}
