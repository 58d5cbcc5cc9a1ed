//! The patient-facing website: the articles, the reservation and inquiry
//! forms, the manage page and the privacy notice, as server-rendered
//! Japanese pages that work without JavaScript.

pub mod articles;
pub mod guard;
pub mod inquiry;
pub mod manage;
pub mod manage_answers;
pub mod manage_cookie;
pub mod pages;
pub mod picker;
pub mod questionnaire_form;
pub mod reserve;
pub mod waitlist;

use std::collections::HashMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{DateTime, Datelike, NaiveDate};
use chrono_tz::Tz;

use crate::error::ApiError;
use crate::state::AppState;

/// Registers the HTML pages and static assets (the article JSON routes sit
/// in the `/api/v1` scope, see `routes::configure`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::home))
        .route("/privacy", web::get().to(pages::privacy))
        .route("/inquiry", web::get().to(pages::inquiry_form))
        .route("/inquiry", web::post().to(inquiry::submit))
        .route(
            "/inquiry/thanks/{reference}",
            web::get().to(inquiry::thanks),
        )
        .route("/articles/{slug}", web::get().to(articles::page))
        .route("/reserve", web::get().to(reserve::form))
        .route("/reserve", web::post().to(reserve::submit))
        .route(
            "/reserve/thanks/{reference}",
            web::get().to(reserve::thanks),
        )
        .route("/manage/{reference}", web::get().to(manage::show))
        .route("/manage/{reference}/cancel", web::post().to(manage::cancel))
        .route(
            "/manage/{reference}/questionnaire",
            web::get().to(manage_answers::show),
        )
        .route(
            "/manage/{reference}/questionnaire",
            web::post().to(manage_answers::submit),
        )
        .route(
            "/manage/{reference}/reschedule",
            web::post().to(manage::reschedule),
        )
        .route("/waitlist", web::get().to(waitlist::form))
        .route("/waitlist", web::post().to(waitlist::submit))
        .route("/waitlist/{reference}", web::get().to(waitlist::show))
        .route(
            "/waitlist/{reference}/cancel",
            web::post().to(waitlist::cancel),
        )
        .route(
            "/waitlist/{reference}/accept",
            web::post().to(waitlist::accept),
        )
        .route("/static/{file}", web::get().to(pages::asset));
}

/// No inline script or style anywhere, so the policy can forbid both.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
base-uri 'none'; object-src 'none'";

/// What every page shows around its content.
#[derive(Debug, Clone)]
pub struct Layout {
    pub clinic_name: String,
    pub clinic_phone: String,
    pub clinic_address: String,
    pub hours: String,
    pub closed_days: String,
}

impl Layout {
    pub fn of(state: &AppState) -> Self {
        let clinic = &state.settings.clinic;
        let calendar = &state.calendar;
        let closed_days = calendar
            .closed_weekdays()
            .iter()
            .map(|day| format!("{}曜日", weekday_ja(*day)))
            .collect::<Vec<_>>()
            .join("・");
        Layout {
            clinic_name: clinic.name.clone(),
            clinic_phone: clinic.phone.clone(),
            clinic_address: clinic.address.clone(),
            hours: format!(
                "{}〜{}",
                calendar.open_time().format("%H:%M"),
                calendar.close_time().format("%H:%M")
            ),
            closed_days,
        }
    }

    /// The phone number as a `tel:` link target.
    pub fn tel_href(&self) -> String {
        let digits: String = self
            .clinic_phone
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        format!("tel:{digits}")
    }
}

/// Whether a page may be kept by caches and sent as a referrer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privacy {
    /// Public content.
    Public,
    /// Carries personal data or a manage token: never cached, and its
    /// address (which may hold a token) never sent as a referrer: only the
    /// site's origin is (`strict-origin`). Not `no-referrer`: with it,
    /// browsers send `Origin: null` on the page's own form posts, which
    /// cannot be told from another site's (`middleware::cross_site`).
    Private,
}

/// The referrer policy of `Privacy::Private` pages.
const PRIVATE_REFERRER_POLICY: &str = "strict-origin";

/// Renders `template` as a page with the site's security headers.
pub fn page(status: StatusCode, privacy: Privacy, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => html_response(status, privacy, html),
        Err(error) => {
            tracing::error!(error = %error, "page template failed");
            html_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                Privacy::Private,
                "<!doctype html><html lang=\"ja\"><title>エラー</title><p>ただいま表示できません。お電話でご連絡ください。</p></html>".into(),
            )
        }
    }
}

