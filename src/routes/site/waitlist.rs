//! The waiting-list pages: `GET /waitlist` (the form, linked from a full
//! day on `/reserve`), `POST /waitlist` (joins through the same parsing and
//! workflow as `POST /api/v1/waitlist`, then 303 to the entry's page), the
//! entry's page (`GET /waitlist/{reference}`: its state and, while a seat
//! is held for it, the one button that books it) and its two POSTs.
//!
//! As on the manage pages, the token in an emailed link
//! (`/waitlist/{reference}?token=`) is exchanged at once for the
//! `manage_cookie` scoped to the entry's pages, and the browser is sent on
//! to the address without it; the pages and their forms work from the
//! cookie. A GET never changes anything.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::NaiveDate;

use super::manage::Proof;
use super::picker::FormErrors;
use super::{
    encode_query, error_page, guard, manage_cookie, page, query_map, see_other, span_ja, Layout,
    Privacy,
};
use crate::db::waitlist::EntryRow;
use crate::domain::{consultation_type, FieldError, Fields, NewWaitlistEntry};
use crate::error::ApiError;
use crate::mail::waitlist::window_ja;
use crate::routes::input::read_submission;
use crate::state::AppState;
use crate::workflows::waitlist::{self, EntryView};

#[derive(Debug, Clone)]
pub struct TypeOption {
    pub code: String,
    pub label: String,
    pub selected: bool,
}

/// What the patient typed, shown again when the form comes back.
#[derive(Debug, Clone, Default)]
pub struct WaitlistValues {
    pub kind: String,
    pub date: String,
    pub from: String,
    pub to: String,
    pub name: String,
    pub name_kana: String,
    pub email: String,
    pub phone: String,
    pub consent: bool,
}

impl WaitlistValues {
    fn of(fields: &Fields) -> Self {
        let text = |name: &str| fields.text(name).ok().flatten().unwrap_or_default();
        WaitlistValues {
            kind: text("type"),
            date: text("date"),
            from: text("from"),
            to: text("to"),
            name: text("name"),
            name_kana: text("name_kana"),
            email: text("email"),
            phone: text("phone"),
            consent: fields.flag("consent").ok().flatten().unwrap_or(false),
        }
    }
}

#[derive(Template)]
#[template(path = "waitlist.html")]
pub struct WaitlistPage {
    pub layout: Layout,
    pub types: Vec<TypeOption>,
    pub values: WaitlistValues,
    pub errors: FormErrors,
    pub notice: Option<&'static str>,
    pub hold_minutes: u32,
    pub today: String,
    pub last_day: String,
    pub form_token: String,
    pub honeypot: &'static str,
    pub token_field: &'static str,
}

fn form_page(
    state: &AppState,
    status: StatusCode,
    values: WaitlistValues,
    errors: &[FieldError],
    notice: Option<&'static str>,
) -> HttpResponse {
    let now = state.clock.now();
    let fields = Fields::from_form_pairs(vec![("type".into(), values.kind.clone())]);
    let chosen = consultation_type(&fields, &state.calendar)
        .unwrap_or_else(|_| state.calendar.default_type().clone());
    let types = state
        .calendar
        .consultation_types()
        .iter()
        .map(|kind| TypeOption {
            code: kind.code.clone(),
            label: kind.label.clone(),
            selected: kind.code == chosen.code,
        })
        .collect();
    let today = state.calendar.today(now);
    let privacy = if errors.is_empty() && notice.is_none() {
        Privacy::Public
    } else {
        Privacy::Private
    };
    page(
        status,
        privacy,
        &WaitlistPage {
            layout: Layout::of(state),
            types,
            values,
            errors: FormErrors::of(errors),
            notice,
            hold_minutes: state.settings.waitlist.hold_minutes,
            today: today.to_string(),
            last_day: (today + chrono::Duration::days(state.calendar.booking_window_days()))
                .to_string(),
            form_token: guard::issue(&state.settings.forms, chrono::Utc::now()),
            honeypot: guard::HONEYPOT_FIELD,
            token_field: guard::TOKEN_FIELD,
        },
    )
}

/// `GET /waitlist[?type=&date=]`
pub async fn form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = query_map(req.query_string());
    let pick = |name: &str| query.get(name).cloned().unwrap_or_default();
    let date = pick("date");
    let values = WaitlistValues {
        kind: pick("type"),
        // Only a real date is carried over from the address.
        date: NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .map(|_| date)
            .unwrap_or_default(),
        ..WaitlistValues::default()
    };
    form_page(&state, StatusCode::OK, values, &[], None)
}

const TOO_LARGE: &str = "送信された内容が大きすぎたため、受け付けられませんでした。お手数ですが、もう一度ご入力ください。";

