//! One error type for the whole API and the one place that turns it into an
//! RFC 9457 problem+json response.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chrono::{DateTime, Datelike};
use chrono_tz::Tz;
use serde_json::json;

use crate::domain::FieldError;
use crate::i18n::{field_message, Lang};
use crate::schedule::availability::SlotOffer;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    #[error("slot unavailable")]
    SlotUnavailable { alternatives: Vec<SlotOffer> },
    /// The thing is not in a state that allows this (409); `code` on
    /// `field` says why, e.g. `status` / `not_failed`.
    #[error("conflict: {field} {code}")]
    Conflict {
        field: &'static str,
        code: &'static str,
    },
    /// A patient's own cancel or move after the type's change deadline;
    /// `deadline` is in clinic time, `phone` the clinic's number to call.
    #[error("change deadline passed")]
    ChangeDeadlinePassed {
        deadline: DateTime<Tz>,
        phone: String,
    },
    #[error("not found")]
    NotFound,
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("malformed request: {detail}")]
    BadRequest {
        field: Option<String>,
        detail: String,
    },
    #[error("body over {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported content type")]
    UnsupportedMediaType,
    #[error("idempotency key reused with another body")]
    IdempotencyKeyReused,
    /// Another request with the same key is being stored right now.
    #[error("idempotency key in use by a concurrent request")]
    IdempotencyRace,
    #[error("rate limited")]
    RateLimited { retry_after_seconds: u64 },
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn field(field: &str, code: &'static str) -> Self {
        ApiError::Validation(vec![FieldError::new(field, code)])
    }

    pub fn bad_request(field: Option<&str>, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.map(str::to_string),
            detail: detail.into(),
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation-error",
            ApiError::SlotUnavailable { .. } => "slot-unavailable",
            ApiError::Conflict { .. } => "conflict",
            ApiError::ChangeDeadlinePassed { .. } => "change-deadline-passed",
            ApiError::NotFound => "not-found",
            ApiError::Unauthorized => "unauthorized",
            ApiError::BadRequest { .. } => "malformed-request",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::IdempotencyKeyReused => "idempotency-key-reused",
            ApiError::IdempotencyRace => "request-in-progress",
            ApiError::RateLimited { .. } => "rate-limited",
            ApiError::MethodNotAllowed { .. } => "method-not-allowed",
            ApiError::Unavailable(_) => "service-unavailable",
            ApiError::Internal(_) => "internal-error",
        }
    }

    fn title(&self, lang: Lang) -> &'static str {
        let (ja, en) = match self {
            ApiError::Validation(_) | ApiError::IdempotencyKeyReused => {
                ("入力内容をご確認ください", "Invalid input")
            }
            ApiError::SlotUnavailable { .. } => ("ご希望の枠は埋まっています", "Slot unavailable"),
            ApiError::Conflict { .. } => ("現在の状態ではこの操作はできません", "Conflict"),
            ApiError::ChangeDeadlinePassed { .. } => (
                "変更・キャンセルの受付期限を過ぎています",
                "The deadline for changes has passed",
            ),
            ApiError::IdempotencyRace => ("同じリクエストを処理中です", "Request in progress"),
            ApiError::NotFound => ("見つかりません", "Not found"),
            ApiError::Unauthorized => ("認証が必要です", "Authentication required"),
            ApiError::BadRequest { .. } => {
                ("リクエストの形式が正しくありません", "Malformed request")
            }
            ApiError::PayloadTooLarge { .. } => {
                ("リクエストが大きすぎます", "Request body too large")
            }
            ApiError::UnsupportedMediaType => ("対応していない形式です", "Unsupported media type"),
            ApiError::RateLimited { .. } => (
                "リクエストが多すぎます。しばらくしてからお試しください",
                "Too many requests",
            ),
            ApiError::MethodNotAllowed { .. } => ("この操作はできません", "Method not allowed"),
            ApiError::Unavailable(_) => ("ただいま一時的に利用できません", "Service unavailable"),
            ApiError::Internal(_) => ("サーバーでエラーが発生しました", "Internal server error"),
        };
        lang.pick(ja, en)
    }

    fn detail(&self, lang: Lang) -> String {
        match self {
            ApiError::Validation(errors) => match lang {
                Lang::Ja => format!("{}件の項目に誤りがあります。", errors.len()),
                Lang::En => format!("{} field(s) are invalid.", errors.len()),
            },
            ApiError::SlotUnavailable { .. } => field_message("start", "slot_unavailable", lang),
            ApiError::Conflict { field, code } => field_message(field, code, lang),
            ApiError::ChangeDeadlinePassed { deadline, phone } => match lang {
                Lang::Ja => format!(
                    "オンラインでの変更・キャンセルは{}月{}日 {}までです。お電話（{phone}）でご連絡ください。",
                    deadline.month(),
                    deadline.day(),
                    deadline.format("%H:%M")
                ),
                Lang::En => format!(
                    "Online changes and cancellations closed on {}. Please call the clinic at {phone}.",
                    deadline.format("%-d %b %Y, %H:%M")
                ),
            },
            ApiError::NotFound => lang
                .pick(
                    "指定されたものは見つかりませんでした。",
                    "Nothing was found at this address.",
                )
                .into(),
            ApiError::Unauthorized => lang
                .pick(
                    "有効なスタッフトークンを Authorization: Bearer で送ってください。",
                    "Send a valid staff token as Authorization: Bearer.",
                )
                .into(),
            ApiError::BadRequest { detail, .. } => detail.clone(),
            ApiError::PayloadTooLarge { limit } => match lang {
                Lang::Ja => format!("リクエスト本文は{limit}バイトまでです。"),
                Lang::En => format!("The request body may be at most {limit} bytes."),
            },
            ApiError::UnsupportedMediaType => lang
                .pick(
                    "application/json または application/x-www-form-urlencoded で送ってください。",
                    "Send application/json or application/x-www-form-urlencoded.",
                )
                .into(),
            ApiError::IdempotencyKeyReused => field_message("Idempotency-Key", "idempotency_key_reused", lang),
            ApiError::IdempotencyRace => lang
                .pick(
                    "同じ Idempotency-Key のリクエストを処理中です。少し待ってから再送してください。",
                    "A request with this Idempotency-Key is being processed; retry shortly.",
                )
                .into(),
            ApiError::RateLimited { retry_after_seconds } => match lang {
                Lang::Ja => format!("{retry_after_seconds}秒ほど待ってからお試しください。"),
                Lang::En => format!("Try again in {retry_after_seconds} seconds."),
            },
            ApiError::MethodNotAllowed { .. } => lang
                .pick("このメソッドには対応していません。", "This method is not supported here.")
                .into(),
            ApiError::Unavailable(_) | ApiError::Internal(_) => lang
                .pick(
                    "しばらくしてからもう一度お試しください。解決しない場合はお電話でご連絡ください。",
                    "Please try again later, or call the clinic.",
                )
                .into(),
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            ApiError::Validation(errors) => errors.clone(),
            ApiError::SlotUnavailable { .. } => vec![FieldError::new("start", "slot_unavailable")],
            ApiError::Conflict { field, code } => vec![FieldError::new(*field, code)],
            ApiError::ChangeDeadlinePassed { .. } => {
                vec![FieldError::new("start", "change_deadline_passed")]
            }
            ApiError::IdempotencyKeyReused => {
                vec![FieldError::new("Idempotency-Key", "idempotency_key_reused")]
            }
            ApiError::BadRequest {
                field: Some(field), ..
            } => vec![FieldError::new(field.clone(), "invalid")],
            _ => Vec::new(),
        }
    }

    /// The problem document, in `lang`.
    pub fn problem(&self, lang: Lang) -> serde_json::Value {
        let errors: Vec<serde_json::Value> = self
            .field_errors()
            .iter()
            .map(|e| {
                json!({"field": e.field, "code": e.code, "message": field_message(&e.field, e.code, lang)})
            })
            .collect();
        let mut problem = json!({
            "type": format!("/problems/{}", self.slug()),
            "title": self.title(lang),
            "status": self.status_code().as_u16(),
            "detail": self.detail(lang),
            "errors": errors,
        });
        if let ApiError::SlotUnavailable { alternatives } = self {
            problem["alternatives"] = json!(alternatives);
        }
        if let ApiError::ChangeDeadlinePassed { deadline, phone } = self {
            problem["deadline"] = json!(crate::schedule::availability::rfc3339(*deadline));
            problem["phone"] = json!(phone);
        }
        problem
    }

    /// The whole response, in `lang`.
    pub fn render(&self, lang: Lang) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        response.insert_header((header::CONTENT_LANGUAGE, lang.pick("ja", "en")));
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let ApiError::RateLimited {
            retry_after_seconds,
        } = self
        {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds)));
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, *allow));
        }
        if let ApiError::Unauthorized = self {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.body(self.problem(lang).to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_)
            | ApiError::IdempotencyKeyReused
            | ApiError::ChangeDeadlinePassed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::SlotUnavailable { .. }
            | ApiError::Conflict { .. }
            | ApiError::IdempotencyRace => StatusCode::CONFLICT,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Japanese; the language middleware re-renders in English when asked.
    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed")
            }
            ApiError::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            _ => {}
        }
        self.render(Lang::Ja)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        ApiError::Internal(anyhow::Error::new(error).context("database query failed"))
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        ApiError::Unavailable(error.to_string())
    }
}
