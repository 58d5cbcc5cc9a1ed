//! Signing in and out of the staff console, and the gate every other page
//! passes: a page without a live session redirects to the sign-in page; a
//! POST without one is refused (401), and one without the session's CSRF
//! token too (403), before anything is read or changed.
//!
//! Cookies (both `HttpOnly`, `SameSite=Strict`, and `Secure` when
//! `server.public_url` is https): `staff_session` holds the session's
//! secret; `staff_login` holds a random value the sign-in form repeats, so
//! another site cannot sign a browser in under its own token.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{Duration, Utc};
use subtle::ConstantTimeEq;

use super::{error_page, page, ConsoleLayout, Nav};
use crate::domain::{Fields, ManageToken};
use crate::error::ApiError;
use crate::routes::input::read_submission;
use crate::routes::site::{encode_query, see_other, Privacy};
use crate::state::AppState;
use crate::workflows::staff_sessions::{self, Flash, Session};

pub const SESSION_COOKIE: &str = "staff_session";
const LOGIN_COOKIE: &str = "staff_login";
/// The form field that carries the session's CSRF token.
pub const CSRF_FIELD: &str = "csrf";
const LOGIN_CSRF_FIELD: &str = "login_csrf";
/// The least a signed-in console form may send: a browser percent-encodes
/// each Japanese character of a form as 9 bytes, so a staff note of 2000
/// characters takes 18 KB (more than the public forms' default limit). The
/// session is checked before the body is read.
const CONSOLE_BODY_LIMIT: usize = 64 * 1024;

/// A request from a signed-in browser.
pub struct Console {
    pub session: Session,
    secret: String,
}

impl Console {
    /// The token every form of this session carries.
    pub fn csrf(&self) -> String {
        staff_sessions::csrf_token(&self.secret)
    }

    pub fn actor(&self) -> crate::workflows::audit::Actor {
        self.session.actor()
    }

    /// The page frame for this session, showing (once) its flash message.
    pub fn layout(&self, state: &AppState, nav: Nav) -> ConsoleLayout {
        ConsoleLayout::signed_in(state, self, nav)
    }
}

fn idle(state: &AppState) -> Duration {
    Duration::hours(i64::from(state.settings.staff.session_idle_hours))
}

fn secure(state: &AppState) -> bool {
    state.settings.server.public_url.starts_with("https://")
}

/// The value of cookie `name`, as the browser sent it.
fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u32>,
) -> Option<HeaderValue> {
    let mut cookie = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure(state) {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).ok()
}

/// Where a page that needs a session sends a browser without one: the
/// sign-in page, which brings it back afterwards.
fn to_sign_in(req: &HttpRequest) -> HttpResponse {
    let here = match req.query_string() {
        "" => req.path().to_string(),
        query => format!("{}?{query}", req.path()),
    };
    see_other(
        &format!("/staff/login?{}", encode_query(&[("next", &here)])),
        Privacy::Private,
    )
}

/// Where to go after signing in: a console page, never elsewhere.
fn safe_next(next: Option<&str>) -> String {
    next.filter(|next| {
        (*next == "/staff" || next.starts_with("/staff/") || next.starts_with("/staff?"))
            && !next.starts_with("/staff/login")
            && !next.contains("//")
            && !next.contains('\\')
            && !next.chars().any(char::is_control)
    })
    .unwrap_or("/staff")
    .to_string()
}

/// A console page's local address from a form field (`back`), so an action
/// returns where it was started; else `fallback`.
pub fn back_to(fields: &Fields, fallback: String) -> String {
    match fields.text("back").ok().flatten() {
        Some(back) if safe_next(Some(&back)) == back => back,
        _ => fallback,
    }
}

async fn find_session(
    state: &web::Data<AppState>,
    secret: &str,
) -> Result<Option<Session>, ApiError> {
    let (secret, idle, now) = (secret.to_string(), idle(state), Utc::now());
    state
        .db
        .read(move |conn| staff_sessions::find(conn, &secret, idle, now))
        .await
}