/// `POST /waitlist`: joins, or shows the form again with every problem.
pub async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let limit = state
        .settings
        .server
        .body_limit_bytes
        .max(NewWaitlistEntry::MAX_BODY_BYTES);
    let submission = match read_submission(&req, payload, limit).await {
        Ok(submission) => submission,
        Err(ApiError::PayloadTooLarge { .. }) => {
            return form_page(
                &state,
                StatusCode::PAYLOAD_TOO_LARGE,
                WaitlistValues::default(),
                &[],
                Some(TOO_LARGE),
            )
        }
        Err(error) => return error_page(&state, &error),
    };
    let fields = submission.fields;
    let values = WaitlistValues::of(&fields);
    match guard::check(&fields, &state.settings.forms, chrono::Utc::now()) {
        Ok(()) => {}
        Err(rejection @ guard::Rejection::HoneypotFilled) => {
            return super::pages::rejected(&state, rejection, "/waitlist")
        }
        Err(rejection) => {
            guard::log_resend(rejection);
            return form_page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                values,
                &[],
                Some(guard::SEND_AGAIN),
            );
        }
    }
    let now = state.clock.now();
    let entry = match NewWaitlistEntry::parse(&fields, &state.calendar, now) {
        Ok(entry) => entry,
        Err(errors) => {
            return form_page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                values,
                &errors,
                None,
            )
        }
    };
    let work_state = state.clone();
    let joined = state
        .db
        .write(move |conn| waitlist::join(conn, &work_state, &entry, now))
        .await;
    match joined {
        Ok(joined) => {
            let reference = &joined.row.reference;
            let mut response =
                see_other(&entry_href(reference, &[("joined", "1")]), Privacy::Private);
            if let Err(error) = set_cookie(
                &mut response,
                &state,
                reference,
                joined.manage_token.expose(),
            ) {
                return error_page(&state, &error);
            }
            response
        }
        Err(ApiError::Validation(errors)) => form_page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            values,
            &errors,
            None,
        ),
        Err(error) => error_page(&state, &error),
    }
}

/// An entry's page: no token, the cookie opens it.
fn entry_href(reference: &str, extra: &[(&str, &str)]) -> String {
    if extra.is_empty() {
        format!("/waitlist/{reference}")
    } else {
        format!("/waitlist/{reference}?{}", encode_query(extra))
    }
}

/// Gives `response` the cookie that opens the entry's pages with `token`
/// (for another while, each time one is seen).
fn set_cookie(
    response: &mut HttpResponse,
    state: &AppState,
    reference: &str,
    token: &str,
) -> Result<(), ApiError> {
    let now = chrono::Utc::now();
    let cookie = manage_cookie::value(&state.server_key, reference, token, now)
        .map_err(ApiError::Internal)?;
    manage_cookie::set(response, state, &entry_href(reference, &[]), &cookie);
    Ok(())
}

#[derive(Template)]
#[template(path = "waitlist_entry.html")]
pub struct EntryPage {
    pub layout: Layout,
    pub reference: String,
    pub status: String,
    pub status_label: &'static str,
    pub type_label: String,
    pub day: String,
    pub window: String,
    /// The held seat (`when`, `until`), while one is.
    pub offer: Option<(String, String)>,
    pub open: bool,
    pub notice: Option<&'static str>,
}

fn entry_page(
    state: &AppState,
    status: StatusCode,
    view: EntryView,
    notice: Option<&'static str>,
) -> HttpResponse {
    let calendar = &state.calendar;
    let row: &EntryRow = &view.row;
    let offer = view.offer.as_ref().map(|offer| {
        (
            span_ja(calendar.local(offer.start_at), calendar.local(offer.end_at)),
            crate::mail::messages::japanese_time(calendar, offer.expires_at),
        )
    });
    page(
        status,
        Privacy::Private,
        &EntryPage {
            layout: Layout::of(state),
            reference: row.reference.clone(),
            status: row.status.clone(),
            status_label: row.status().label_ja(),
            type_label: calendar
                .consultation_type(&row.type_code)
                .map_or_else(|| row.type_code.clone(), |kind| kind.label.clone()),
            day: super::date_ja(row.wanted_date),
            window: window_ja(row),
            offer,
            open: row.status().is_open(),
            notice,
        },
    )
}

async fn load(
    state: &web::Data<AppState>,
    reference: String,
    tokens: Vec<String>,
) -> Result<EntryView, ApiError> {
    state
        .db
        .read(move |conn| {
            let row = waitlist::find_with_token(conn, &reference, &tokens)?;
            waitlist::view(conn, row)
        })
        .await
}

