//! Inquiries sent from the website's form or the JSON API.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::inquiries;
use super::{is_unique_violation, DbConnection};
use crate::domain::{InquiryCategory, InquiryStatus, NewInquiry, Reference};
use crate::error::ApiError;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = inquiries, treat_none_as_default_value = false)]
pub struct InquiryRow {
    pub reference: String,
    pub status: String,
    pub category: String,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub message: String,
    pub source: Option<String>,
    pub staff_note: Option<String>,
    pub consent_at: NaiveDateTime,
    pub consent_version: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Stores a new inquiry as `received` under a fresh reference (retrying the
/// rare collision), with the time and version of the consent given.
pub fn insert(
    conn: &mut DbConnection,
    inquiry: &NewInquiry,
    consent_version: &str,
    now: NaiveDateTime,
) -> Result<InquiryRow, ApiError> {
    let mut row = InquiryRow {
        reference: String::new(),
        status: "received".to_string(),
        category: inquiry.category.as_str().to_string(),
        name: inquiry.name.as_str().to_string(),
        email: inquiry.email.as_str().to_string(),
        phone: inquiry.phone.as_ref().map(|p| p.as_str().to_string()),
        message: inquiry.message.as_str().to_string(),
        source: inquiry.source.clone(),
        staff_note: None,
        consent_at: now,
        consent_version: consent_version.to_string(),
        created_at: now,
        updated_at: now,
    };
    let mut attempts = 0;
    loop {
        row.reference = Reference::generate().to_string();
        let inserted = super::recoverable(conn, |conn| {
            diesel::insert_into(inquiries::table)
                .values(&row)
                .execute(conn)
        });
        match inserted {
            Ok(_) => return Ok(row),
            Err(error) if is_unique_violation(&error) && attempts < 5 => attempts += 1,
            Err(error) => return Err(error.into()),
        }
    }
}

pub fn find(conn: &mut DbConnection, reference: &str) -> Result<Option<InquiryRow>, ApiError> {
    Ok(inquiries::table
        .find(reference)
        .select(InquiryRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Which inquiries a staff list asks for: with one of `statuses` and one of
/// `categories` (any when empty), after the cursor `(created_at, reference)`.
pub struct InquiryFilter {
    pub statuses: Vec<InquiryStatus>,
    pub categories: Vec<InquiryCategory>,
    pub after: Option<(NaiveDateTime, String)>,
    pub limit: i64,
}

/// One page of inquiries, newest first (by `created_at`, then reference
/// descending: a stable order, so a cursor never skips or repeats one).
pub fn page(conn: &mut DbConnection, filter: &InquiryFilter) -> Result<Vec<InquiryRow>, ApiError> {
    let mut query = inquiries::table
        .order((inquiries::created_at.desc(), inquiries::reference.desc()))
        .select(InquiryRow::as_select())
        .limit(filter.limit)
        .into_boxed();
    if !filter.statuses.is_empty() {
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        query = query.filter(inquiries::status.eq_any(statuses));
    }
    if !filter.categories.is_empty() {
        let categories: Vec<&str> = filter.categories.iter().map(|c| c.as_str()).collect();
        query = query.filter(inquiries::category.eq_any(categories));
    }
    if let Some((created, reference)) = &filter.after {
        query = query.filter(
            inquiries::created_at.lt(*created).or(inquiries::created_at
                .eq(*created)
                .and(inquiries::reference.lt(reference.clone()))),
        );
    }
    Ok(query.load(conn)?)
}

pub fn set_status(
    conn: &mut DbConnection,
    reference: &str,
    status: InquiryStatus,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(inquiries::table.find(reference))
        .set((
            inquiries::status.eq(status.as_str()),
            inquiries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_staff_note(
    conn: &mut DbConnection,
    reference: &str,
    note: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(inquiries::table.find(reference))
        .set((
            inquiries::staff_note.eq(note),
            inquiries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