/// The session of a page request, or the response that replaces the page:
/// the redirect to the sign-in page. Marks the session used and its flash
/// message shown.
pub async fn page_session(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Console, HttpResponse> {
    let Some(secret) = cookie(req, SESSION_COOKIE) else {
        return Err(to_sign_in(req));
    };
    let session = match find_session(state, &secret).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(to_sign_in(req)),
        Err(error) => return Err(error_page(state, None, &error)),
    };
    let now = Utc::now();
    if session.needs_touch(now) || session.flash.is_some() {
        let seen = session.clone();
        let kept = state
            .db
            .write(move |conn| {
                if seen.needs_touch(now) {
                    staff_sessions::touch(conn, &seen, now)?;
                }
                if seen.flash.is_some() {
                    staff_sessions::clear_flash(conn, &seen)?;
                }
                Ok(())
            })
            .await;
        if let Err(error) = kept {
            return Err(error_page(state, None, &error));
        }
    }
    Ok(Console { session, secret })
}

/// The session and fields of a console POST, or the refusal: 401 without a
/// live session, 403 without its CSRF token. Nothing has been changed
/// when it refuses.
pub async fn post_form(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<(Console, Fields), HttpResponse> {
    let session = match cookie(req, SESSION_COOKIE) {
        Some(secret) => match find_session(state, &secret).await {
            Ok(Some(session)) => Some((session, secret)),
            Ok(None) => None,
            Err(error) => return Err(error_page(state, None, &error)),
        },
        None => None,
    };
    let Some((session, secret)) = session else {
        return Err(refusal(
            state,
            StatusCode::UNAUTHORIZED,
            "ログインが必要です",
            "ログインの有効期限が切れたか、ログアウトされています。もう一度ログインしてから操作してください。操作は行われていません。",
        ));
    };
    let limit = state
        .settings
        .server
        .body_limit_bytes
        .max(CONSOLE_BODY_LIMIT);
    let fields = match read_submission(req, payload, limit).await {
        Ok(submission) => submission.fields,
        Err(error) => return Err(error_page(state, None, &error)),
    };
    let presented = fields.text(CSRF_FIELD).ok().flatten().unwrap_or_default();
    if !staff_sessions::csrf_matches(&secret, &presented) {
        tracing::warn!("staff console POST without a valid CSRF token refused");
        return Err(refusal(
            state,
            StatusCode::FORBIDDEN,
            "この操作は受け付けられません",
            "フォームの確認用トークンが一致しません。ページを開き直してから、もう一度操作してください。操作は行われていません。",
        ));
    }
    let now = Utc::now();
    if session.needs_touch(now) {
        let seen = session.clone();
        if let Err(error) = state
            .db
            .write(move |conn| staff_sessions::touch(conn, &seen, now))
            .await
        {
            return Err(error_page(state, None, &error));
        }
    }
    Ok((Console { session, secret }, fields))
}

/// Leaves `flash` for the next page of `console`'s session and redirects
/// there (the POST-redirect-GET every console action ends with).
pub async fn redirect_with(
    state: &web::Data<AppState>,
    console: &Console,
    flash: Flash,
    location: &str,
) -> HttpResponse {
    let session = console.session.clone();
    match state
        .db
        .write(move |conn| staff_sessions::leave_flash(conn, &session, &flash))
        .await
    {
        Ok(()) => see_other(location, Privacy::Private),
        Err(error) => error_page(state, Some(console), &error),
    }
}

/// A refusal page for a browser without a usable session.
fn refusal(
    state: &AppState,
    status: StatusCode,
    heading: &'static str,
    message: &'static str,
) -> HttpResponse {
    super::message_page(state, None, status, heading, message)
}

#[derive(Template)]
#[template(path = "staff/login.html")]
struct LoginPage {
    layout: ConsoleLayout,
    idle_hours: u32,
    next: String,
    login_csrf: String,
    error: Option<&'static str>,
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    login_csrf: &str,
    next: String,
    error: Option<&'static str>,
    notice: Option<Flash>,
) -> HttpResponse {
    let mut response = page(
        status,
        &LoginPage {
            layout: ConsoleLayout::signed_out(state, notice),
            idle_hours: state.settings.staff.session_idle_hours,
            next,
            login_csrf: login_csrf.to_string(),
            error,
        },
    );
    if let Some(value) = set_cookie(state, LOGIN_COOKIE, login_csrf, "/staff/login", None) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The login form's value for this browser: kept while its cookie lives,
/// so two open sign-in tabs both work.
fn login_value(req: &HttpRequest) -> String {
    cookie(req, LOGIN_COOKIE)
        .filter(|value| {
            value.len() >= 43
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(|| ManageToken::generate().expose().to_string())
}

/// `GET /staff/login[?next=]`
pub async fn login_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = crate::routes::site::query_map(req.query_string());
    let notice = (query.get("done").map(String::as_str) == Some("signed_out"))
        .then(|| Flash::notice("ログアウトしました。"));
    let next = safe_next(query.get("next").map(String::as_str));
    login_page(
        &state,
        StatusCode::OK,
        &login_value(&req),
        next,
        None,
        notice,
    )
}

/// `POST /staff/login` with `token` (a staff token), `login_csrf` and
/// `next`: a session cookie and a redirect (303), or the form again (401).
pub async fn login(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = match read_submission(&req, payload, state.settings.server.body_limit_bytes).await
    {
        Ok(submission) => submission.fields,
        Err(error) => return error_page(&state, None, &error),
    };
    let next = safe_next(fields.text("next").ok().flatten().as_deref());
    let expected = cookie(&req, LOGIN_COOKIE).unwrap_or_default();
    let presented = fields
        .text(LOGIN_CSRF_FIELD)
        .ok()
        .flatten()
        .unwrap_or_default();
    let same_form =
        !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()));
    if !same_form {
        tracing::warn!("staff sign-in without the form's own value refused");
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            &login_value(&req),
            next,
            Some("ログイン画面を開き直してから、もう一度お試しください。"),
            None,
        );
    }
    let token = fields.text("token").ok().flatten().unwrap_or_default();
    let (idle, now) = (idle(&state), Utc::now());
    let opened = if token.trim().is_empty() {
        Err(ApiError::Unauthorized)
    } else {
        state
            .db
            .write(move |conn| staff_sessions::sign_in(conn, &token, idle, now))
            .await
    };
    match opened {
        Ok(opened) => {
            let mut response = see_other(&next, Privacy::Private);
            let headers = response.headers_mut();
            if let Some(value) = set_cookie(&state, SESSION_COOKIE, &opened.secret, "/staff", None)
            {
                headers.append(header::SET_COOKIE, value);
            }
            if let Some(value) = set_cookie(&state, LOGIN_COOKIE, "", "/staff/login", Some(0)) {
                headers.append(header::SET_COOKIE, value);
            }
            response
        }
        Err(ApiError::Unauthorized) => {
            tracing::warn!("staff sign-in with an unknown or revoked token refused");
            login_page(
                &state,
                StatusCode::UNAUTHORIZED,
                &login_value(&req),
                next,
                Some("トークンが正しくないか、無効になっています。"),
                None,
            )
        }
        Err(error) => error_page(&state, None, &error),
    }
}

