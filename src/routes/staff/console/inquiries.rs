//! The inquiry inbox (`/staff/inquiries`): what is not yet taken on first,
//! newest first within, filtered by status and category; and one inquiry
//! (`/staff/inquiries/{reference}`) with its status and note forms, through
//! the workflow the staff API's PATCH uses.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;

use super::bookings::typed_note;
use super::session::{page_session, post_form, redirect_with, Console};
use super::{
    error_page, inquiry_status_label, mail_lines, page, refusal_text, trail_lines, ConsoleLayout,
    MailLine, Nav, TrailLine,
};
use crate::db::inquiries::{InquiryFilter, InquiryRow};
use crate::domain::{FieldError, InquiryCategory, InquiryStatus};
use crate::error::ApiError;
use crate::routes::site::picker::FormErrors;
use crate::routes::site::{see_other, Privacy};
use crate::routes::staff::patch;
use crate::state::AppState;
use crate::workflows::inquiries::{self as inquiry, InquiryChange};
use crate::workflows::staff_reads;
use crate::workflows::staff_sessions::{self, Flash};

/// The most inquiries the inbox shows at once (newest first); filters
/// reach older ones.
const INBOX_SIZE: i64 = 300;

/// One checkbox of the inbox's filters.
#[derive(Debug, Clone)]
pub struct FilterOption {
    pub code: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

#[derive(Debug, Clone)]
pub struct InquiryLine {
    pub reference: String,
    pub href: String,
    pub status: String,
    pub status_label: &'static str,
    pub category_label: &'static str,
    pub name: String,
    pub excerpt: String,
    pub received: String,
}

impl InquiryLine {
    fn of(state: &AppState, row: &InquiryRow) -> Self {
        let status = InquiryStatus::parse(&row.status);
        let mut excerpt: String = row.message.chars().take(60).collect();
        if row.message.chars().count() > 60 {
            excerpt.push('…');
        }
        InquiryLine {
            reference: row.reference.clone(),
            href: format!("/staff/inquiries/{}", row.reference),
            status: row.status.clone(),
            status_label: status.map(inquiry_status_label).unwrap_or("不明"),
            category_label: InquiryCategory::parse(&row.category)
                .map(InquiryCategory::label)
                .unwrap_or("不明"),
            name: row.name.clone(),
            excerpt,
            received: super::when_ja(state, row.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "staff/inquiries.html")]
pub struct InquiriesPage {
    pub layout: ConsoleLayout,
    pub statuses: Vec<FilterOption>,
    pub categories: Vec<FilterOption>,
    pub items: Vec<InquiryLine>,
    pub more: bool,
    pub filtered: bool,
}

/// The inbox order: received (not yet read) first, then in progress, then
/// closed; newest first within each (the order they were loaded in).
fn inbox_order(rows: &mut [InquiryRow]) {
    let rank = |row: &InquiryRow| match InquiryStatus::parse(&row.status) {
        Some(InquiryStatus::Received) => 0,
        Some(InquiryStatus::InProgress) => 1,
        _ => 2,
    };
    rows.sort_by_key(rank);
}

/// `GET /staff/inquiries[?status=...&category=...]` (each may repeat).
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let console = match page_session(&req, &state).await {
        Ok(console) => console,
        Err(response) => return response,
    };
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let values = |name: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    };
    let statuses: Vec<InquiryStatus> = values("status")
        .into_iter()
        .filter_map(InquiryStatus::parse)
        .collect();
    let categories: Vec<InquiryCategory> = values("category")
        .into_iter()
        .filter_map(InquiryCategory::parse)
        .collect();
    let filter = InquiryFilter {
        statuses: statuses.clone(),
        categories: categories.clone(),
        after: None,
        limit: INBOX_SIZE,
    };
    let actor = console.actor();
    let listed = match state
        .db
        .write(move |conn| staff_reads::list_inquiries(conn, filter, &actor, Utc::now()))
        .await
    {
        Ok(listed) => listed,
        Err(error) => return error_page(&state, Some(&console), &error),
    };
    let mut rows = listed.rows;
    inbox_order(&mut rows);
    page(
        StatusCode::OK,
        &InquiriesPage {
            layout: console.layout(&state, Nav::Inquiries),
            statuses: InquiryStatus::ALL
                .iter()
                .map(|status| FilterOption {
                    code: status.as_str(),
                    label: inquiry_status_label(*status),
                    checked: statuses.contains(status),
                })
                .collect(),
            categories: InquiryCategory::ALL
                .iter()
                .map(|category| FilterOption {
                    code: category.as_str(),
                    label: category.label(),
                    checked: categories.contains(category),
                })
                .collect(),
            items: rows
                .iter()
                .map(|row| InquiryLine::of(&state, row))
                .collect(),
            more: listed.more,
            filtered: !statuses.is_empty() || !categories.is_empty(),
        },
    )
}

/// A button that sets the inquiry's status.
#[derive(Debug, Clone)]
pub struct StatusButton {
    pub status: &'static str,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "staff/inquiry.html")]
pub struct InquiryPage {
    pub layout: ConsoleLayout,
    pub reference: String,
    pub status: String,
    pub status_label: &'static str,
    pub category_label: &'static str,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub message: String,
    pub source: String,
    pub consent: String,
    pub received: String,
    pub updated: String,
    pub buttons: Vec<StatusButton>,
    pub errors: FormErrors,
    pub staff_note: String,
    pub mail: Vec<MailLine>,
    pub trail: Vec<TrailLine>,
}

fn inquiry_href(reference: &str) -> String {
    format!("/staff/inquiries/{reference}")
}

/// `GET /staff/inquiries/{reference}`
pub async fn show(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let console = match page_session(&req, &state).await {
        Ok(console) => console,
        Err(response) => return response,
    };
    render(
        &state,
        &console,
        &reference,
        StatusCode::OK,
        Vec::new(),
        None,
    )
    .await
}

async fn render(
    state: &web::Data<AppState>,
    console: &Console,
    reference: &str,
    status: StatusCode,
    errors: Vec<FieldError>,
    typed: Option<String>,
) -> HttpResponse {
    let (reference, actor) = (reference.to_string(), console.actor());
    let loaded = state
        .db
        .write(move |conn| {
            let row = staff_reads::view_inquiry(conn, &reference, &actor, Utc::now())?;
            let trail = crate::db::audit::for_reference(conn, &row.reference)?;
            let mail = crate::db::outbox::for_reference(conn, &row.reference)?;
            Ok((row, trail, mail))
        })
        .await;
    let (row, trail, mail) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(state, Some(console), &error),
    };
    let current = InquiryStatus::parse(&row.status);
    let buttons = [
        (InquiryStatus::InProgress, "対応中にする"),
        (InquiryStatus::Closed, "完了にする"),
        (InquiryStatus::Received, "未対応に戻す"),
    ]
    .into_iter()
    .filter(|(status, _)| Some(*status) != current)
    .map(|(status, label)| StatusButton {
        status: status.as_str(),
        label,
    })
    .collect();
    page(
        status,
        &InquiryPage {
            layout: console.layout(state, Nav::Inquiries),
            reference: row.reference.clone(),
            status: row.status.clone(),
            status_label: current.map(inquiry_status_label).unwrap_or("不明"),
            category_label: InquiryCategory::parse(&row.category)
                .map(InquiryCategory::label)
                .unwrap_or("不明"),
            name: row.name.clone(),
            email: row.email.clone(),
            phone: row.phone.clone().unwrap_or_default(),
            message: row.message.clone(),
            source: row.source.clone().unwrap_or_default(),
            consent: format!(
                "{}（プライバシーポリシー {}）",
                super::when_ja(state, row.consent_at),
                row.consent_version
            ),
            received: super::when_ja(state, row.created_at),
            updated: super::when_ja(state, row.updated_at),
            buttons,
            errors: FormErrors::of(&errors),
            staff_note: typed.unwrap_or_else(|| row.staff_note.clone().unwrap_or_default()),
            mail: mail_lines(state, &mail),
            trail: trail_lines(state, &trail),
        },
    )
}

/// Applies `change` (the API's workflow) with its flash message.
async fn apply(
    state: &web::Data<AppState>,
    console: &Console,
    reference: String,
    change: InquiryChange,
    done: impl FnOnce(&InquiryRow) -> Flash + Send + 'static,
) -> Result<InquiryRow, ApiError> {
    let (actor, session) = (console.actor(), console.session.clone());
    state
        .db
        .write(move |conn| {
            let row = inquiry::change_by_staff(conn, &reference, change, &actor, Utc::now())?;
            staff_sessions::leave_flash(conn, &session, &done(&row))?;
            Ok(row)
        })
        .await
}

/// `POST /staff/inquiries/{reference}/status` with `status` (`received`,
/// `in_progress` or `closed`).
pub async fn set_status(
    req: HttpRequest,
    reference: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (console, fields) = match post_form(&req, payload, &state).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let reference = reference.into_inner();
    let back = inquiry_href(&reference);
    let mut errors = Vec::new();
    let Some(status) = patch::status(&fields, &mut errors, InquiryStatus::parse) else {
        let text = refusal_text(&ApiError::field("status", "invalid")).unwrap_or_default();
        return redirect_with(&state, &console, Flash::error(text), &back).await;
    };
    let change = InquiryChange {
        status: Some(status),
        staff_note: None,
    };
    let done = move |row: &InquiryRow| {
        Flash::notice(format!(
            "{} を「{}」にしました。",
            row.reference,
            inquiry_status_label(status)
        ))
    };
    match apply(&state, &console, reference, change, done).await {
        Ok(row) => see_other(&inquiry_href(&row.reference), Privacy::Private),
        Err(error) => error_page(&state, Some(&console), &error),
    }
}

/// `POST /staff/inquiries/{reference}/note` with `staff_note` (empty
/// clears it).
pub async fn note(
    req: HttpRequest,
    reference: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (console, fields) = match post_form(&req, payload, &state).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let reference = reference.into_inner();
    let mut errors = Vec::new();
    let note = patch::staff_note(&fields, &mut errors).unwrap_or(None);
    if !errors.is_empty() {
        return render(
            &state,
            &console,
            &reference,
            StatusCode::UNPROCESSABLE_ENTITY,
            errors,
            Some(typed_note(&fields)),
        )
        .await;
    }
    let change = InquiryChange {
        status: None,
        staff_note: Some(note),
    };
    let done = |row: &InquiryRow| {
        Flash::notice(format!("{} のスタッフメモを保存しました。", row.reference))
    };
    match apply(&state, &console, reference, change, done).await {
        Ok(row) => see_other(&inquiry_href(&row.reference), Privacy::Private),
        Err(error) => error_page(&state, Some(&console), &error),
    }
}
