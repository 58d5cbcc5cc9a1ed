//! The patient's manage page, reached by the link in the confirmation:
//! shows the booking and offers cancel and reschedule as POST forms. A GET
//! never changes anything (mail scanners follow links).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{Datelike, Utc};

use super::picker::{self, FormErrors, SlotPicker, SlotView};
use super::{
    encode_query, error_page, page, query_map, see_other, span_ja, weekday_ja, Layout, Privacy,
};
use crate::db::bookings::BookingRow;
use crate::domain::{Booker, BookingStatus, FieldError, SlotStart};
use crate::error::ApiError;
use crate::routes::input::read_submission;
use crate::state::AppState;
use crate::workflows::booking;

#[derive(Template)]
#[template(path = "manage.html")]
pub struct ManagePage {
    pub layout: Layout,
    pub reference: String,
    pub status_label: &'static str,
    pub type_label: String,
    pub when: String,
    pub name: String,
    pub token: String,
    /// Set when the booking can still be changed online.
    pub picker: Option<SlotPicker>,
    /// The last moment for online changes (`12月1日(火) 10:00`), while the
    /// booking is confirmed and has not started.
    pub deadline: Option<String>,
    pub deadline_passed: bool,
    pub notice: Option<&'static str>,
    pub errors: FormErrors,
    pub alternatives: Vec<SlotView>,
    /// The intake questionnaire: `pending` or `answered`, for a type that
    /// asks one.
    pub questionnaire: Option<&'static str>,
}

fn status_label(status: BookingStatus) -> &'static str {
    match status {
        BookingStatus::Confirmed => "ご予約確定",
        BookingStatus::Arrived => "受付済み",
        BookingStatus::Cancelled => "キャンセル済み",
        BookingStatus::Completed => "ご来院済み",
        BookingStatus::NoShow => "ご来院なし",
    }
}

fn manage_href(reference: &str, token: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("token", token)];
    pairs.extend_from_slice(extra);
    format!("/manage/{reference}?{}", encode_query(&pairs))
}

struct View {
    status: StatusCode,
    notice: Option<&'static str>,
    errors: FormErrors,
    alternatives: Vec<SlotView>,
    from: Option<String>,
    chosen: String,
}

async fn render(
    state: &web::Data<AppState>,
    row: BookingRow,
    token: String,
    view: View,
) -> HttpResponse {
    let now = Utc::now();
    let calendar = &state.calendar;
    let kind = booking::kind_of(state, &row).clone();
    let upcoming = row.status() == BookingStatus::Confirmed && row.start_at > now.naive_utc();
    let start = calendar.local(row.start_at);
    let deadline = kind.change_deadline(start);
    let changeable = upcoming && kind.patient_may_change(start, now);
    let slot_picker = if changeable {
        let from = picker::first_day(state, view.from.as_deref(), now);
        let (reference, week_token) = (row.reference.clone(), token.clone());
        let href = move |date: chrono::NaiveDate| {
            let date = date.to_string();
            format!(
                "{}#f-start",
                manage_href(&reference, &week_token, &[("from", &date)])
            )
        };
        match picker::build(state, &kind, from, &view.chosen, Booker::Patient, href).await {
            Ok(slot_picker) => Some(slot_picker),
            Err(error) => return error_page(state, &error),
        }
    } else {
        None
    };
    let answered = {
        let reference = row.reference.clone();
        state
            .db
            .read(move |conn| crate::workflows::questionnaire::is_answered(conn, &reference))
            .await
    };
    let questionnaire = match answered {
        Ok(answered) => crate::workflows::questionnaire::status_of(&row, answered),
        Err(error) => return error_page(state, &error),
    };
    page(
        view.status,
        Privacy::Private,
        &ManagePage {
            questionnaire,
            layout: Layout::of(state),
            status_label: status_label(row.status()),
            type_label: kind.label.clone(),
            when: span_ja(calendar.local(row.start_at), calendar.local(row.end_at)),
            name: row.name.clone(),
            reference: row.reference,
            token,
            picker: slot_picker,
            deadline: upcoming.then(|| {
                format!(
                    "{}月{}日({}) {}",
                    deadline.month(),
                    deadline.day(),
                    weekday_ja(deadline.weekday()),
                    deadline.format("%H:%M")
                )
            }),
            deadline_passed: upcoming && !changeable,
            notice: view.notice,
            errors: view.errors,
            alternatives: view.alternatives,
        },
    )
}

/// `GET /manage/{reference}?token=[&from=][&done=]`
pub async fn show(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut query = query_map(req.query_string());
    let token = query.remove("token");
    let reference = reference.into_inner();
    let lookup_token = token.clone();
    let found = state
        .db
        .read(move |conn| booking::find_with_token(conn, &reference, lookup_token.as_deref()))
        .await;
    let row = match found {
        Ok(row) => row,
        Err(error) => return error_page(&state, &error),
    };
    let notice = match query.get("done").map(String::as_str) {
        Some("cancelled") => Some("ご予約をキャンセルしました。"),
        Some("rescheduled") => Some("ご予約の日時を変更しました。"),
        Some("answered") => Some("問診票の回答を受け付けました。ありがとうございます。"),
        _ => None,
    };
    let view = View {
        status: StatusCode::OK,
        notice,
        errors: FormErrors::default(),
        alternatives: Vec::new(),
        from: query.remove("from"),
        chosen: String::new(),
    };
    render(&state, row, token.unwrap_or_default(), view).await
}

