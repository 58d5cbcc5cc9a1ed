//! One booking (`/staff/bookings/{reference}`): everything the patient
//! gave, its mail and audit trail, and the desk's actions as POST forms:
//! status (arrived, completed, no-show, back to confirmed), cancel (the
//! patient is mailed), move to another free slot (the slot picker of the
//! patient's forms), give it to another practitioner, and the staff note. Each goes through the workflow the
//! staff API's PATCH uses.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;

use super::session::{back_to, page_session, post_form, redirect_with, Console};
use super::{
    error_page, mail_lines, page, refusal_text, trail_lines, ConsoleLayout, MailLine, Nav,
    TrailLine,
};
use crate::db::bookings::BookingRow;
use crate::db::staff_bookings::{self, StatusTimes};
use crate::domain::{Booker, BookingStatus, FieldError, Fields, Reference, SlotStart};
use crate::error::ApiError;
use crate::routes::site::picker::{self, FormErrors, SlotPicker, SlotView};
use crate::routes::site::{encode_query, query_map, see_other, span_ja, Privacy};
use crate::routes::staff::patch;
use crate::state::AppState;
use crate::workflows::booking::{self, StaffChange};
use crate::workflows::questionnaire::AnswersView;
use crate::workflows::staff_reads;
use crate::workflows::staff_sessions::Flash;

/// A button that sets the booking's status.
#[derive(Debug, Clone)]
pub struct StatusAction {
    pub status: &'static str,
    pub label: &'static str,
    pub primary: bool,
}

/// The status changes offered for a booking in `status` (the workflow
/// decides what is allowed; these are the ones the desk needs).
fn status_actions(status: BookingStatus) -> Vec<StatusAction> {
    let action = |status: BookingStatus, label: &'static str, primary: bool| StatusAction {
        status: status.as_str(),
        label,
        primary,
    };
    use BookingStatus::{Arrived, Cancelled, Completed, Confirmed, NoShow};
    match status {
        Confirmed => vec![
            action(Arrived, "受付済にする", true),
            action(Completed, "来院済みにする", false),
            action(NoShow, "無断キャンセルにする", false),
        ],
        Arrived => vec![
            action(Completed, "来院済みにする", true),
            action(Confirmed, "受付を取り消す（予約確定に戻す）", false),
            action(NoShow, "無断キャンセルに訂正", false),
        ],
        Completed => vec![
            action(Arrived, "受付済に戻す", false),
            action(NoShow, "無断キャンセルに訂正", false),
            action(Confirmed, "予約確定に戻す", false),
        ],
        NoShow => vec![
            action(Arrived, "受付済に訂正", false),
            action(Completed, "来院済みに訂正", false),
            action(Confirmed, "予約確定に戻す", false),
        ],
        Cancelled => vec![action(Confirmed, "予約を復活する（同じ日時で確定）", false)],
    }
}

