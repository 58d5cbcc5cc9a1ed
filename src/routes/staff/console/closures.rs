//! Closures (`/staff/closures`): the coming ones, each with the confirmed
//! bookings still inside it (to call those patients), forms to close a
//! whole day or hours of one (for the clinic, or as one practitioner's or
//! room's time off when they are configured), and a button to remove one. The forms go
//! through the workflow the staff API uses.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveTime, Utc};

use super::session::{page_session, post_form, redirect_with, Console};
use super::{error_page, page, ConsoleLayout, Nav};
use crate::db::closures::{self as closure_rows, ClosureRow};
use crate::domain::{clinic_date, ClosureRequest, FieldError, Fields};
use crate::error::ApiError;
use crate::routes::site::picker::FormErrors;
use crate::routes::site::{see_other, Privacy};
use crate::schedule::availability::utc_range;
use crate::state::AppState;
use crate::workflows::closures::{self as closures_workflow, Closed};
use crate::workflows::staff_reads;
use crate::workflows::staff_sessions::{self, Flash};

/// The most closures listed (a clinic has a handful ahead).
const LISTED: i64 = 200;

/// A confirmed booking inside a closure: whom to call.
#[derive(Debug, Clone)]
pub struct AffectedLine {
    pub reference: String,
    pub href: String,
    pub when: String,
    pub name: String,
    pub name_kana: String,
    pub phone: String,
}

#[derive(Debug, Clone)]
pub struct ClosureLine {
    pub id: i32,
    pub when: String,
    pub whole_day: bool,
    /// Whose time off it is (a practitioner's or room's label); empty when
    /// the clinic closes.
    pub resource: String,
    pub reason: String,
    pub created_by: String,
    pub created: String,
    pub affected: Vec<AffectedLine>,
}

/// What was typed into the two forms.
#[derive(Debug, Clone, Default)]
pub struct ClosureValues {
    pub date: String,
    pub start: String,
    pub end: String,
    pub reason: String,
    /// A practitioner's or room's code, or empty for the clinic.
    pub resource: String,
}

/// A practitioner or room a closure may be the time off of.
#[derive(Debug, Clone)]
pub struct ResourceChoice {
    pub code: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "staff/closures.html")]
pub struct ClosuresPage {
    pub layout: ConsoleLayout,
    pub closures: Vec<ClosureLine>,
    /// Which form came back with errors: `day`, `hours` or empty.
    pub form: &'static str,
    pub values: ClosureValues,
    pub errors: FormErrors,
    pub times: Vec<String>,
    /// Practitioners and rooms (empty when none are configured).
    pub resources: Vec<ResourceChoice>,
}

/// A resource's label as staff read it, by code (the code itself when the
/// configuration no longer has it).
pub fn resource_label(state: &AppState, code: &str) -> String {
    state
        .resources
        .find(code)
        .map_or_else(|| code.to_string(), |(_, resource)| resource.label.clone())
}

fn closure_when(state: &AppState, row: &ClosureRow) -> String {
    let calendar = &state.calendar;
    if let Some(date) = row.closed_date {
        return format!("{} 終日", crate::routes::site::date_ja(date));
    }
    let (start, end) = (calendar.local(row.start_at), calendar.local(row.end_at));
    if start.date_naive() == end.date_naive() {
        format!(
            "{} {}〜{}",
            crate::routes::site::date_ja(start.date_naive()),
            start.format("%H:%M"),
            end.format("%H:%M")
        )
    } else {
        format!(
            "{} {} 〜 {} {}",
            crate::routes::site::date_ja(start.date_naive()),
            start.format("%H:%M"),
            crate::routes::site::date_ja(end.date_naive()),
            end.format("%H:%M")
        )
    }
}

/// The clinic's grid times from opening to closing, for the hour choices.
fn grid_times(state: &AppState) -> Vec<String> {
    let calendar = &state.calendar;
    let step = Duration::minutes(calendar.slot_minutes().into());
    let mut times = Vec::new();
    let mut time = calendar.open_time();
    while time <= calendar.close_time() {
        times.push(time.format("%H:%M").to_string());
        let next = time + step;
        if next <= time {
            break;
        }
        time = next;
    }
    times
}

