//! The day (`/staff`, `/staff/day/{date}`): every slot from opening to
//! closing with its bookings, free seats and closures, also printed as the
//! day's reception sheet (受付表); and the week (`/staff/week/{date}`):
//! seven columns with counts and names.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Utc};

use super::session::{page_session, Console};
use super::{error_page, page, ConsoleLayout, Nav};
use crate::db::bookings::{self, BookingRow};
use crate::db::closures::{self as closure_rows, ClosureRow};
use crate::db::staff_bookings::BookingFilter;
use crate::domain::{clinic_date, BookingStatus};
use crate::error::ApiError;
use crate::routes::site::{date_ja, query_map, see_other, weekday_ja, Privacy};
use crate::schedule::availability::utc_range;
use crate::schedule::ClosedReason;
use crate::state::AppState;
use crate::workflows::booking::kind_of;
use crate::workflows::staff_reads;

/// More bookings than a clinic takes in a week: the lists are never cut.
const MAX_LISTED: i64 = 5_000;

/// One booking as a line of the day or the week.
#[derive(Debug, Clone)]
pub struct BookingLine {
    pub reference: String,
    pub href: String,
    /// `10:00〜11:00`
    pub time: String,
    pub start: String,
    pub name: String,
    pub name_kana: String,
    pub type_label: String,
    /// `初診`, `再診` or empty when the patient did not say.
    pub first_visit: &'static str,
    pub status: &'static str,
    pub status_label: &'static str,
    /// The practitioner's label; the column appears only when a booking of
    /// the day has one.
    pub practitioner: Option<String>,
    pub has_note: bool,
    /// Whether the desk can check the patient in from the list.
    pub can_check_in: bool,
}

impl BookingLine {
    fn of(state: &AppState, row: &BookingRow) -> Self {
        let calendar = &state.calendar;
        let (start, end) = (calendar.local(row.start_at), calendar.local(row.end_at));
        let status = row.status();
        BookingLine {
            reference: row.reference.clone(),
            href: format!("/staff/bookings/{}", row.reference),
            time: format!("{}〜{}", start.format("%H:%M"), end.format("%H:%M")),
            start: start.format("%H:%M").to_string(),
            name: row.name.clone(),
            name_kana: row.name_kana.clone().unwrap_or_default(),
            type_label: kind_of(state, row).label.clone(),
            first_visit: match row.first_visit {
                Some(true) => "初診",
                Some(false) => "再診",
                None => "",
            },
            status: status.as_str(),
            status_label: status.label_ja(),
            practitioner: crate::routes::bookings::PractitionerRef::of(state, row)
                .map(|practitioner| practitioner.label),
            has_note: row.staff_note.is_some(),
            can_check_in: status == BookingStatus::Confirmed,
        }
    }
}

/// One slot of the day's timeline.
#[derive(Debug, Clone)]
pub struct SlotLine {
    /// `10:00`
    pub time: String,
    pub id: String,
    /// Seats still free (0 when closed or full).
    pub free: i64,
    /// Why the slot is closed, when a staff closure covers it.
    pub closure: Option<String>,
    /// Bookings starting in this slot.
    pub bookings: Vec<BookingLine>,
    /// Bookings that started earlier and still take a seat here.
    pub continuing: Vec<BookingLine>,
    pub past: bool,
}

impl SlotLine {
    /// Rows the slot takes in the table (at least one).
    pub fn rows(&self) -> usize {
        (self.bookings.len() + self.continuing.len()).max(1)
    }
}

#[derive(Debug, Clone, Default)]
pub struct DayCounts {
    pub booked: usize,
    pub arrived: usize,
    pub completed: usize,
    pub no_show: usize,
    pub cancelled: usize,
    pub free: i64,
}

