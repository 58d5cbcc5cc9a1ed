//! The patient's manage page, reached by the link in the confirmation:
//! shows the booking and offers cancel and reschedule as POST forms. A GET
//! never changes anything (mail scanners follow links). The link's token is
//! exchanged at once for a cookie (`manage_cookie`), and the pages and their
//! forms work from that cookie, with no token in any URL.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{Datelike, Utc};

use super::picker::{self, FormErrors, SlotPicker, SlotView};
use super::{
    encode_query, error_page, manage_cookie, message_page, page, query_map, see_other, span_ja,
    weekday_ja, Layout, Privacy,
};
use crate::db::bookings::BookingRow;
use crate::domain::{token_matches, Booker, BookingStatus, FieldError, SlotStart};
use crate::error::ApiError;
use crate::routes::input::read_submission;
use crate::state::AppState;
use crate::workflows::booking::{self, PatientAccess, TokenWindow};

#[derive(Template)]
#[template(path = "manage.html")]
pub struct ManagePage {
    pub layout: Layout,
    pub reference: String,
    pub status_label: &'static str,
    pub type_label: String,
    /// Who sees the patient (`中村 医師（Dr. Nakamura）`), or empty.
    pub practitioner: String,
    pub when: String,
    pub name: String,
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

/// A manage page's own address: no token, the cookie opens it.
pub(super) fn manage_href(reference: &str, extra: &[(&str, &str)]) -> String {
    if extra.is_empty() {
        format!("/manage/{reference}")
    } else {
        format!("/manage/{reference}?{}", encode_query(extra))
    }
}

/// What a request shows to open a booking: the cookie its token was
/// exchanged for, or the token itself (in the link, or in a form of a page
/// served before the cookie existed).
#[derive(Clone)]
pub(super) struct Proof {
    token: Option<String>,
    cookies: Vec<String>,
}

impl Proof {
    pub(super) fn of(req: &HttpRequest, token: Option<String>) -> Proof {
        Proof {
            token: token.filter(|token| !token.is_empty()),
            cookies: manage_cookie::presented(req),
        }
    }

    /// Every token this request offers for `reference`: the one given, and
    /// those in cookies made for that booking that are still good.
    pub(super) fn candidates(
        &self,
        state: &AppState,
        reference: &str,
        now: chrono::DateTime<Utc>,
    ) -> Vec<String> {
        let from_cookies = self.cookies.iter().filter_map(|cookie| {
            manage_cookie::token_in(&state.server_key, cookie, reference, now)
        });
        self.token.clone().into_iter().chain(from_cookies).collect()
    }

