//! The manage pages' cookie. The link in the confirmation carries the
//! manage token in its URL; the first page it opens exchanges the token for
//! this cookie and sends the browser on to the same page without it, so the
//! token does not stay in the address bar, the history, bookmarks or a
//! proxy's logs. The cookie is short-lived, HttpOnly, SameSite=Strict,
//! Secure when the site is served over https, and scoped (by its path) to
//! one booking's pages. Its value is an expiry signed with the server key
//! over the booking's reference and its stored token hash: it cannot be
//! forged from a copy of the database, and it stops working with the token
//! (an erased booking's hash is gone).

use actix_web::http::header::{HeaderValue, COOKIE, SET_COOKIE};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use crate::db::bookings::BookingRow;
use crate::server_key::ServerKey;
use crate::startup::AppState;

pub const NAME: &str = "manage";

/// How long a cookie opens the pages after the last page that set it.
pub const LIFETIME_SECONDS: i64 = 3600;

fn signed_part(reference: &str, expires: i64, token_hash: &str) -> Vec<u8> {
    format!("manage-cookie\0{reference}\0{expires}\0{token_hash}").into_bytes()
}

/// A cookie value for `row`, good until `LIFETIME_SECONDS` after `now`.
pub fn value(key: &ServerKey, row: &BookingRow, now: DateTime<Utc>) -> String {
    let expires = now.timestamp() + LIFETIME_SECONDS;
    let signature = key.sign(&signed_part(
        &row.reference,
        expires,
        &row.manage_token_hash,
    ));
    format!("{expires}.{signature}")
}

/// Whether the cookie value `presented` was made for `row` and is still
/// good at `now`.
pub fn opens(key: &ServerKey, presented: &str, row: &BookingRow, now: DateTime<Utc>) -> bool {
    let Some((expires, signature)) = presented.split_once('.') else {
        return false;
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    expires > now.timestamp()
        && key.verify(
            &signed_part(&row.reference, expires, &row.manage_token_hash),
            signature,
        )
}

/// Every value of this cookie the request carries (a browser sends each
/// cookie whose path matches; only this booking's pages match its own).
pub fn presented(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get_all(COOKIE)
        .filter_map(|header| header.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim_matches('"').to_string())
        .collect()
}

/// Adds the cookie to `response` for the pages under `path` (`/manage/REF`,
/// `/reserve/thanks/REF`).
pub fn set(response: &mut HttpResponse, state: &AppState, path: &str, value: &str) {
    let secure = if state.settings.server.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{NAME}={value}; Path={path}; Max-Age={LIFETIME_SECONDS}; HttpOnly; SameSite=Strict{secure}"
    );
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
}

/// Whether the browser came from another site (a link in a webmail page):
/// it then withholds SameSite=Strict cookies, even on the redirect that
/// follows, until it navigates within this site.
pub fn came_from_another_site(req: &HttpRequest) -> bool {
    req.headers()
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(hash: &str) -> BookingRow {
        let now = Utc::now().naive_utc();
        BookingRow {
            reference: "K7QM-3XWD".into(),
            manage_token_hash: hash.into(),
            status: "confirmed".into(),
            type_code: "consultation".into(),
            start_at: now,
            end_at: now,
            name: String::new(),
            name_kana: None,
            email: String::new(),
            phone: String::new(),
            first_visit: None,
            message: None,
            source: None,
            staff_note: None,
            consent_at: now,
            consent_version: String::new(),
            sequence: 0,
            created_at: now,
            updated_at: now,
            cancelled_at: None,
        }
    }

    #[test]
    fn a_cookie_opens_its_own_booking_until_it_expires() {
        let key = ServerKey::from_material(b"a-key-of-at-least-thirty-two-characters").unwrap();
        let now = Utc::now();
        let booking = row("hash-of-the-token");
        let cookie = value(&key, &booking, now);
        assert!(opens(&key, &cookie, &booking, now));
        let later = now + chrono::Duration::seconds(LIFETIME_SECONDS + 1);
        assert!(!opens(&key, &cookie, &booking, later), "expired");
        let mut other = row("hash-of-the-token");
        other.reference = "ABCD-EFGH".into();
        assert!(!opens(&key, &cookie, &other, now), "another booking");
        assert!(!opens(&key, &cookie, &row("erased"), now), "erased");
        let (expires, signature) = cookie.split_once('.').unwrap();
        let stretched = format!("{}.{signature}", expires.parse::<i64>().unwrap() + 86_400);
        assert!(!opens(&key, &stretched, &booking, now), "expiry is signed");
        let stranger = ServerKey::from_material(b"another-key-of-at-least-32-characters").unwrap();
        assert!(!opens(&stranger, &cookie, &booking, now), "another key");
    }
}