#[derive(Template)]
#[template(path = "staff/day.html")]
pub struct DayPage {
    pub layout: ConsoleLayout,
    pub date: String,
    pub date_label: String,
    pub is_today: bool,
    pub prev_href: String,
    pub next_href: String,
    pub week_href: String,
    /// Why the whole day is closed, if it is.
    pub closed_note: Option<String>,
    /// Staff closures of this day, as `14:00〜18:30 院長不在`.
    pub closures: Vec<String>,
    pub slots: Vec<SlotLine>,
    pub capacity: u32,
    /// Active bookings that fit no slot line (a closed day, a changed grid).
    pub others: Vec<BookingLine>,
    pub cancelled: Vec<BookingLine>,
    pub show_practitioner: bool,
    pub counts: DayCounts,
    /// The day's waiting list (キャンセル待ち).
    pub waitlist: Vec<super::waitlist::WaitlistLine>,
}

/// `GET /staff` and `GET /staff/`: today.
pub async fn today(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let date = state.calendar.today(Utc::now());
    render_day(&req, &state, Some(date)).await
}

/// `GET /staff/day/{YYYY-MM-DD}`
pub async fn day(
    req: HttpRequest,
    date: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    render_day(&req, &state, clinic_date(&date)).await
}

/// `GET /staff/day?date=YYYY-MM-DD`: the date picker's form, sent on to
/// the day's own address.
pub async fn pick_day(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    pick(&req, &state, "day").await
}

/// `GET /staff/week?date=YYYY-MM-DD`
pub async fn pick_week(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    pick(&req, &state, "week").await
}

async fn pick(req: &HttpRequest, state: &web::Data<AppState>, view: &str) -> HttpResponse {
    if let Err(response) = page_session(req, state).await {
        return response;
    }
    let query = query_map(req.query_string());
    let date = query
        .get("date")
        .and_then(|raw| clinic_date(raw.trim()))
        .unwrap_or_else(|| state.calendar.today(Utc::now()));
    see_other(&format!("/staff/{view}/{date}"), Privacy::Private)
}

fn closed_label(reason: ClosedReason, date: NaiveDate) -> String {
    match reason {
        ClosedReason::ClosedWeekday => format!("休診日（{}曜日）", weekday_ja(date.weekday())),
        ClosedReason::ClosedDate => "休診日".to_string(),
        ClosedReason::NationalHoliday => "休診日（祝日）".to_string(),
    }
}

fn closure_label(state: &AppState, closure: &ClosureRow) -> String {
    let reason = if closure.reason.is_empty() {
        String::new()
    } else {
        format!(" {}", closure.reason)
    };
    // A practitioner's or room's time off: theirs, not the clinic's.
    let (whose, closed) = match closure.resource.as_deref() {
        Some(code) => (
            format!("{} ", super::closures::resource_label(state, code)),
            "お休み",
        ),
        None => (String::new(), "休診"),
    };
    if closure.closed_date.is_some() {
        return format!("{whose}終日{closed}{reason}");
    }
    let (start, end) = (
        state.calendar.local(closure.start_at),
        state.calendar.local(closure.end_at),
    );
    let format = |at: chrono::DateTime<chrono_tz::Tz>| {
        if at.date_naive() == start.date_naive() {
            at.format("%H:%M").to_string()
        } else {
            format!("{} {}", at.format("%-m/%-d"), at.format("%H:%M"))
        }
    };
    format!("{whose}{}〜{} {closed}{reason}", format(start), format(end))
}

