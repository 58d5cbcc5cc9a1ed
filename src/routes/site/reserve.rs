//! The reservation form: `GET /reserve` shows it, `POST /reserve` books
//! through the same parsing and workflow as `POST /api/v1/bookings`, then
//! redirects (303) to a thank-you page so a reload cannot book twice.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};

use super::guard;
use super::manage::{manage_href, open_with, refusal_page, Proof, Refusal};
use super::manage_cookie;
use super::picker::{self, FormErrors, SlotPicker, SlotView};
use super::questionnaire_form::{self, QuestionnaireForm};
use super::{encode_query, error_page, page, query_map, see_other, span_ja, Layout, Privacy};
use crate::db::bookings::BookingRow;
use crate::domain::{consultation_type, parse_source, Booker, FieldError, Fields, NewBooking};
use crate::error::ApiError;
use crate::routes::input::read_submission;
use crate::schedule::ConsultationType;
use crate::state::AppState;
use crate::workflows::booking;

#[derive(Debug, Clone)]
pub struct TypeOption {
    pub code: String,
    pub label: String,
    pub minutes: u32,
    pub selected: bool,
}

/// A practitioner the patient may ask for.
#[derive(Debug, Clone)]
pub struct PractitionerOption {
    pub code: String,
    pub label: String,
    pub selected: bool,
}

/// What the patient typed, shown again when the form comes back.
#[derive(Debug, Clone, Default)]
pub struct BookingValues {
    pub start: String,
    pub name: String,
    pub name_kana: String,
    pub email: String,
    pub phone: String,
    /// `true`, `false` or empty.
    pub first_visit: String,
    pub message: String,
    pub consent: bool,
    /// The questionnaire's `answers.<id>` fields, by question id.
    pub answers: serde_json::Map<String, serde_json::Value>,
}

impl BookingValues {
    fn of(fields: &Fields) -> Self {
        let text = |name: &str| fields.text(name).ok().flatten().unwrap_or_default();
        BookingValues {
            start: text("start"),
            name: text("name"),
            name_kana: text("name_kana"),
            email: text("email"),
            phone: text("phone"),
            first_visit: match fields.flag("first_visit") {
                Ok(Some(true)) => "true".into(),
                Ok(Some(false)) => "false".into(),
                _ => String::new(),
            },
            message: text("message"),
            consent: fields.flag("consent").ok().flatten().unwrap_or(false),
            answers: questionnaire_form::typed_answers(fields),
        }
    }
}

#[derive(Template)]
#[template(path = "reserve.html")]
pub struct ReservePage {
    pub layout: Layout,
    pub types: Vec<TypeOption>,
    pub kind: ConsultationType,
    pub source: String,
    pub picker: SlotPicker,
    /// The chosen type's practitioners (empty when it has none); none
    /// selected is "指名なし" (no preference).
    pub practitioners: Vec<PractitionerOption>,
    /// The practitioner asked for (a code), or empty for no preference.
    pub practitioner: String,
    pub values: BookingValues,
    /// The chosen type's intake questionnaire, if it has one.
    pub questionnaire: Option<QuestionnaireForm>,
    pub errors: FormErrors,
    pub alternatives: Vec<SlotView>,
    /// Shown above the form (a submission to send again).
    pub notice: Option<&'static str>,
    pub form_token: String,
    pub honeypot: &'static str,
    pub token_field: &'static str,
    /// The chosen start was taken: that day's waiting list.
    pub waitlist_href: Option<String>,
}

/// The page's state that comes from the address or the hidden fields.
struct Context {
    kind: ConsultationType,
    source: String,
    from: Option<String>,
    /// A practitioner of `kind` asked for, or empty (no preference; also
    /// when the code is not one of the type's, e.g. after a change of type).
    practitioner: String,
}

impl Context {
    fn of(state: &AppState, fields: &Fields) -> Self {
        let kind = consultation_type(fields, &state.calendar)
            .unwrap_or_else(|_| state.calendar.default_type().clone());
        let asked = fields.text("practitioner").ok().flatten();
        let practitioner =
            crate::workflows::resources::named_practitioner(state, &kind, asked.as_deref())
                .ok()
                .flatten()
                .unwrap_or_default();
        Context {
            kind,
            source: parse_source(fields).ok().flatten().unwrap_or_default(),
            from: fields.text("from").ok().flatten(),
            practitioner,
        }
    }
}

/// The practitioners who take `kind`, in configuration order.
fn practitioner_options(
    state: &AppState,
    kind: &ConsultationType,
    chosen: &str,
) -> Vec<PractitionerOption> {
    let Some(needs) = state.resources.needs(&kind.code) else {
        return Vec::new();
    };
    needs
        .practitioners
        .iter()
        .filter_map(|index| state.resources.get(*index))
        .map(|resource| PractitionerOption {
            code: resource.code.clone(),
            label: resource.label.clone(),
            selected: resource.code == chosen,
        })
        .collect()
}