/// `GET /waitlist/{reference}[?token=]`: an emailed link's token is
/// exchanged for the cookie and the browser sent on (303) to the address
/// without it (`[?joined=1]`, `[?done=left]` kept), where the cookie opens
/// the page.
pub async fn show(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut query = query_map(req.query_string());
    let given = query.remove("token").filter(|token| !token.is_empty());
    let exchanging = given.is_some();
    let reference = reference.into_inner();
    // A link is judged by its own token; a page by its cookie.
    let tokens = match given {
        Some(token) => vec![token],
        None => Proof::of(&req, None).candidates(&state, &reference, chrono::Utc::now()),
    };
    let view = match load(&state, reference.clone(), tokens.clone()).await {
        Ok(view) => view,
        Err(ApiError::NotFound)
            if !exchanging
                && manage_cookie::presented(&req).is_empty()
                && manage_cookie::came_from_another_site(&req) =>
        {
            return super::manage::continue_page(&state, &entry_href(&reference, &[]));
        }
        Err(error) => return error_page(&state, &error),
    };
    let reference = view.row.reference.clone();
    let Some(token) = tokens.into_iter().next() else {
        return error_page(&state, &ApiError::NotFound);
    };
    if exchanging {
        let kept: Vec<(&str, &str)> = ["joined", "done"]
            .iter()
            .filter_map(|name| query.get(*name).map(|value| (*name, value.as_str())))
            .collect();
        let mut response = see_other(&entry_href(&reference, &kept), Privacy::Private);
        if let Err(error) = set_cookie(&mut response, &state, &reference, &token) {
            return error_page(&state, &error);
        }
        return response;
    }
    let notice = match query.get("done").map(String::as_str) {
        _ if query.contains_key("joined") => Some("キャンセル待ちに登録しました。確認のメールをお送りしました。(You are on the waiting list; we have emailed you.)"),
        Some("left") => Some("キャンセル待ちの登録を取り消しました。(You have left the waiting list.)"),
        _ => None,
    };
    let mut response = entry_page(&state, StatusCode::OK, view, notice);
    if let Err(error) = set_cookie(&mut response, &state, &reference, &token) {
        return error_page(&state, &error);
    }
    response
}

/// The tokens a POST offers: its form's `token` field (a page served
/// before the cookie existed) and the cookie's.
async fn posted_tokens(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    reference: &str,
) -> Vec<String> {
    let given = match read_submission(req, payload, 4096).await {
        Ok(submission) => submission.fields.text("token").ok().flatten(),
        Err(_) => None,
    };
    Proof::of(req, given).candidates(state, reference, chrono::Utc::now())
}

/// `POST /waitlist/{reference}/cancel`: leaves the list.
pub async fn cancel(
    req: HttpRequest,
    reference: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let reference = reference.into_inner();
    let tokens = posted_tokens(&req, payload, &state, &reference).await;
    let now = state.clock.now();
    let left = state
        .db
        .write(move |conn| {
            let row = waitlist::find_with_token(conn, &reference, &tokens)?;
            waitlist::leave(conn, row, now)
        })
        .await;
    match left {
        Ok(row) => see_other(
            &entry_href(&row.reference, &[("done", "left")]),
            Privacy::Private,
        ),
        Err(error) => error_page(&state, &error),
    }
}

/// `POST /waitlist/{reference}/accept`: books the held seat and shows the
/// booking's page, or says the hold has ended.
pub async fn accept(
    req: HttpRequest,
    reference: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let reference = reference.into_inner();
    let tokens = posted_tokens(&req, payload, &state, &reference).await;
    let now = state.clock.now();
    let (lookup, work_tokens) = (reference.clone(), tokens.clone());
    let work_state = state.clone();
    let booked = state
        .db
        .write(move |conn| {
            let row = waitlist::find_with_token(conn, &lookup, &work_tokens)?;
            waitlist::accept(conn, &work_state, row, now)
        })
        .await;
    match booked {
        Ok(booked) => see_other(
            &format!(
                "/reserve/thanks/{}?{}",
                booked.row.reference,
                encode_query(&[("token", booked.manage_token.expose())])
            ),
            Privacy::Private,
        ),
        Err(ApiError::Conflict {
            code: "offer_expired",
            ..
        }) => match load(&state, reference, tokens).await {
            Ok(view) => entry_page(
                &state,
                StatusCode::CONFLICT,
                view,
                Some("お取り置きの期限が過ぎたため、このお席はご予約いただけませんでした。空きが出れば、またご案内します。(The hold has ended; this place could not be booked.)"),
            ),
            Err(error) => error_page(&state, &error),
        },
        Err(error) => error_page(&state, &error),
    }
}
