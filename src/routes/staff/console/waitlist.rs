//! The day's waiting list on the console's day page (read on the record,
//! as every staff read of patient data).

use chrono::NaiveDate;

use super::session::Console;
use crate::error::ApiError;
use crate::state::AppState;
use crate::workflows::waitlist;

/// One entry as a line of the day page.
#[derive(Debug, Clone)]
pub struct WaitlistLine {
    pub reference: String,
    pub name: String,
    pub phone: String,
    pub type_label: String,
    /// `10:00〜12:30` or the whole day.
    pub window: String,
    pub status: String,
    pub status_label: &'static str,
    /// The seat held for it and until when, while one is.
    pub offer: Option<String>,
    /// The booking it became.
    pub booking_href: Option<String>,
}

/// The entries of `date` in the order they joined.
pub async fn lines(
    state: &actix_web::web::Data<AppState>,
    console: &Console,
    date: NaiveDate,
) -> Result<Vec<WaitlistLine>, ApiError> {
    let actor = console.actor();
    let now = state.clock.now();
    let views = state
        .db
        .write(move |conn| waitlist::list_for_staff(conn, date, &actor, now))
        .await?;
    let calendar = &state.calendar;
    Ok(views
        .into_iter()
        .map(|view| {
            let row = view.row;
            WaitlistLine {
                offer: view.offer.map(|offer| {
                    format!(
                        "{} 〜{}まで確保",
                        calendar.local(offer.start_at).format("%H:%M"),
                        calendar.local(offer.expires_at).format("%H:%M")
                    )
                }),
                booking_href: row
                    .booking_reference
                    .as_ref()
                    .map(|reference| format!("/staff/bookings/{reference}")),
                window: crate::mail::waitlist::window_ja(&row),
                type_label: calendar
                    .consultation_type(&row.type_code)
                    .map_or_else(|| row.type_code.clone(), |kind| kind.label.clone()),
                status_label: row.status().label_ja(),
                status: row.status.clone(),
                name: row.name,
                phone: row.phone,
                reference: row.reference,
            }
        })
        .collect())
}
