//! `GET /api/v1/staff/audit?limit=&after=`: the audit log, newest first.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};

use super::bookings::AuditView;
use super::page::{self, Cursor, PageRequest};
use super::StaffAuth;
use crate::db::audit;
use crate::error::ApiError;
use crate::startup::AppState;

pub async fn list(
    _auth: StaffAuth,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let get = |name: &str| query.get(name).map(String::as_str);
    let page = PageRequest::from_query(get("limit"), get("after"))?;
    let before =
        match &page.after {
            Some(cursor) => Some(cursor.key.parse::<i32>().map_err(|_| {
                ApiError::bad_request(Some("after"), "after is not a valid cursor.")
            })?),
            None => None,
        };
    let fetch = page.fetch();
    let rows = state
        .db
        .read(move |conn| audit::page(conn, before, fetch))
        .await?;
    let (rows, next) = page.split(rows, |row| Cursor {
        at: row.at,
        key: row.id.to_string(),
    });
    let items: Vec<AuditView> = rows.iter().map(|row| AuditView::of(&state, row)).collect();
    Ok(page::respond(&items, page::next_url(&state, &req, next)))
}