#[derive(Template)]
#[template(path = "staff/booking.html")]
pub struct BookingPage {
    pub layout: ConsoleLayout,
    pub reference: String,
    pub status: &'static str,
    pub status_label: &'static str,
    pub when: String,
    pub day_href: String,
    pub type_label: String,
    pub name: String,
    pub name_kana: String,
    pub email: String,
    pub phone: String,
    pub tel_href: String,
    pub first_visit: &'static str,
    pub message: String,
    pub source: String,
    pub consent: String,
    pub created: String,
    pub status_times: Vec<(&'static str, String)>,
    pub erased: bool,
    pub actions: Vec<StatusAction>,
    pub can_cancel: bool,
    pub picker: Option<SlotPicker>,
    pub errors: FormErrors,
    pub alternatives: Vec<SlotView>,
    pub staff_note: String,
    /// The practitioner's label (empty when the type has none).
    pub practitioner_label: String,
    /// The practitioner's code, or the one just chosen in a form that came
    /// back.
    pub practitioner: String,
    /// The type's practitioners, offered while the booking can be given to
    /// another (empty otherwise).
    pub practitioners: Vec<super::closures::ResourceChoice>,
    pub mail: Vec<MailLine>,
    pub trail: Vec<TrailLine>,
    /// The intake questionnaire, for a type that asks one (or answers
    /// given); `None` otherwise.
    pub questionnaire: Option<QuestionnaireSection>,
}

/// The intake questionnaire as the reception reads it.
pub struct QuestionnaireSection {
    pub answered: bool,
    /// `knee-intake 第1版`, and when it was answered and last changed.
    pub version: String,
    pub answered_at: String,
    pub updated_at: String,
    /// (question, answer written out; empty when not answered).
    pub lines: Vec<(String, String)>,
}

impl QuestionnaireSection {
    fn of(state: &AppState, row: &BookingRow, answers: Option<AnswersView>) -> Option<Self> {
        let status = crate::workflows::questionnaire::status_of(row, answers.is_some())?;
        let when = |raw: &str| {
            chrono::DateTime::parse_from_rfc3339(raw)
                .map(|at| super::when_ja(state, at.naive_utc()))
                .unwrap_or_default()
        };
        Some(match answers {
            Some(answers) => QuestionnaireSection {
                answered: status == crate::workflows::questionnaire::ANSWERED,
                version: format!("{} 第{}版", answers.questionnaire_id, answers.version),
                answered_at: when(&answers.answered_at),
                updated_at: when(&answers.updated_at),
                lines: answers
                    .questions
                    .iter()
                    .map(|q| (q.label.clone(), q.answer.clone().unwrap_or_default()))
                    .collect(),
            },
            None => QuestionnaireSection {
                answered: false,
                version: String::new(),
                answered_at: String::new(),
                updated_at: String::new(),
                lines: Vec::new(),
            },
        })
    }
}

/// What a page shows beyond the stored booking: what was typed into a
/// form that came back, and where the picker stands.
struct View {
    status: StatusCode,
    errors: Vec<FieldError>,
    alternatives: Vec<SlotView>,
    from: Option<String>,
    chosen: String,
    note: Option<String>,
    practitioner: Option<String>,
}

impl View {
    fn fresh(from: Option<String>) -> Self {
        View {
            status: StatusCode::OK,
            errors: Vec::new(),
            alternatives: Vec::new(),
            from,
            chosen: String::new(),
            note: None,
            practitioner: None,
        }
    }
}

fn booking_href(reference: &str) -> String {
    format!("/staff/bookings/{reference}")
}

/// `GET /staff/bookings?reference=`: the search box in the header.
pub async fn find(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let console = match page_session(&req, &state).await {
        Ok(console) => console,
        Err(response) => return response,
    };
    let query = query_map(req.query_string());
    match query.get("reference").and_then(|raw| Reference::parse(raw)) {
        Some(reference) => see_other(&booking_href(reference.as_str()), Privacy::Private),
        None => error_page(&state, Some(&console), &ApiError::NotFound),
    }
}

/// `GET /staff/bookings/{reference}[?from=YYYY-MM-DD]` (`from`: the week
/// the slot picker shows).
pub async fn show(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let console = match page_session(&req, &state).await {
        Ok(console) => console,
        Err(response) => return response,
    };
    let mut query = query_map(req.query_string());
    render(
        &state,
        &console,
        &reference,
        View::fresh(query.remove("from")),
    )
    .await
}

/// Everything the page shows of one booking, read in one transaction (and
/// on the record, as `booking.viewed`).
struct Loaded {
    row: BookingRow,
    times: StatusTimes,
    trail: Vec<crate::db::audit::AuditRow>,
    mail: Vec<crate::db::outbox::OutboxSummary>,
    answers: Option<AnswersView>,
}

async fn render(
    state: &web::Data<AppState>,
    console: &Console,
    reference: &str,
    view: View,
) -> HttpResponse {
    let (reference, actor) = (reference.to_string(), console.actor());
    let work_state = state.clone();
    let loaded = state
        .db
        .write(move |conn| {
            let row = staff_reads::view_booking(conn, &reference, &actor, Utc::now())?;
            let times = staff_bookings::status_times(conn, std::slice::from_ref(&row.reference))?
                .remove(&row.reference)
                .unwrap_or_default();
            let trail = crate::db::audit::for_reference(conn, &row.reference)?;
            let mail = crate::db::outbox::for_reference(conn, &row.reference)?;
            let answers =
                crate::workflows::questionnaire::answers_of(conn, &work_state, &row.reference)?;
            Ok(Loaded {
                row,
                times,
                trail,
                mail,
                answers,
            })
        })
        .await;
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(state, Some(console), &error),
    };
    let row = &loaded.row;
    let calendar = &state.calendar;
    let status = row.status();
    let erased = crate::workflows::privacy::is_erased(row);
    let kind = booking::kind_of(state, row).clone();
    let now = Utc::now();
    let picker = if status == BookingStatus::Confirmed && !erased {
        let from = picker::first_day(state, view.from.as_deref(), now);
        let base = booking_href(&row.reference);
        let href = move |date: chrono::NaiveDate| {
            format!(
                "{base}?{}#f-start",
                encode_query(&[("from", &date.to_string())])
            )
        };
        // A move keeps the practitioner: only their free starts are offered.
        let theirs = crate::workflows::resources::kept(state, &kind, row.practitioner.as_deref());
        match picker::build_for(
            state,
            &kind,
            theirs.as_deref(),
            from,
            &view.chosen,
            Booker::Staff,
            href,
        )
        .await
        {
            Ok(picker) => Some(picker),
            Err(error) => return error_page(state, Some(console), &error),
        }
    } else {
        None
    };
    let at = |t: Option<chrono::NaiveDateTime>| t.map(|t| super::when_ja(state, t));
    let status_times: Vec<(&'static str, String)> = [
        (
            "予約確定",
            at(loaded.times.confirmed_at).or_else(|| at(Some(row.created_at))),
        ),
        ("受付済", at(loaded.times.arrived_at)),
        ("来院済み", at(loaded.times.completed_at)),
        ("無断キャンセル", at(loaded.times.no_show_at)),
        ("キャンセル", at(row.cancelled_at)),
    ]
    .into_iter()
    .filter_map(|(label, when)| when.map(|when| (label, when)))
    .collect();
    let start = calendar.local(row.start_at);
    let tel: String = row
        .phone
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    page(
        view.status,
        &BookingPage {
            layout: console.layout(state, Nav::None),
            reference: row.reference.clone(),
            status: status.as_str(),
            status_label: status.label_ja(),
            when: span_ja(start, calendar.local(row.end_at)),
            day_href: format!("/staff/day/{}", start.date_naive()),
            type_label: kind.label.clone(),
            name: row.name.clone(),
            name_kana: row.name_kana.clone().unwrap_or_default(),
            email: row.email.clone(),
            phone: row.phone.clone(),
            tel_href: format!("tel:{tel}"),
            first_visit: match row.first_visit {
                Some(true) => "初診",
                Some(false) => "再診",
                None => "未回答",
            },
            message: row.message.clone().unwrap_or_default(),
            source: row.source.clone().unwrap_or_default(),
            consent: format!(
                "{}（プライバシーポリシー {}）",
                super::when_ja(state, row.consent_at),
                row.consent_version
            ),
            created: super::when_ja(state, row.created_at),
            status_times,
            erased,
            actions: if erased {
                Vec::new()
            } else {
                status_actions(status)
            },
            can_cancel: status == BookingStatus::Confirmed && !erased,
            picker,
            errors: FormErrors::of(&view.errors),
            alternatives: view.alternatives,
            staff_note: view
                .note
                .unwrap_or_else(|| row.staff_note.clone().unwrap_or_default()),
            practitioner_label: crate::routes::bookings::PractitionerRef::of(state, row)
                .map(|practitioner| practitioner.label)
                .unwrap_or_default(),
            practitioner: view
                .practitioner
                .unwrap_or_else(|| row.practitioner.clone().unwrap_or_default()),
            practitioners: if matches!(status, BookingStatus::Confirmed | BookingStatus::Arrived)
                && !erased
            {
                practitioner_choices(state, &kind)
            } else {
                Vec::new()
            },
            mail: mail_lines(state, &loaded.mail),
            trail: trail_lines(state, &loaded.trail),
            questionnaire: QuestionnaireSection::of(state, row, loaded.answers),
        },
    )
}