/// `POST /staff/logout`: the session ends on the server and the cookie is
/// cleared.
pub async fn logout(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (console, _) = match post_form(&req, payload, &state).await {
        Ok(signed_in) => signed_in,
        Err(refused) => return refused,
    };
    let session = console.session.clone();
    let now = Utc::now();
    if let Err(error) = state
        .db
        .write(move |conn| staff_sessions::sign_out(conn, &session, now))
        .await
    {
        return error_page(&state, Some(&console), &error);
    }
    let mut response = see_other("/staff/login?done=signed_out", Privacy::Private);
    if let Some(value) = set_cookie(&state, SESSION_COOKIE, "", "/staff", Some(0)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Any other path under `/staff`: the sign-in page without a session (so
/// nothing tells a stranger which pages exist), else not found.
pub async fn unknown(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match page_session(&req, &state).await {
        Ok(console) => error_page(&state, Some(&console), &ApiError::NotFound),
        Err(response) if req.method() == actix_web::http::Method::GET => response,
        Err(_) => refusal(
            &state,
            StatusCode::UNAUTHORIZED,
            "ログインが必要です",
            "ログインしてから操作してください。操作は行われていません。",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_pages_are_where_sign_in_leads() {
        assert_eq!(
            safe_next(Some("/staff/day/2026-12-01")),
            "/staff/day/2026-12-01"
        );
        assert_eq!(safe_next(Some("/staff?x=1")), "/staff?x=1");
        for elsewhere in [
            "https://evil.example/",
            "//evil.example/staff",
            "/staff//evil",
            "/staffing",
            "/staff/login?next=/staff",
            "/staff/\\evil",
            "/reserve",
        ] {
            assert_eq!(safe_next(Some(elsewhere)), "/staff", "{elsewhere}");
        }
        assert_eq!(safe_next(None), "/staff");
    }
}