fn html_response(status: StatusCode, privacy: Privacy, html: String) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_LANGUAGE, "ja"));
    security_headers(&mut response);
    match privacy {
        Privacy::Public => {
            response.insert_header((header::REFERRER_POLICY, "strict-origin-when-cross-origin"));
        }
        Privacy::Private => {
            response
                .insert_header((header::REFERRER_POLICY, PRIVATE_REFERRER_POLICY))
                .insert_header((header::CACHE_CONTROL, "no-store"));
        }
    }
    response.body(html)
}

pub fn security_headers(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
}

/// A 303 to `location` (after a POST, so a reload does not repeat it).
pub fn see_other(location: &str, privacy: Privacy) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    security_headers(&mut response);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.insert_header((header::LOCATION, value));
    }
    if privacy == Privacy::Private {
        response
            .insert_header((header::REFERRER_POLICY, PRIVATE_REFERRER_POLICY))
            .insert_header((header::CACHE_CONTROL, "no-store"));
    }
    response.finish()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: &'static str,
    message: &'static str,
}

/// The friendly page for an error on an HTML route (the JSON API answers
/// problem+json instead).
pub fn error_page(state: &AppState, error: &ApiError) -> HttpResponse {
    use actix_web::ResponseError;
    let status = error.status_code();
    let (heading, message) = match error {
        ApiError::NotFound => (
            "ページが見つかりません",
            "お探しのページは見つかりませんでした。URLをご確認いただくか、トップページからお進みください。",
        ),
        ApiError::PayloadTooLarge { .. } => (
            "入力内容が長すぎます",
            "お手数ですが、ご相談内容を短くしてもう一度お送りください。",
        ),
        ApiError::CrossSiteRequest => (
            "送信を受け付けられませんでした",
            "別のサイトのページから送られたため、この送信は受け付けられませんでした。お手数ですが、当院のページからもう一度お送りください。",
        ),
        ApiError::RateLimited { .. } => (
            "アクセスが集中しています",
            "しばらく時間をおいてから、もう一度お試しください。",
        ),
        ApiError::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "page failed");
            (
                "エラーが発生しました",
                "申し訳ありません。しばらくしてからもう一度お試しいただくか、お電話でご連絡ください。",
            )
        }
        ApiError::Unavailable(cause) => {
            tracing::warn!(%cause, "database unavailable");
            (
                "ただいま一時的にご利用いただけません",
                "しばらくしてからもう一度お試しいただくか、お電話でご連絡ください。",
            )
        }
        _ => (
            "送信内容を処理できませんでした",
            "お手数ですが、フォームをもう一度開いてお送りください。",
        ),
    };
    message_page(state, status, heading, message)
}

/// A page that only says something (an error, a link that expired), with
/// the clinic's phone number.
pub fn message_page(
    state: &AppState,
    status: StatusCode,
    heading: &'static str,
    message: &'static str,
) -> HttpResponse {
    page(
        status,
        Privacy::Private,
        &ErrorPage {
            layout: Layout::of(state),
            heading,
            message,
        },
    )
}

/// The query string as name → value (the last one wins); a malformed query
/// reads as empty, since pages fall back to defaults anyway.
pub fn query_map(query: &str) -> HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// `name=value&...` with each part percent-encoded.
pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

pub fn weekday_ja(day: chrono::Weekday) -> &'static str {
    ["月", "火", "水", "木", "金", "土", "日"][day.num_days_from_monday() as usize]
}

/// `2026年12月1日(火)`
pub fn date_ja(date: NaiveDate) -> String {
    format!(
        "{}年{}月{}日({})",
        date.year(),
        date.month(),
        date.day(),
        weekday_ja(date.weekday())
    )
}

/// `2026年12月1日(火) 10:00〜10:30`
pub fn span_ja(start: DateTime<Tz>, end: DateTime<Tz>) -> String {
    format!(
        "{} {}〜{}",
        date_ja(start.date_naive()),
        start.format("%H:%M"),
        end.format("%H:%M")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_the_japanese_way() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(date_ja(date), "2026年12月1日(火)");
    }
}
