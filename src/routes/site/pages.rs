//! The simple pages: the home page, the privacy notice, the inquiry form
//! (its POST is in `site::inquiry`), the polite refusal shown to
//! bots, and the static assets built into the binary.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;

use super::guard::{self, Rejection};
use super::picker::FormErrors;
use super::{date_ja, error_page, page, query_map, security_headers, Layout, Privacy};
use crate::articles::{self, Article};
use crate::domain::{parse_source, FieldError, Fields};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub layout: Layout,
    pub articles: Vec<(&'static Article, String)>,
}

/// `GET /`
pub async fn home(state: web::Data<AppState>) -> HttpResponse {
    let library = match articles::library() {
        Ok(library) => library,
        Err(error) => return error_page(&state, &ApiError::Internal(error)),
    };
    let articles = library
        .all()
        .iter()
        .map(|article| (article, date_ja(article.published)))
        .collect();
    page(
        StatusCode::OK,
        Privacy::Public,
        &HomePage {
            layout: Layout::of(&state),
            articles,
        },
    )
}

#[derive(Template)]
#[template(path = "privacy.html")]
pub struct PrivacyPage {
    pub layout: Layout,
    pub notice_version: String,
}

/// `GET /privacy`
pub async fn privacy(state: web::Data<AppState>) -> HttpResponse {
    page(
        StatusCode::OK,
        Privacy::Public,
        &PrivacyPage {
            layout: Layout::of(&state),
            notice_version: state.settings.privacy.notice_version.clone(),
        },
    )
}

#[derive(Debug, Clone)]
pub struct CategoryOption {
    pub code: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// The inquiry categories of the API, with their Japanese labels.
pub const CATEGORIES: [(&str, &str); 4] = [
    ("general", "一般的なお問い合わせ"),
    ("treatment", "治療について"),
    ("reservation", "ご予約について"),
    ("other", "その他"),
];

/// What the visitor typed into the inquiry form.
#[derive(Debug, Clone, Default)]
pub struct InquiryValues {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub category: String,
    pub message: String,
    pub consent: bool,
    pub source: String,
}

impl InquiryValues {
    pub fn of(fields: &Fields) -> Self {
        let text = |name: &str| fields.text(name).ok().flatten().unwrap_or_default();
        InquiryValues {
            name: text("name"),
            email: text("email"),
            phone: text("phone"),
            category: text("category"),
            message: text("message"),
            consent: fields.flag("consent").ok().flatten().unwrap_or(false),
            source: parse_source(fields).ok().flatten().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "inquiry.html")]
pub struct InquiryPage {
    pub layout: Layout,
    pub categories: Vec<CategoryOption>,
    pub values: InquiryValues,
    pub errors: FormErrors,
    pub form_token: String,
    pub honeypot: &'static str,
    pub token_field: &'static str,
}

/// The inquiry form with `values` and `errors` (empty for a fresh form):
/// `POST /inquiry` shows it again through this when a field is wrong.
pub fn inquiry_page(
    state: &AppState,
    status: StatusCode,
    values: InquiryValues,
    errors: &[FieldError],
) -> HttpResponse {
    let selected = if values.category.is_empty() {
        "general"
    } else {
        values.category.as_str()
    };
    let categories = CATEGORIES
        .iter()
        .map(|(code, label)| CategoryOption {
            code,
            label,
            selected: *code == selected,
        })
        .collect();
    let privacy = if errors.is_empty() {
        Privacy::Public
    } else {
        Privacy::Private
    };
    page(
        status,
        privacy,
        &InquiryPage {
            layout: Layout::of(state),
            categories,
            values,
            errors: FormErrors::of(errors),
            form_token: guard::issue(&state.settings.forms, Utc::now()),
            honeypot: guard::HONEYPOT_FIELD,
            token_field: guard::TOKEN_FIELD,
        },
    )
}

/// `GET /inquiry[?source=]`
pub async fn inquiry_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let fields = Fields::from_form_pairs(query_map(req.query_string()).into_iter().collect());
    let values = InquiryValues {
        source: parse_source(&fields).ok().flatten().unwrap_or_default(),
        ..InquiryValues::default()
    };
    inquiry_page(&state, StatusCode::OK, values, &[])
}

#[derive(Template)]
#[template(path = "inquiry_thanks.html")]
pub struct InquiryThanksPage {
    pub layout: Layout,
    pub reference: String,
}

/// The page after an inquiry was stored, showing its reference.
pub fn inquiry_received(state: &AppState, reference: &str) -> HttpResponse {
    page(
        StatusCode::OK,
        Privacy::Private,
        &InquiryThanksPage {
            layout: Layout::of(state),
            reference: reference.to_string(),
        },
    )
}

#[derive(Template)]
#[template(path = "rejected.html")]
pub struct RejectedPage {
    pub layout: Layout,
    pub back_href: &'static str,
}

/// The polite answer to a submission that looked automated; nothing was
/// stored. Real people who were simply very fast can send it again.
pub fn rejected(state: &AppState, rejection: Rejection, back_href: &'static str) -> HttpResponse {
    tracing::info!(
        reason = rejection.as_str(),
        "form submission refused as automated"
    );
    page(
        StatusCode::BAD_REQUEST,
        Privacy::Private,
        &RejectedPage {
            layout: Layout::of(state),
            back_href,
        },
    )
}

const SITE_CSS: &str = include_str!("../../../static/site.css");
const SITE_JS: &str = include_str!("../../../static/site.js");
const STAFF_CSS: &str = include_str!("../../../static/staff.css");
const STAFF_JS: &str = include_str!("../../../static/staff.js");

/// `GET /static/{file}`: the stylesheet and the optional script, and the
/// staff console's additions to them.
pub async fn asset(file: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let (body, content_type) = match file.as_str() {
        "site.css" => (SITE_CSS, "text/css; charset=utf-8"),
        "site.js" => (SITE_JS, "text/javascript; charset=utf-8"),
        "staff.css" => (STAFF_CSS, "text/css; charset=utf-8"),
        "staff.js" => (STAFF_JS, "text/javascript; charset=utf-8"),
        _ => return error_page(&state, &ApiError::NotFound),
    };
    let mut response = HttpResponse::Ok();
    security_headers(&mut response);
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ))
        .body(body)
}