/// The practitioners who take `kind`, in configuration order.
fn practitioner_choices(
    state: &AppState,
    kind: &crate::schedule::ConsultationType,
) -> Vec<super::closures::ResourceChoice> {
    state
        .resources
        .needs(&kind.code)
        .map(|needs| {
            needs
                .practitioners
                .iter()
                .filter_map(|index| state.resources.get(*index))
                .map(|resource| super::closures::ResourceChoice {
                    code: resource.code.clone(),
                    label: resource.label.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Applies `change` through the staff workflow (the same as the API's
/// PATCH) in one transaction with the flash message it earns.
async fn apply(
    state: &web::Data<AppState>,
    console: &Console,
    reference: String,
    change: StaffChange,
    done: impl FnOnce(&BookingRow) -> Flash + Send + 'static,
) -> Result<BookingRow, ApiError> {
    let (work_state, actor, session) = (state.clone(), console.actor(), console.session.clone());
    state
        .db
        .write(move |conn| {
            let row = booking::change_by_staff(
                conn,
                &work_state,
                &reference,
                change,
                &actor,
                Utc::now(),
            )?;
            crate::workflows::staff_sessions::leave_flash(conn, &session, &done(&row))?;
            Ok(row)
        })
        .await
}

/// After an action: back with its message, or with the reason it was
/// refused (nothing changed); a missing booking is the not-found page.
async fn answer(
    state: &web::Data<AppState>,
    console: &Console,
    result: Result<BookingRow, ApiError>,
    back: &str,
) -> HttpResponse {
    match result {
        Ok(_) => see_other(back, Privacy::Private),
        Err(error) => match refusal_text(&error) {
            Some(text) => redirect_with(state, console, Flash::error(text), back).await,
            None => error_page(state, Some(console), &error),
        },
    }
}

/// `POST /staff/bookings/{reference}/status` with `status` (`arrived`,
/// `completed`, `no_show` or `confirmed`) and optionally `back` (the page
/// to return to, e.g. the day).
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
    let back = back_to(&fields, booking_href(&reference));
    let mut errors = Vec::new();
    let status = patch::status(&fields, &mut errors, BookingStatus::parse)
        .filter(|status| *status != BookingStatus::Cancelled);
    let Some(status) = status else {
        let error = ApiError::field("status", "invalid");
        return answer(&state, &console, Err(error), &back).await;
    };
    let change = StaffChange {
        status: Some(status),
        ..StaffChange::default()
    };
    let result = apply(&state, &console, reference, change, move |row| {
        Flash::notice(format!(
            "{} を「{}」にしました。",
            row.reference,
            status.label_ja()
        ))
    })
    .await;
    answer(&state, &console, result, &back).await
}

/// `POST /staff/bookings/{reference}/cancel`: cancels a confirmed booking;
/// the patient and the clinic are mailed as when the patient cancels.
pub async fn cancel(
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
    let back = back_to(&fields, booking_href(&reference));
    let change = StaffChange {
        status: Some(BookingStatus::Cancelled),
        ..StaffChange::default()
    };
    let result = apply(&state, &console, reference, change, |row| {
        Flash::notice(format!(
            "{} をキャンセルしました。患者様にキャンセルのメールをお送りします。",
            row.reference
        ))
    })
    .await;
    answer(&state, &console, result, &back).await
}

/// `POST /staff/bookings/{reference}/move` with `start` (a free slot of
/// the picker) and `from` (the week it showed): the booking moves, the
/// patient is mailed. A wrong or taken slot shows the page again with the
/// reason (and, for a taken one, the nearest free starts).
pub async fn move_to(
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
    let lookup = reference.clone();
    let current = match state
        .db
        .read(move |conn| booking::find_for_staff(conn, &lookup))
        .await
    {
        Ok(row) => row,
        Err(error) => return error_page(&state, Some(&console), &error),
    };
    let now = Utc::now();
    let kind = booking::kind_of(&state, &current).clone();
    let mut view = View::fresh(fields.text("from").ok().flatten());
    view.chosen = fields.text("start").ok().flatten().unwrap_or_default();
    view.status = StatusCode::UNPROCESSABLE_ENTITY;
    let raw = fields.text("start").unwrap_or(None);
    let start = match SlotStart::parse(raw, &kind, &state.calendar, now, Booker::Staff) {
        Ok(start) => start,
        Err(error) => {
            view.errors = vec![error];
            return render(&state, &console, &reference, view).await;
        }
    };
    let change = StaffChange {
        start: Some(start),
        ..StaffChange::default()
    };
    let moved = apply(&state, &console, reference.clone(), change, |row| {
        Flash::notice(format!(
            "{} の日時を変更しました。患者様に変更のメールをお送りします。",
            row.reference
        ))
    })
    .await;
    match moved {
        Ok(row) => see_other(&booking_href(&row.reference), Privacy::Private),
        Err(ApiError::SlotUnavailable { .. }) => {
            let alternatives =
                crate::workflows::availability::alternatives(&state, &kind, start.at(), now)
                    .await
                    .unwrap_or_default();
            view.status = StatusCode::CONFLICT;
            view.errors = vec![FieldError::new("start", "slot_unavailable")];
            view.alternatives = picker::offers(&alternatives, &state);
            render(&state, &console, &reference, view).await
        }
        Err(ApiError::Validation(errors)) => {
            view.errors = errors;
            render(&state, &console, &reference, view).await
        }
        Err(error) => error_page(&state, Some(&console), &error),
    }
}

/// `POST /staff/bookings/{reference}/note` with `staff_note` (empty clears
/// it). Never sent to the patient.
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
    let typed = typed_note(&fields);
    let mut errors = Vec::new();
    let note = patch::staff_note(&fields, &mut errors).unwrap_or(None);
    if !errors.is_empty() {
        let mut view = View::fresh(None);
        view.status = StatusCode::UNPROCESSABLE_ENTITY;
        view.errors = errors;
        view.note = Some(typed);
        return render(&state, &console, &reference, view).await;
    }
    let change = StaffChange {
        staff_note: Some(note),
        ..StaffChange::default()
    };
    let result = apply(&state, &console, reference.clone(), change, |row| {
        Flash::notice(format!("{} のスタッフメモを保存しました。", row.reference))
    })
    .await;
    match result {
        Err(ApiError::Validation(errors)) => {
            let mut view = View::fresh(None);
            view.status = StatusCode::UNPROCESSABLE_ENTITY;
            view.errors = errors;
            view.note = Some(typed);
            render(&state, &console, &reference, view).await
        }
        other => answer(&state, &console, other, &booking_href(&reference)).await,
    }
}

/// The note as typed, to show again beside its error.
pub fn typed_note(fields: &Fields) -> String {
    match fields.as_map().get("staff_note") {
        Some(serde_json::Value::String(text)) => text.clone(),
        _ => String::new(),
    }
}

/// `POST /staff/bookings/{reference}/practitioner` with `practitioner` (a
/// code of the type's practitioners): the booking is theirs at the same
/// time (the API's PATCH `practitioner`). One who is not free then, or who
/// does not take the type, shows the page again with the reason and the
/// choice kept; the patient is not mailed (the desk tells them).
pub async fn reassign(
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
    let lookup = reference.clone();
    let current = match state
        .db
        .read(move |conn| booking::find_for_staff(conn, &lookup))
        .await
    {
        Ok(row) => row,
        Err(error) => return error_page(&state, Some(&console), &error),
    };
    let typed = fields
        .text("practitioner")
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut view = View::fresh(None);
    view.practitioner = Some(typed.trim().to_string());
    let mut errors = Vec::new();
    let named =
        crate::routes::staff::bookings::practitioner(&fields, &state, &current, &mut errors);
    let Some(named) = named.filter(|_| errors.is_empty()) else {
        if errors.is_empty() {
            errors.push(FieldError::new("practitioner", "required"));
        }
        view.status = StatusCode::UNPROCESSABLE_ENTITY;
        view.errors = errors;
        return render(&state, &console, &reference, view).await;
    };
    let label = super::closures::resource_label(&state, &named);
    let change = StaffChange {
        practitioner: Some(named),
        ..StaffChange::default()
    };
    let result = apply(&state, &console, reference.clone(), change, move |row| {
        Flash::notice(format!(
            "{} の担当を{}にしました。患者様へのご連絡はお電話などでお願いします。",
            row.reference, label
        ))
    })
    .await;
    match result {
        Ok(row) => see_other(&booking_href(&row.reference), Privacy::Private),
        Err(ApiError::SlotUnavailable { .. }) => {
            view.status = StatusCode::CONFLICT;
            view.errors = vec![FieldError::new("practitioner", "practitioner_unavailable")];
            render(&state, &console, &reference, view).await
        }
        Err(ApiError::Validation(errors)) => {
            view.status = StatusCode::UNPROCESSABLE_ENTITY;
            view.errors = errors;
            render(&state, &console, &reference, view).await
        }
        Err(error) => error_page(&state, Some(&console), &error),
    }
}
