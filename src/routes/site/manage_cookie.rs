//! The manage pages' cookie. The link in the confirmation carries the
//! manage token in its URL; the first page it opens exchanges the token for
//! this cookie and sends the browser on to the same page without it, so the
//! token does not stay in the address bar, the history, bookmarks or a
//! proxy's logs. The cookie is short-lived, HttpOnly, SameSite=Strict,
//! Secure when the site is served over https, and scoped (by its path) to
//! one booking's pages. A waiting-list entry's pages use it the same way.
//!
//! Its value is the token itself with the booking's reference and an
//! expiry, sealed with the server key: only the service can read or make
//! one, and since it is checked against the stored token hash like the
//! token, not even a copy of the database together with the key can make
//! one (erasure ends it too: the hash is gone).

use actix_web::http::header::{HeaderValue, COOKIE, SET_COOKIE};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};

use crate::server_key::{Purpose, ServerKey};
use crate::state::AppState;

pub const NAME: &str = "manage";

/// How long a cookie opens the pages after the last page that set it.
pub const LIFETIME_SECONDS: i64 = 3600;

/// A cookie value holding `token` for booking `reference`, good until
/// `LIFETIME_SECONDS` after `now`.
pub fn value(
    key: &ServerKey,
    reference: &str,
    token: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let expires = now.timestamp() + LIFETIME_SECONDS;
    key.seal(
        Purpose::ManageCookie,
        &format!("{reference}\n{expires}\n{token}"),
    )
}

/// The manage token in the cookie value `presented`, when it was made for
/// booking `reference` and is still good at `now` (whether the token opens
/// the booking is checked against its hash, as for a token in a link).
pub fn token_in(
    key: &ServerKey,
    presented: &str,
    reference: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    // Only sealed values: a cookie in clear would be a token in clear.
    if !presented.starts_with(crate::server_key::SEALED_PREFIX) {
        return None;
    }
    let opened = key.open(Purpose::ManageCookie, presented).ok()?;
    let mut parts = opened.splitn(3, '\n');
    let (made_for, expires, token) = (parts.next()?, parts.next()?, parts.next()?);
    let expires: i64 = expires.parse().ok()?;
    (made_for == reference && expires > now.timestamp()).then(|| token.to_string())
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
/// `/reserve/thanks/REF`, `/waitlist/REF`).
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

    #[test]
    fn a_cookie_holds_its_token_for_its_own_booking_until_it_expires() {
        let key = ServerKey::from_material(b"a-key-of-at-least-thirty-two-characters").unwrap();
        let now = Utc::now();
        let cookie = value(&key, "K7QM-3XWD", "the-token", now).unwrap();
        assert!(!cookie.contains("the-token"), "sealed");
        assert_eq!(
            token_in(&key, &cookie, "K7QM-3XWD", now).as_deref(),
            Some("the-token")
        );
        let later = now + chrono::Duration::seconds(LIFETIME_SECONDS + 1);
        assert_eq!(token_in(&key, &cookie, "K7QM-3XWD", later), None, "expired");
        assert_eq!(
            token_in(&key, &cookie, "ABCD-EFGH", now),
            None,
            "another booking"
        );
        let stranger = ServerKey::from_material(b"another-key-of-at-least-32-characters").unwrap();
        assert_eq!(
            token_in(&stranger, &cookie, "K7QM-3XWD", now),
            None,
            "another key"
        );
        let clear = format!("K7QM-3XWD\n{}\nthe-token", now.timestamp() + 60);
        assert_eq!(token_in(&key, &clear, "K7QM-3XWD", now), None, "made up");
    }
}
