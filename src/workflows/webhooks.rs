//! Queuing webhook events: call these inside the transaction that makes
//! the change, so that an event exists exactly when its change does. One
//! delivery per receiver that subscribed to the event; the webhook worker
//! posts them (`webhooks::worker`).

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::db::bookings::BookingRow;
use crate::db::inquiries::InquiryRow;
use crate::db::webhooks::{self as store, NewDelivery};
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::schedule::availability::rfc3339;
use crate::state::AppState;
use crate::webhooks::{event, signature, status};

/// The fields that name or reach a person: sent only to receivers with
/// `include_personal_data`, and removed when the person's data is erased.
const PERSONAL_FIELDS: [&str; 3] = ["name", "email", "phone"];

/// The body every receiver gets: `{"type", "timestamp", "data"}`.
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    /// When the change happened (RFC 3339, clinic time).
    timestamp: &'a str,
    data: &'a Value,
}

/// What came before a booking's change, for the receivers' records.
#[derive(Debug, Clone, Copy, Default)]
pub struct Before<'a> {
    /// The previous status (cancellations and status changes).
    pub status: Option<&'a str>,
    /// The previous (start_at, end_at), UTC (reschedules).
    pub times: Option<(NaiveDateTime, NaiveDateTime)>,
    /// The previous practitioner's code, `Some(None)` for none, when the
    /// change gave the booking to another one.
    pub practitioner: Option<Option<&'a str>>,
}

/// Queues `kind` (a `webhooks::event`) about booking `row` as it stands
/// after the change.
pub fn booking_event(
    conn: &mut DbConnection,
    state: &AppState,
    kind: &str,
    row: &BookingRow,
    before: Before<'_>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if !state.webhooks.wanted(kind) {
        return Ok(());
    }
    let at = |t: NaiveDateTime| rfc3339(state.calendar.local(t));
    let mut data = json!({
        "reference": row.reference,
        "type": row.type_code,
        "status": row.status.as_str(),
        "start": at(row.start_at),
        "end": at(row.end_at),
        "practitioner": practitioner(state, row.practitioner.as_deref()),
    });
    if let Some(previous) = before.status {
        data["previous_status"] = json!(previous);
    }
    if let Some((start, end)) = before.times {
        data["previous_start"] = json!(at(start));
        data["previous_end"] = json!(at(end));
    }
    if let Some(previous) = before.practitioner {
        data["previous_practitioner"] = practitioner(state, previous);
    }
    let personal = json!({"name": row.name, "email": row.email, "phone": row.phone});
    enqueue(conn, state, kind, &row.reference, data, personal, now)
}

/// A booking's practitioner as `{"code", "label", "label_en"}` (labelled
/// by its code when the configuration no longer has them), or null.
fn practitioner(state: &AppState, code: Option<&str>) -> Value {
    let Some(code) = code else {
        return Value::Null;
    };
    match state.resources.find(code) {
        Some((_, resource)) => json!({
            "code": code,
            "label": resource.label,
            "label_en": resource.label_en,
        }),
        None => json!({"code": code, "label": code, "label_en": code}),
    }
}

/// Queues `inquiry.created` for a new inquiry.
pub fn inquiry_created(
    conn: &mut DbConnection,
    state: &AppState,
    row: &InquiryRow,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if !state.webhooks.wanted(event::INQUIRY_CREATED) {
        return Ok(());
    }
    let data = json!({
        "reference": row.reference,
        "category": row.category,
        "status": row.status,
        "created_at": rfc3339(state.calendar.local(row.created_at)),
    });
    let personal = json!({"name": row.name, "email": row.email, "phone": row.phone});
    enqueue(
        conn,
        state,
        event::INQUIRY_CREATED,
        &row.reference,
        data,
        personal,
        now,
    )
}

/// Queues one delivery of event `kind` about `reference` to every
/// receiver that subscribed to it: `data`, with the fields of `personal`
/// added for those that take personal data. Wakes this instance's webhook
/// worker once the transaction is committed.
pub fn enqueue(
    conn: &mut DbConnection,
    state: &AppState,
    kind: &str,
    reference: &str,
    data: Value,
    personal: Value,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let receivers: Vec<_> = state
        .webhooks
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.wants(kind))
        .collect();
    if receivers.is_empty() {
        return Ok(());
    }
    let timestamp = rfc3339(now.with_timezone(&state.calendar.timezone()));
    let render = |data: &Value| {
        serde_json::to_string(&Envelope {
            kind,
            timestamp: &timestamp,
            data,
        })
        .map_err(|error| ApiError::Internal(error.into()))
    };
    let plain = render(&data)?;
    let mut with_personal = data;
    if let (Some(fields), Value::Object(personal)) = (with_personal.as_object_mut(), personal) {
        fields.extend(personal);
    }
    let with_personal = render(&with_personal)?;
    let created = now.naive_utc();
    let retry_until = state.settings.webhooks.retry_until(created);
    let rows: Vec<NewDelivery> = receivers
        .iter()
        .map(|endpoint| NewDelivery {
            webhook_id: signature::new_webhook_id(),
            event_type: kind.to_string(),
            reference: reference.to_string(),
            url: endpoint.url.clone(),
            body: if endpoint.include_personal_data {
                with_personal.clone()
            } else {
                plain.clone()
            },
            personal_data: endpoint.include_personal_data,
            status: status::PENDING.to_string(),
            attempts: 0,
            next_attempt_at: created,
            retry_until,
            created_at: created,
            updated_at: created,
        })
        .collect();
    store::insert_all(conn, &rows)?;
    tracing::info!(%reference, event = kind, receivers = rows.len(), "webhook queued");
    let webhooks = Arc::clone(&state.webhooks);
    // Outside a write (a command-line tool) there is no worker to wake:
    // the deliveries wait for the next poll of a running instance.
    let _ = db::on_commit(Box::new(move || webhooks.wake.notify_one()));
    Ok(())
}

/// Removes name, email and phone from every delivery of `reference` that
/// carries them (sent or not: a pending one still goes out, without them).
/// How many deliveries were changed.
pub fn forget_personal_data(
    conn: &mut DbConnection,
    reference: &str,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let carrying = store::with_personal_data(conn, reference)?;
    for (id, body) in &carrying {
        let body = without_personal_data(body)?;
        store::set_body_without_personal_data(conn, *id, &body, now)?;
    }
    Ok(carrying.len())
}

fn without_personal_data(body: &str) -> Result<String, ApiError> {
    let mut envelope: Map<String, Value> =
        serde_json::from_str(body).map_err(|error| ApiError::Internal(error.into()))?;
    if let Some(Value::Object(data)) = envelope.get_mut("data") {
        for field in PERSONAL_FIELDS {
            data.remove(field);
        }
    }
    serde_json::to_string(&envelope).map_err(|error| ApiError::Internal(error.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_removes_the_personal_fields_and_keeps_the_rest() {
        let body = r#"{"type":"booking.created","timestamp":"2026-12-01T10:00:00+09:00","data":{"reference":"K7QM-3XWD","name":"予約 太郎","email":"taro@example.jp","phone":"090-1234-5678","status":"confirmed"}}"#;
        let forgotten: Value = serde_json::from_str(&without_personal_data(body).unwrap()).unwrap();
        assert_eq!(
            forgotten,
            json!({"type": "booking.created", "timestamp": "2026-12-01T10:00:00+09:00",
                   "data": {"reference": "K7QM-3XWD", "status": "confirmed"}})
        );
    }
}
