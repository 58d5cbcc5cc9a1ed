//! `GET /api/v1/staff/audit?limit=&after=`: the audit log, newest first.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};

use super::bookings::AuditView;
use super::page::{self, Cursor, PageRequest};
use super::StaffAuth;
use crate::db::audit;
use crate::error::ApiError;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/staff/audit", operation_id = "listStaffAudit", tag = "staff",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size (default 100)"),
        ("after" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]+$", description = "The cursor from `next`"),
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Audit entries, newest first", body = crate::routes::openapi::AuditList),
        (status = 400, description = "A malformed cursor", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 422, description = "`limit` out of range (`invalid`)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    _auth: StaffAuth,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let get = |name: &str| query.get(name).map(String::as_str);
    let page = PageRequest::from_query(get("limit"), get("after"))?;
    let before = match &page.after {
        Some(cursor) => Some(cursor.key.parse::<i32>().map_err(|_| Cursor::invalid())?),
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
