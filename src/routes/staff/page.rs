//! Lists of the staff API: `{"items": [...], "next": URL or null}` with
//! `?limit=` (default 100) and an opaque `?after=` cursor. Keyset paging
//! (by a time and a unique key) so that a page never skips or repeats a row
//! when rows are added meanwhile. Any list can use these helpers.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::Serialize;

use crate::domain::FieldError;
use crate::error::ApiError;
use crate::state::AppState;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 500;

/// Where the previous page ended: the sort time and the unique key of its
/// last row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: NaiveDateTime,
    pub key: String,
}

const CURSOR_TIME: &str = "%Y-%m-%dT%H:%M:%S%.f";

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.at.format(CURSOR_TIME), self.key))
    }

    /// A cursor from `?after=`: anything but URL-safe base64 is malformed
    /// (400); well-formed text that `encode` did not make is invalid (422).
    pub fn decode(raw: &str) -> Result<Self, ApiError> {
        let well_formed = !raw.is_empty()
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(ApiError::bad_request(
                Some("after"),
                "after is not a valid cursor.",
            ));
        }
        let malformed = Cursor::invalid;
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| malformed())?;
        let text = String::from_utf8(bytes).map_err(|_| malformed())?;
        let (at, key) = text.split_once('|').ok_or_else(malformed)?;
        let at = NaiveDateTime::parse_from_str(at, CURSOR_TIME).map_err(|_| malformed())?;
        // chrono reads signed years far beyond what the databases store; a
        // forged one must be a 400, not a database error.
        if !(1..=9999).contains(&at.year()) {
            return Err(malformed());
        }
        Ok(Cursor {
            at,
            key: key.to_string(),
        })
    }

    /// A well-formed cursor that no page ever gave out.
    pub fn invalid() -> ApiError {
        ApiError::field("after", "invalid")
    }
}

/// The page a list request asks for.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// Reads `limit` (1 to 500, default 100) and `after` from the query;
    /// a parameter given empty is refused, not taken as absent.
    pub fn from_query(limit: Option<&str>, after: Option<&str>) -> Result<Self, ApiError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| ApiError::Validation(vec![FieldError::new("limit", "invalid")]))?,
        };
        let after = after.map(Cursor::decode).transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// How many rows to load: one more than a page, to know whether there
    /// is a next one.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the loaded rows to a page; the cursor after its last row when
    /// more rows follow.
    pub fn split<T>(
        &self,
        mut rows: Vec<T>,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> (Vec<T>, Option<Cursor>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() > limit {
            rows.truncate(limit);
            let next = rows.last().map(cursor_of);
            (rows, next)
        } else {
            (rows, None)
        }
    }
}

/// The absolute URL of the next page: this request's URL with `after`
/// replaced.
pub fn next_url(state: &AppState, req: &HttpRequest, next: Option<Cursor>) -> Option<String> {
    let next = next?;
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    pairs.retain(|(name, _)| name != "after" && name != "token");
    pairs.push(("after".into(), next.encode()));
    let query = serde_urlencoded::to_string(&pairs).ok()?;
    Some(format!(
        "{}{}?{query}",
        state.settings.server.public_url.trim_end_matches('/'),
        req.path()
    ))
}

#[derive(Serialize)]
struct Page<'a, T: Serialize> {
    items: &'a [T],
    next: Option<String>,
}

/// The list response (never cached: it holds patient data).
pub fn respond<T: Serialize>(items: &[T], next: Option<String>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(Page { items, next })
}

/// A filter given as one value or several separated by commas
/// (`?status=received,in_progress`); a value `parse` does not know is a 422
/// `invalid` on `field`.
pub fn parse_list<T>(
    field: &str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(|value| {
            parse(value)
                .ok_or_else(|| ApiError::Validation(vec![FieldError::new(field, "invalid")]))
        })
        .collect()
}

/// A `YYYY-MM-DD` date with a four-digit year.
pub fn date(raw: &str) -> Option<NaiveDate> {
    crate::domain::clinic_date(raw)
}

/// A `YYYY-MM-DD` query parameter; anything else (empty too) is a 400 on
/// that field.
pub fn parse_date(field: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    raw.map(|raw| {
        date(raw).ok_or_else(|| {
            ApiError::bad_request(
                Some(field),
                format!("{field} must be a date as YYYY-MM-DD."),
            )
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_the_round_trip_and_garbage_is_refused() {
        let cursor = Cursor {
            at: NaiveDateTime::parse_from_str("2026-12-01 01:00:00", "%Y-%m-%d %H:%M:%S").unwrap(),
            key: "K7QM-3XWD".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("not a cursor!").is_err());
        let forged = URL_SAFE_NO_PAD.encode("-200000-01-01T00:00:00|K7QM-3XWD");
        assert!(Cursor::decode(&forged).is_err());
    }

    #[test]
    fn a_filter_reads_one_or_several_values_and_refuses_unknown_ones() {
        let known = |raw: &str| {
            ["received", "closed"]
                .contains(&raw)
                .then(|| raw.to_string())
        };
        assert_eq!(
            parse_list("status", None, known).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            parse_list("status", Some(" received, closed ,"), known).unwrap(),
            ["received", "closed"]
        );
        match parse_list("status", Some("received,done"), known) {
            Err(ApiError::Validation(errors)) => {
                assert_eq!(errors, [FieldError::new("status", "invalid")])
            }
            other => panic!("{other:?}"),
        }
    }
}