    /// The manage token that opens `row`: the one given, or the one in a
    /// cookie made for it that is still good.
    pub(super) fn token_for(
        &self,
        state: &AppState,
        row: &BookingRow,
        now: chrono::DateTime<Utc>,
    ) -> Option<String> {
        let from_cookies = self.cookies.iter().filter_map(|cookie| {
            manage_cookie::token_in(&state.server_key, cookie, &row.reference, now)
        });
        self.token
            .clone()
            .into_iter()
            .chain(from_cookies)
            .find(|token| token_matches(token, &row.manage_token_hash))
    }
}

/// The booking `reference` that `proof` opens, in the caller's connection.
pub(super) fn open_with(
    conn: &mut crate::db::DbConnection,
    state: &AppState,
    reference: &str,
    proof: &Proof,
    now: chrono::DateTime<Utc>,
) -> Result<BookingRow, Refusal> {
    let window = TokenWindow::at(&state.settings, now);
    let candidates = proof.candidates(state, reference, now);
    match booking::patient_access(conn, reference, window, &candidates) {
        Ok(PatientAccess::Open(row)) => Ok(*row),
        Ok(PatientAccess::Expired) => Err(Refusal::Expired),
        Err(error) => Err(Refusal::Error(error)),
    }
}

/// Why a manage page is not shown.
pub(super) enum Refusal {
    /// The proof was right, but the token's time is over.
    Expired,
    Error(ApiError),
}

/// The page for a refusal: the kind "expired" page for the holder of a
/// right token, else the usual error page (404 for anything wrong).
pub(super) fn refusal_page(state: &AppState, refusal: Refusal) -> HttpResponse {
    match refusal {
        Refusal::Expired => message_page(
            state,
            StatusCode::GONE,
            "このリンクの有効期限が切れています",
            "ご予約の確認・変更用のリンクは、ご来院日から一定期間が過ぎると使えなくなります。ご予約についてのお問い合わせは、お手数ですがお電話でご連絡ください。",
        ),
        Refusal::Error(error) => error_page(state, &error),
    }
}

/// The answer to a link from another site that brought no cookie: a page
/// that sends the browser on to the same address from within this site,
/// where it does send the cookie it has just been given.
pub(super) fn continue_page(state: &AppState, href: &str) -> HttpResponse {
    page(
        StatusCode::OK,
        Privacy::Private,
        &ContinuePage {
            layout: Layout::of(state),
            href: href.to_string(),
        },
    )
}

#[derive(Template)]
#[template(path = "continue.html")]
struct ContinuePage {
    layout: Layout,
    href: String,
}

struct View {
    status: StatusCode,
    notice: Option<&'static str>,
    errors: FormErrors,
    alternatives: Vec<SlotView>,
    from: Option<String>,
    chosen: String,
}

async fn render(state: &web::Data<AppState>, row: BookingRow, view: View) -> HttpResponse {
    let now = Utc::now();
    let calendar = &state.calendar;
    let kind = booking::kind_of(state, &row).clone();
    let upcoming = row.status() == BookingStatus::Confirmed && row.start_at > now.naive_utc();
    let start = calendar.local(row.start_at);
    let deadline = kind.change_deadline(start);
    let changeable = upcoming && kind.patient_may_change(start, now);
    let slot_picker = if changeable {
        let from = picker::first_day(state, view.from.as_deref(), now);
        let reference = row.reference.clone();
        let href = move |date: chrono::NaiveDate| {
            let date = date.to_string();
            format!("{}#f-start", manage_href(&reference, &[("from", &date)]))
        };
        // A move keeps the practitioner: only their free starts are offered.
        let theirs = crate::workflows::resources::kept(state, &kind, row.practitioner.as_deref());
        match picker::build_for(
            state,
            &kind,
            theirs.as_deref(),
            from,
            &view.chosen,
            Booker::Patient,
            href,
        )
        .await
        {
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
            practitioner: state
                .resources
                .find(row.practitioner.as_deref().unwrap_or_default())
                .map(|(_, resource)| {
                    if resource.label_en == resource.label {
                        resource.label.clone()
                    } else {
                        format!("{}（{}）", resource.label, resource.label_en)
                    }
                })
                .or_else(|| row.practitioner.clone())
                .unwrap_or_default(),
            when: span_ja(calendar.local(row.start_at), calendar.local(row.end_at)),
            name: row.name.clone(),
            reference: row.reference,
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

/// `GET /manage/{reference}?token=`: the link in the confirmation. A right
/// token is exchanged for the cookie and the browser sent on (303) to
/// `/manage/{reference}`, where the cookie opens the page (`[?from=][&done=]`).
pub async fn show(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut query = query_map(req.query_string());
    let token = query.remove("token");
    let exchanging = token.is_some();
    let proof = Proof::of(&req, token);
    let reference = reference.into_inner();
    let now = Utc::now();
    let (lookup_state, lookup_reference, lookup_proof) =
        (state.clone(), reference.clone(), proof.clone());
    let found = state
        .db
        .read(move |conn| {
            Ok(open_with(
                conn,
                &lookup_state,
                &lookup_reference,
                &lookup_proof,
                now,
            ))
        })
        .await
        .unwrap_or_else(|error| Err(Refusal::Error(error)));
    let row = match found {
        Ok(row) => row,
        Err(Refusal::Error(ApiError::NotFound))
            if proof.cookies.is_empty() && manage_cookie::came_from_another_site(&req) =>
        {
            return continue_page(&state, &manage_href(&reference, &[]));
        }
        Err(refusal) => return refusal_page(&state, refusal),
    };
    let token = proof.token_for(&state, &row, now).unwrap_or_default();
    let cookie = match manage_cookie::value(&state.server_key, &row.reference, &token, now) {
        Ok(cookie) => cookie,
        Err(error) => return error_page(&state, &ApiError::Internal(error)),
    };
    if exchanging {
        let mut response = see_other(&manage_href(&row.reference, &[]), Privacy::Private);
        manage_cookie::set(
            &mut response,
            &state,
            &manage_href(&row.reference, &[]),
            &cookie,
        );
        return response;
    }
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
    let path = manage_href(&row.reference, &[]);
    // Each page seen keeps the cookie for another while.
    let mut response = render(&state, row, view).await;
    manage_cookie::set(&mut response, &state, &path, &cookie);
    response
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

/// `POST /manage/{reference}/cancel`, opened by the cookie (or a `token`
/// field).
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
    let proof = Proof::of(&req, fields.text("token").ok().flatten());
    let reference = reference.into_inner();
    let now = Utc::now();
    let (work_state, work_proof) = (state.clone(), proof.clone());
    let cancelled = state
        .db
        .write(move |conn| {
            let row = match open_with(conn, &work_state, &reference, &work_proof, now) {
                Ok(row) => row,
                Err(refusal) => return Ok(Err(refusal)),
            };
            // A workflow error fails the transaction (rolled back whole).
            booking::cancel_by_patient(conn, &work_state, row, now).map(Ok)
        })
        .await
        .unwrap_or_else(|error| Err(Refusal::Error(error)));
    match cancelled {
        Ok(row) => see_other(
            &manage_href(&row.reference, &[("done", "cancelled")]),
            Privacy::Private,
        ),
        Err(Refusal::Error(error)) => {
            refused(&state, &req, proof, error, View::default_for_error()).await
        }
        Err(refusal) => refusal_page(&state, refusal),
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
    proof: Proof,
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
    let now = Utc::now();
    let lookup_state = state.clone();
    let found = state
        .db
        .read(move |conn| Ok(open_with(conn, &lookup_state, &reference, &proof, now)))
        .await
        .unwrap_or_else(|error| Err(Refusal::Error(error)));
    match found {
        Ok(row) => {
            view.errors = FormErrors::of(&errors);
            render(state, row, view).await
        }
        Err(refusal) => refusal_page(state, refusal),
    }
}

/// `POST /manage/{reference}/reschedule` with `start`, opened by the
/// cookie (or a `token` field).
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
    let proof = Proof::of(&req, fields.text("token").ok().flatten());
    let reference = reference.into_inner();
    let now = Utc::now();
    let mut view = View::default_for_error();
    view.from = fields.text("from").ok().flatten();
    view.chosen = fields.text("start").ok().flatten().unwrap_or_default();
    // Authorise before reading what is asked, so a stranger learns nothing.
    let (lookup_state, lookup_reference, lookup_proof) =
        (state.clone(), reference.clone(), proof.clone());
    let found = state
        .db
        .read(move |conn| {
            Ok(open_with(
                conn,
                &lookup_state,
                &lookup_reference,
                &lookup_proof,
                now,
            ))
        })
        .await
        .unwrap_or_else(|error| Err(Refusal::Error(error)));
    let current = match found {
        Ok(row) => row,
        Err(refusal) => return refusal_page(&state, refusal),
    };
    if let Err(error) = booking::ensure_not_started(&current, now) {
        return refused(&state, &req, proof, error, view).await;
    }
    let kind = booking::kind_of(&state, &current).clone();
    let raw_start = fields.text("start").unwrap_or(None);
    let start = match SlotStart::parse(raw_start, &kind, &state.calendar, now, Booker::Patient) {
        Ok(start) => start,
        Err(error) => {
            return refused(&state, &req, proof, ApiError::Validation(vec![error]), view).await
        }
    };
    let (work_state, work_kind, work_proof) = (state.clone(), kind.clone(), proof.clone());
    let moved = state
        .db
        .write(move |conn| {
            let row = match open_with(conn, &work_state, &reference, &work_proof, now) {
                Ok(row) => row,
                Err(refusal) => return Ok(Err(refusal)),
            };
            booking::reschedule(conn, &work_state, row, start, &work_kind, now).map(Ok)
        })
        .await
        .unwrap_or_else(|error| Err(Refusal::Error(error)));
    match moved {
        Ok(row) => see_other(
            &manage_href(&row.reference, &[("done", "rescheduled")]),
            Privacy::Private,
        ),
        Err(Refusal::Error(error @ ApiError::SlotUnavailable { .. })) => {
            let alternatives =
                crate::workflows::availability::alternatives(&state, &kind, start.at(), now)
                    .await
                    .unwrap_or_default();
            view.alternatives = picker::offers(&alternatives, &state);
            refused(&state, &req, proof, error, view).await
        }
        Err(Refusal::Error(error)) => refused(&state, &req, proof, error, view).await,
        Err(refusal) => refusal_page(&state, refusal),
    }
}