async fn render(
    state: &web::Data<AppState>,
    status: StatusCode,
    context: Context,
    values: BookingValues,
    errors: FormErrors,
    alternatives: Vec<SlotView>,
    notice: Option<&'static str>,
) -> HttpResponse {
    let now = Utc::now();
    let from = picker::first_day(state, context.from.as_deref(), now);
    let (kind_code, source) = (context.kind.code.clone(), context.source.clone());
    let chosen_practitioner = context.practitioner.clone();
    let week_href = move |date: chrono::NaiveDate| {
        let date = date.to_string();
        let mut pairs = vec![("type", kind_code.as_str()), ("from", date.as_str())];
        if !chosen_practitioner.is_empty() {
            pairs.push(("practitioner", chosen_practitioner.as_str()));
        }
        if !source.is_empty() {
            pairs.push(("source", source.as_str()));
        }
        format!("/reserve?{}#f-start", encode_query(&pairs))
    };
    let only = Some(context.practitioner.as_str()).filter(|code| !code.is_empty());
    let slot_picker = match picker::build_for(
        state,
        &context.kind,
        only,
        from,
        &values.start,
        Booker::Patient,
        week_href,
    )
    .await
    {
        Ok(slot_picker) => slot_picker,
        Err(error) => return error_page(state, &error),
    };
    let types = state
        .calendar
        .consultation_types()
        .iter()
        .map(|kind| TypeOption {
            code: kind.code.clone(),
            label: kind.label.clone(),
            minutes: kind.duration_minutes,
            selected: kind.code == context.kind.code,
        })
        .collect();
    let taken = errors
        .get("start")
        .is_some_and(|error| error.code == "slot_unavailable");
    let waitlist_href = values
        .start
        .get(..10)
        .and_then(|day| chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
        .filter(|_| taken)
        .map(|day| picker::waitlist_href(&context.kind.code, day));
    // The form shows what was typed: it may carry personal data.
    let privacy = if errors.is_empty() && notice.is_none() {
        Privacy::Public
    } else {
        Privacy::Private
    };
    page(
        status,
        privacy,
        &ReservePage {
            layout: Layout::of(state),
            types,
            practitioners: practitioner_options(state, &context.kind, &context.practitioner),
            practitioner: context.practitioner,
            source: context.source,
            picker: slot_picker,
            questionnaire: crate::domain::questionnaire::current_for(&context.kind.code)
                .map(|asked| QuestionnaireForm::of(asked, &values.answers)),
            kind: context.kind,
            values,
            errors,
            alternatives,
            notice,
            form_token: guard::issue(&state.settings.forms, now),
            honeypot: guard::HONEYPOT_FIELD,
            token_field: guard::TOKEN_FIELD,
            waitlist_href,
        },
    )
}

/// `GET /reserve[?type=&from=&source=]`
pub async fn form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = query_map(req.query_string());
    let fields = Fields::from_form_pairs(query.into_iter().collect());
    let context = Context::of(&state, &fields);
    render(
        &state,
        StatusCode::OK,
        context,
        BookingValues::default(),
        FormErrors::default(),
        Vec::new(),
        None,
    )
    .await
}

/// The note above the form when what was sent was too large to read.
const TOO_LARGE: &str = "送信された内容が大きすぎたため、受け付けられませんでした。お手数ですが、ご相談内容を2,000文字以内にして、もう一度ご入力ください。";

/// `POST /reserve`: books, or shows the form again with every problem.
pub async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let limit = state
        .settings
        .server
        .body_limit_bytes
        .max(NewBooking::MAX_BODY_BYTES);
    let submission = match read_submission(&req, payload, limit).await {
        Ok(submission) => submission,
        // More than any valid booking can take (the form's own limits
        // prevent it): the form again, saying why, not a dead end.
        Err(ApiError::PayloadTooLarge { .. }) => {
            let context = Context::of(&state, &Fields::default());
            return render(
                &state,
                StatusCode::PAYLOAD_TOO_LARGE,
                context,
                BookingValues::default(),
                FormErrors::default(),
                Vec::new(),
                Some(TOO_LARGE),
            )
            .await;
        }
        Err(error) => return error_page(&state, &error),
    };
    let fields = without_bad_source(submission.fields);
    let now = Utc::now();
    let context = Context::of(&state, &fields);
    let values = BookingValues::of(&fields);
    match guard::check(&fields, &state.settings.forms, now) {
        Ok(()) => {}
        Err(rejection @ guard::Rejection::HoneypotFilled) => {
            return super::pages::rejected(&state, rejection, "/reserve")
        }
        // Too fast, expired or signed by another key: a person may have
        // sent it (autofill, a tab left open, a restart), so the form
        // comes back with everything typed, to be sent again.
        Err(rejection) => {
            guard::log_resend(rejection);
            return render(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                context,
                values,
                FormErrors::default(),
                Vec::new(),
                Some(guard::SEND_AGAIN),
            )
            .await;
        }
    }
    let new_booking = match NewBooking::parse(&fields, &state.calendar, now) {
        Ok(new_booking) => new_booking,
        Err(errors) => return invalid(&state, context, values, &errors).await,
    };
    let (kind, around) = (new_booking.kind.clone(), new_booking.start.at());
    let work_state = state.clone();
    let booked = async {
        let prepared = booking::prepare(&state, &new_booking, now)?;
        state
            .db
            .write(move |conn| booking::book(conn, &work_state, &new_booking, prepared, now))
            .await
    }
    .await;
    match booked {
        Ok(booked) => {
            crate::routes::bursts::note_booking(&req, &booked.row.reference);
            handed_over(&state, &booked.row, booked.manage_token.expose(), now)
        }
        Err(ApiError::SlotUnavailable { .. }) => {
            // Nearby starts of any practitioner would be refused again for
            // a named one: the picker then shows theirs.
            let alternatives = if context.practitioner.is_empty() {
                crate::workflows::availability::alternatives(&state, &kind, around, now)
                    .await
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let errors = FormErrors::of(&[FieldError::new("start", "slot_unavailable")]);
            let offers = picker::offers(&alternatives, &state);
            render(
                &state,
                StatusCode::CONFLICT,
                context,
                values,
                errors,
                offers,
                None,
            )
            .await
        }
        Err(ApiError::TooManyActiveBookings { .. }) => {
            let errors = FormErrors::of(&[FieldError::new("email", "too_many_active_bookings")]);
            render(
                &state,
                StatusCode::CONFLICT,
                context,
                values,
                errors,
                Vec::new(),
                None,
            )
            .await
        }
        Err(ApiError::Validation(errors)) => invalid(&state, context, values, &errors).await,
        Err(error) => error_page(&state, &error),
    }
}