/// The bookings starting on `from..=to` (all statuses), read on the record.
async fn bookings_between(
    state: &web::Data<AppState>,
    console: &Console,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<BookingRow>, ApiError> {
    let (start, end) = utc_range(&state.calendar, from, to);
    let filter = BookingFilter {
        from: Some(start),
        to: Some(end),
        statuses: Vec::new(),
        after: None,
        limit: MAX_LISTED,
    };
    let actor = console.actor();
    let listed = state
        .db
        .write(move |conn| staff_reads::list_bookings(conn, filter, &actor, Utc::now()))
        .await?;
    Ok(listed.rows)
}

/// Seats taken per slot and the staff closures of `from..=to`.
async fn occupancy_and_closures(
    state: &web::Data<AppState>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(HashMap<NaiveDateTime, i64>, Vec<ClosureRow>), ApiError> {
    let (start, end) = utc_range(&state.calendar, from, to);
    state
        .db
        .read(move |conn| {
            let taken = bookings::seats_taken(conn, start, end)?
                .into_iter()
                .collect();
            Ok((taken, closure_rows::overlapping(conn, start, end)?))
        })
        .await
}

async fn render_day(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    date: Option<NaiveDate>,
) -> HttpResponse {
    let console = match page_session(req, state).await {
        Ok(console) => console,
        Err(response) => return response,
    };
    let Some(date) = date else {
        return error_page(state, Some(&console), &ApiError::NotFound);
    };
    let rows = match bookings_between(state, &console, date, date).await {
        Ok(rows) => rows,
        Err(error) => return error_page(state, Some(&console), &error),
    };
    let (taken, closures) = match occupancy_and_closures(state, date, date).await {
        Ok(found) => found,
        Err(error) => return error_page(state, Some(&console), &error),
    };
    let mut page_view = day_page(state, &console, date, &rows, &taken, &closures);
    page_view.waitlist = match super::waitlist::lines(state, &console, date).await {
        Ok(lines) => lines,
        Err(error) => return error_page(state, Some(&console), &error),
    };
    page(StatusCode::OK, &page_view)
}

fn day_page(
    state: &AppState,
    console: &Console,
    date: NaiveDate,
    rows: &[BookingRow],
    taken: &HashMap<NaiveDateTime, i64>,
    closures: &[ClosureRow],
) -> DayPage {
    let calendar = &state.calendar;
    let now = Utc::now().naive_utc();
    let capacity = calendar.capacity_per_slot();
    let step = Duration::minutes(calendar.slot_minutes().into());
    let whole_day = closures
        .iter()
        .find(|c| c.closed_date == Some(date) && c.resource.is_none());
    let closed_note = calendar
        .closed_reason(date)
        .map(|reason| closed_label(reason, date))
        .or_else(|| whole_day.map(|closure| closure_label(state, closure)));
    let (active, cancelled): (Vec<&BookingRow>, Vec<&BookingRow>) = rows
        .iter()
        .partition(|row| row.status() != BookingStatus::Cancelled);
    let mut placed = vec![false; active.len()];
    let mut slots = Vec::new();
    if calendar.closed_reason(date).is_none() {
        for start in calendar.grid_starts(date) {
            let at = start.naive_utc();
            let closure = closures
                .iter()
                .find(|c| c.resource.is_none() && c.start_at < at + step && c.end_at > at)
                .map(|c| {
                    if c.reason.is_empty() {
                        "休診".to_string()
                    } else {
                        format!("休診（{}）", c.reason)
                    }
                });
            let mut starting = Vec::new();
            let mut continuing = Vec::new();
            for (index, row) in active.iter().enumerate() {
                if row.start_at == at {
                    placed[index] = true;
                    starting.push(BookingLine::of(state, row));
                } else if row.start_at < at && row.end_at > at {
                    continuing.push(BookingLine::of(state, row));
                }
            }
            let seats = i64::from(capacity) - taken.get(&at).copied().unwrap_or(0);
            slots.push(SlotLine {
                time: start.format("%H:%M").to_string(),
                id: format!("slot-{}", start.format("%H%M")),
                free: if closure.is_some() { 0 } else { seats.max(0) },
                closure,
                bookings: starting,
                continuing,
                past: at + step <= now,
            });
        }
    }
    let others: Vec<BookingLine> = active
        .iter()
        .zip(&placed)
        .filter(|(_, placed)| !**placed)
        .map(|(row, _)| BookingLine::of(state, row))
        .collect();
    let count = |status: BookingStatus| active.iter().filter(|r| r.status() == status).count();
    let counts = DayCounts {
        booked: active.len(),
        arrived: count(BookingStatus::Arrived),
        completed: count(BookingStatus::Completed),
        no_show: count(BookingStatus::NoShow),
        cancelled: cancelled.len(),
        free: slots.iter().filter(|slot| !slot.past).map(|s| s.free).sum(),
    };
    let cancelled: Vec<BookingLine> = cancelled
        .iter()
        .map(|row| BookingLine::of(state, row))
        .collect();
    let show_practitioner = slots
        .iter()
        .flat_map(|slot| slot.bookings.iter())
        .chain(&others)
        .any(|line| line.practitioner.is_some());
    let today = calendar.today(Utc::now());
    DayPage {
        layout: console.layout(state, Nav::Day),
        date: date.to_string(),
        date_label: date_ja(date),
        is_today: date == today,
        prev_href: format!("/staff/day/{}", date - Duration::days(1)),
        next_href: format!("/staff/day/{}", date + Duration::days(1)),
        week_href: format!("/staff/week/{date}"),
        closed_note,
        closures: closures
            .iter()
            .filter(|c| c.closed_date.is_none() || c.resource.is_some())
            .map(|c| closure_label(state, c))
            .collect(),
        slots,
        capacity,
        others,
        cancelled,
        show_practitioner,
        counts,
        waitlist: Vec::new(),
    }
}

/// One day of the week view.
#[derive(Debug, Clone)]
pub struct WeekDay {
    pub date: String,
    pub label: String,
    pub weekday: &'static str,
    pub href: String,
    pub is_today: bool,
    pub closed_note: Option<String>,
    pub closures: Vec<String>,
    pub bookings: Vec<BookingLine>,
    pub cancelled: usize,
}

#[derive(Template)]
#[template(path = "staff/week.html")]
pub struct WeekPage {
    pub layout: ConsoleLayout,
    pub date: String,
    pub range_label: String,
    pub prev_href: String,
    pub next_href: String,
    pub days: Vec<WeekDay>,
    pub total: usize,
}

/// `GET /staff/week/{YYYY-MM-DD}`: Monday to Sunday of the week holding the
/// date.
pub async fn week(
    req: HttpRequest,
    date: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let console = match page_session(&req, &state).await {
        Ok(console) => console,
        Err(response) => return response,
    };
    let Some(date) = clinic_date(&date) else {
        return error_page(&state, Some(&console), &ApiError::NotFound);
    };
    let monday = date - Duration::days(date.weekday().num_days_from_monday().into());
    let sunday = monday + Duration::days(6);
    let rows = match bookings_between(&state, &console, monday, sunday).await {
        Ok(rows) => rows,
        Err(error) => return error_page(&state, Some(&console), &error),
    };
    let (_, closures) = match occupancy_and_closures(&state, monday, sunday).await {
        Ok(found) => found,
        Err(error) => return error_page(&state, Some(&console), &error),
    };
    let calendar = &state.calendar;
    let today = calendar.today(Utc::now());
    let days: Vec<WeekDay> = monday
        .iter_days()
        .take(7)
        .map(|day| {
            let (from, to) = utc_range(calendar, day, day);
            let of_day: Vec<&BookingRow> = rows
                .iter()
                .filter(|row| row.start_at >= from && row.start_at < to)
                .collect();
            let touching: Vec<&ClosureRow> = closures
                .iter()
                .filter(|c| c.start_at < to && c.end_at > from)
                .collect();
            WeekDay {
                date: day.to_string(),
                label: format!("{}/{}", day.month(), day.day()),
                weekday: weekday_ja(day.weekday()),
                href: format!("/staff/day/{day}"),
                is_today: day == today,
                closed_note: calendar.closed_reason(day).map(|r| closed_label(r, day)),
                closures: touching.iter().map(|c| closure_label(&state, c)).collect(),
                bookings: of_day
                    .iter()
                    .filter(|row| row.status() != BookingStatus::Cancelled)
                    .map(|row| BookingLine::of(&state, row))
                    .collect(),
                cancelled: of_day
                    .iter()
                    .filter(|row| row.status() == BookingStatus::Cancelled)
                    .count(),
            }
        })
        .collect();
    let total = days.iter().map(|day| day.bookings.len()).sum();
    page(
        StatusCode::OK,
        &WeekPage {
            layout: console.layout(&state, Nav::Week),
            date: date.to_string(),
            range_label: format!("{} 〜 {}", date_ja(monday), date_ja(sunday)),
            prev_href: format!("/staff/week/{}", monday - Duration::days(7)),
            next_href: format!("/staff/week/{}", monday + Duration::days(7)),
            days,
            total,
        },
    )
}