/// `GET /staff/closures`
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let console = match page_session(&req, &state).await {
        Ok(console) => console,
        Err(response) => return response,
    };
    let today = state.calendar.today(Utc::now());
    let values = ClosureValues {
        date: today.to_string(),
        ..ClosureValues::default()
    };
    render(&state, &console, StatusCode::OK, "", values, Vec::new()).await
}

async fn render(
    state: &web::Data<AppState>,
    console: &Console,
    status: StatusCode,
    form: &'static str,
    values: ClosureValues,
    errors: Vec<FieldError>,
) -> HttpResponse {
    let today = state.calendar.today(Utc::now());
    let from = utc_range(&state.calendar, today, today).0;
    let actor = console.actor();
    let slot_minutes = state.calendar.slot_minutes();
    let loaded = state
        .db
        .write(move |conn| {
            let rows = closure_rows::page(conn, from, None, LISTED)?;
            let inside = staff_reads::bookings_inside_closures(
                conn,
                &rows,
                slot_minutes,
                &actor,
                Utc::now(),
            )?;
            Ok((rows, inside))
        })
        .await;
    let (rows, inside) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(state, Some(console), &error),
    };
    let closures = rows
        .iter()
        .zip(inside)
        .map(|(row, affected)| ClosureLine {
            id: row.id,
            when: closure_when(state, row),
            whole_day: row.closed_date.is_some(),
            resource: row
                .resource
                .as_deref()
                .map(|code| resource_label(state, code))
                .unwrap_or_default(),
            reason: row.reason.clone(),
            created_by: row.created_by.clone(),
            created: super::when_ja(state, row.created_at),
            affected: affected
                .iter()
                .map(|booking| {
                    let start = state.calendar.local(booking.start_at);
                    AffectedLine {
                        reference: booking.reference.clone(),
                        href: format!("/staff/bookings/{}", booking.reference),
                        when: format!(
                            "{} {}",
                            crate::routes::site::date_ja(start.date_naive()),
                            start.format("%H:%M")
                        ),
                        name: booking.name.clone(),
                        name_kana: booking.name_kana.clone().unwrap_or_default(),
                        phone: booking.phone.clone(),
                    }
                })
                .collect(),
        })
        .collect();
    let mut errors = FormErrors::of(&errors);
    if form == "hours" {
        // The hours form's own fields (the day form has a date too).
        for error in &mut errors.0 {
            if error.field == "date" || error.field == "reason" || error.field == "resource" {
                error.target = format!("f-hours-{}", error.field);
            }
        }
    }
    page(
        status,
        &ClosuresPage {
            layout: console.layout(state, Nav::Closures),
            closures,
            form,
            values,
            errors,
            times: grid_times(state),
            resources: state
                .resources
                .all()
                .iter()
                .map(|resource| ResourceChoice {
                    code: resource.code.clone(),
                    label: resource.label.clone(),
                })
                .collect(),
        },
    )
}