/// The form's hidden `source` is for statistics only: a tampered one is
/// dropped rather than shown to the patient as an error they cannot fix
/// (both forms do this).
pub fn without_bad_source(fields: Fields) -> Fields {
    if parse_source(&fields).is_ok() {
        return fields;
    }
    let mut map = fields.as_map().clone();
    map.remove("source");
    Fields::from_json_object(map)
}

async fn invalid(
    state: &web::Data<AppState>,
    context: Context,
    values: BookingValues,
    errors: &[FieldError],
) -> HttpResponse {
    let errors = FormErrors::of(errors);
    render(
        state,
        StatusCode::UNPROCESSABLE_ENTITY,
        context,
        values,
        errors,
        Vec::new(),
        None,
    )
    .await
}

#[derive(Template)]
#[template(path = "thanks.html")]
pub struct ThanksPage {
    pub layout: Layout,
    pub reference: String,
    pub when: String,
    pub type_label: String,
    /// The practitioner's label, or empty.
    pub practitioner: String,
    pub manage_href: String,
}

fn thanks_href(reference: &str) -> String {
    format!("/reserve/thanks/{reference}")
}

/// The way to the thank-you page for `row`, with the cookie that opens it
/// and the booking's manage pages: no manage token in any URL.
fn handed_over(
    state: &AppState,
    row: &BookingRow,
    token: &str,
    now: DateTime<Utc>,
) -> HttpResponse {
    let cookie = match manage_cookie::value(&state.server_key, &row.reference, token, now) {
        Ok(cookie) => cookie,
        Err(error) => return error_page(state, &ApiError::Internal(error)),
    };
    let mut response = see_other(&thanks_href(&row.reference), Privacy::Private);
    manage_cookie::set(&mut response, state, &thanks_href(&row.reference), &cookie);
    manage_cookie::set(
        &mut response,
        state,
        &manage_href(&row.reference, &[]),
        &cookie,
    );
    response
}

/// `GET /reserve/thanks/{reference}`: shows the booking just made, opened
/// by the cookie the booking set; only a read, so reloading it books
/// nothing. (`?token=` is exchanged for the cookie, as on the manage page.)
pub async fn thanks(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = query_map(req.query_string()).remove("token");
    let exchanging = token.is_some();
    let proof = Proof::of(&req, token);
    let now = Utc::now();
    let (lookup_state, lookup_proof) = (state.clone(), proof.clone());
    let reference = reference.into_inner();
    let found = state
        .db
        .read(move |conn| {
            Ok(open_with(
                conn,
                &lookup_state,
                &reference,
                &lookup_proof,
                now,
            ))
        })
        .await
        .unwrap_or_else(|error| Err(Refusal::Error(error)));
    let row = match found {
        Ok(row) => row,
        Err(refusal) => return refusal_page(&state, refusal),
    };
    if exchanging {
        let token = proof.token_for(&state, &row, now).unwrap_or_default();
        return handed_over(&state, &row, &token, now);
    }
    let calendar = &state.calendar;
    page(
        StatusCode::OK,
        Privacy::Private,
        &ThanksPage {
            layout: Layout::of(&state),
            when: span_ja(calendar.local(row.start_at), calendar.local(row.end_at)),
            type_label: booking::kind_of(&state, &row).label.clone(),
            practitioner: crate::routes::bookings::PractitionerRef::of(&state, &row)
                .map(|practitioner| practitioner.label)
                .unwrap_or_default(),
            manage_href: manage_href(&row.reference, &[]),
            reference: row.reference,
        },
    )
}