/// The form's fields, read whatever their encoding; errors become pages.
async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<crate::domain::Fields, HttpResponse> {
    // The token, a start and the week shown.
    let limit = crate::domain::body_limit_for(3 * crate::domain::SHORT_FIELD_CHARS);
    read_submission(
        req,
        payload,
        state.settings.server.body_limit_bytes.max(limit),
    )
    .await
    .map(|submission| submission.fields)
    .map_err(|error| error_page(state, &error))
}

/// `POST /manage/{reference}/cancel` with the token as a form field.
pub async fn cancel(
    req: HttpRequest,
    reference: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = match read_form(&req, payload, &state).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let token = fields.text("token").ok().flatten().unwrap_or_default();
    let reference = reference.into_inner();
    let now = Utc::now();
    let work_token = token.clone();
    let work_state = state.clone();
    let cancelled = state
        .db
        .write(move |conn| {
            let row = booking::find_with_token(conn, &reference, Some(&work_token))?;
            booking::cancel_by_patient(conn, &work_state, row, now)
        })
        .await;
    match cancelled {
        Ok(row) => see_other(
            &manage_href(&row.reference, &token, &[("done", "cancelled")]),
            Privacy::Private,
        ),
        Err(error) => refused(&state, &req, token, error, View::default_for_error()).await,
    }
}

impl View {
    fn default_for_error() -> Self {
        View {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            notice: None,
            errors: FormErrors::default(),
            alternatives: Vec::new(),
            from: None,
            chosen: String::new(),
        }
    }
}

/// Shows the manage page again with what went wrong; a wrong token or
/// reference is the 404 page.
async fn refused(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    token: String,
    error: ApiError,
    mut view: View,
) -> HttpResponse {
    let errors = match &error {
        ApiError::Validation(errors) => errors.clone(),
        ApiError::SlotUnavailable { .. } => vec![FieldError::new("start", "slot_unavailable")],
        ApiError::ChangeDeadlinePassed { .. } => {
            vec![FieldError::new("start", "change_deadline_passed")]
        }
        _ => return error_page(state, &error),
    };
    if matches!(error, ApiError::SlotUnavailable { .. }) {
        view.status = StatusCode::CONFLICT;
    }
    let reference = req
        .match_info()
        .get("reference")
        .unwrap_or_default()
        .to_string();
    let lookup_token = token.clone();
    let found = state
        .db
        .read(move |conn| booking::find_with_token(conn, &reference, Some(&lookup_token)))
        .await;
    match found {
        Ok(row) => {
            view.errors = FormErrors::of(&errors);
            render(state, row, token, view).await
        }
        Err(error) => error_page(state, &error),
    }
}

/// `POST /manage/{reference}/reschedule` with `token` and `start`.
pub async fn reschedule(
    req: HttpRequest,
    reference: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = match read_form(&req, payload, &state).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let token = fields.text("token").ok().flatten().unwrap_or_default();
    let reference = reference.into_inner();
    let now = Utc::now();
    let mut view = View::default_for_error();
    view.from = fields.text("from").ok().flatten();
    view.chosen = fields.text("start").ok().flatten().unwrap_or_default();
    // Authorise before reading what is asked, so a stranger learns nothing.
    let (lookup_reference, lookup_token) = (reference.clone(), token.clone());
    let current = match state
        .db
        .read(move |conn| booking::find_with_token(conn, &lookup_reference, Some(&lookup_token)))
        .await
    {
        Ok(row) => row,
        Err(error) => return error_page(&state, &error),
    };
    if let Err(error) = booking::ensure_not_started(&current, now) {
        return refused(&state, &req, token, error, view).await;
    }
    let kind = booking::kind_of(&state, &current).clone();
    let raw_start = fields.text("start").unwrap_or(None);
    let start = match SlotStart::parse(raw_start, &kind, &state.calendar, now, Booker::Patient) {
        Ok(start) => start,
        Err(error) => {
            return refused(&state, &req, token, ApiError::Validation(vec![error]), view).await
        }
    };
    let (work_state, work_kind, work_token) = (state.clone(), kind.clone(), token.clone());
    let moved = state
        .db
        .write(move |conn| {
            let row = booking::find_with_token(conn, &reference, Some(&work_token))?;
            booking::reschedule(conn, &work_state, row, start, &work_kind, now)
        })
        .await;
    match moved {
        Ok(row) => see_other(
            &manage_href(&row.reference, &token, &[("done", "rescheduled")]),
            Privacy::Private,
        ),
        Err(error @ ApiError::SlotUnavailable { .. }) => {
            let alternatives =
                crate::workflows::availability::alternatives(&state, &kind, start.at(), now)
                    .await
                    .unwrap_or_default();
            view.alternatives = picker::offers(&alternatives, &state);
            refused(&state, &req, token, error, view).await
        }
        Err(error) => refused(&state, &req, token, error, view).await,
    }
}