/// Reads one of the two forms into a closure request: `kind=day` with
/// `date`, or `kind=hours` with `date`, `start` and `end` (clinic times).
fn parse_form(
    fields: &Fields,
    state: &AppState,
) -> (
    &'static str,
    ClosureValues,
    Result<ClosureRequest, Vec<FieldError>>,
) {
    let text = |name: &str| fields.text(name).ok().flatten().unwrap_or_default();
    let values = ClosureValues {
        date: text("date").trim().to_string(),
        start: text("start"),
        end: text("end"),
        reason: text("reason"),
        resource: text("resource").trim().to_string(),
    };
    let whole_day = text("kind") != "hours";
    let form = if whole_day { "day" } else { "hours" };
    let mut pairs = vec![("reason".to_string(), values.reason.clone())];
    let mut errors = Vec::new();
    let date = clinic_date(&values.date);
    if values.date.is_empty() {
        errors.push(FieldError::new("date", "required"));
    } else if date.is_none() {
        errors.push(FieldError::new("date", "invalid"));
    }
    if whole_day {
        pairs.push(("date".into(), values.date.clone()));
    } else {
        for (name, time) in [("start", &values.start), ("end", &values.end)] {
            let time = NaiveTime::parse_from_str(time.trim(), "%H:%M").ok();
            match (date, time) {
                (Some(date), Some(time)) => {
                    pairs.push((name.into(), format!("{date}T{}", time.format("%H:%M"))))
                }
                (_, None) => errors.push(FieldError::new(name, "required")),
                (None, Some(_)) => {}
            }
        }
    }
    let resource = crate::workflows::resources::closure_resource(state, Some(&values.resource))
        .unwrap_or_else(|error| {
            errors.push(error);
            None
        });
    let parsed = ClosureRequest::parse(&Fields::from_form_pairs(pairs), &state.calendar);
    let result = match parsed {
        Ok(mut request) if errors.is_empty() => {
            request.resource = resource;
            Ok(request)
        }
        Ok(_) => Err(errors),
        Err(more) => {
            // Without a date (or on the day form) there is no range to
            // speak of: the date's own error says what to fix.
            let no_range = whole_day || date.is_none();
            errors.extend(
                more.into_iter()
                    .filter(|e| !(no_range && (e.field == "start" || e.field == "end"))),
            );
            Err(errors)
        }
    };
    (form, values, result)
}

/// `POST /staff/closures`: closes a day or hours; the confirmed bookings
/// inside stay booked and are listed with the closure.
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (console, fields) = match post_form(&req, payload, &state).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let (form, values, request) = parse_form(&fields, &state);
    let request = match request {
        Ok(request) => request,
        Err(errors) => {
            return render(
                &state,
                &console,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                values,
                errors,
            )
            .await
        }
    };
    let (actor, session, work_state) = (console.actor(), console.session.clone(), state.clone());
    let slot_minutes = state.calendar.slot_minutes();
    let closed = state
        .db
        .write(move |conn| {
            let closed = closures_workflow::close(conn, &request, slot_minutes, &actor, Utc::now())?;
            let Closed { closure, affected } = &closed;
            let mut when = closure_when(&work_state, closure);
            if let Some(code) = closure.resource.as_deref() {
                when = format!("{} {when}", resource_label(&work_state, code));
            }
            let text = if affected.is_empty() {
                format!("休診を追加しました（{when}）。この時間に確定済みの予約はありません。")
            } else {
                format!(
                    "休診を追加しました（{when}）。この時間に確定済みの予約が{}件あります。下の一覧から患者様にご連絡ください。",
                    affected.len()
                )
            };
            staff_sessions::leave_flash(conn, &session, &Flash::notice(text))?;
            Ok(closed.closure.id)
        })
        .await;
    match closed {
        Ok(id) => see_other(&format!("/staff/closures#closure-{id}"), Privacy::Private),
        Err(ApiError::Validation(errors)) => {
            render(
                &state,
                &console,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                values,
                errors,
            )
            .await
        }
        Err(error) => error_page(&state, Some(&console), &error),
    }
}

/// `POST /staff/closures/{id}/delete`: the time is bookable again.
pub async fn delete(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (console, _) = match post_form(&req, payload, &state).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let Ok(id) = id.parse::<i32>() else {
        return error_page(&state, Some(&console), &ApiError::NotFound);
    };
    let actor = console.actor();
    match state
        .db
        .write(move |conn| closures_workflow::reopen(conn, id, &actor, Utc::now()))
        .await
    {
        Ok(()) => {
            redirect_with(
                &state,
                &console,
                Flash::notice("休診設定を削除しました。この時間は再び予約を受け付けます。"),
                "/staff/closures",
            )
            .await
        }
        Err(error) => error_page(&state, Some(&console), &error),
    }
}
