//! The staff console: server-rendered Japanese pages under `/staff` for the
//! reception, with the patient site's look and content security policy,
//! working without JavaScript (`static/staff.js` only makes the date
//! picker go at once). Every page needs a session (see `session`); every
//! POST carries the session's CSRF token and answers with a redirect back
//! and a one-time message (POST-redirect-GET). The pages call the same
//! workflows as the staff JSON API, and every read of patient data and
//! every action is on the audit log under the staff token's label.

pub mod bookings;
pub mod closures;
pub mod day;
pub mod inquiries;
pub mod mail;
pub mod session;
pub mod waitlist;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::{NaiveDateTime, Utc};

use crate::error::ApiError;
use crate::routes::site::{self, Privacy};
use crate::state::AppState;
use crate::workflows::staff_sessions::{Flash, FlashKind};

pub use session::Console;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(day::today))
        .route("/", web::get().to(day::today))
        .route("/login", web::get().to(session::login_form))
        .route("/login", web::post().to(session::login))
        .route("/logout", web::post().to(session::logout))
        .route("/day", web::get().to(day::pick_day))
        .route("/day/{date}", web::get().to(day::day))
        .route("/week", web::get().to(day::pick_week))
        .route("/week/{date}", web::get().to(day::week))
        .route("/bookings", web::get().to(bookings::find))
        .route("/bookings/{reference}", web::get().to(bookings::show))
        .route(
            "/bookings/{reference}/status",
            web::post().to(bookings::set_status),
        )
        .route(
            "/bookings/{reference}/cancel",
            web::post().to(bookings::cancel),
        )
        .route(
            "/bookings/{reference}/move",
            web::post().to(bookings::move_to),
        )
        .route("/bookings/{reference}/note", web::post().to(bookings::note))
        .route(
            "/bookings/{reference}/practitioner",
            web::post().to(bookings::reassign),
        )
        .route("/inquiries", web::get().to(inquiries::list))
        .route("/inquiries/{reference}", web::get().to(inquiries::show))
        .route(
            "/inquiries/{reference}/status",
            web::post().to(inquiries::set_status),
        )
        .route(
            "/inquiries/{reference}/note",
            web::post().to(inquiries::note),
        )
        .route("/closures", web::get().to(closures::list))
        .route("/closures", web::post().to(closures::create))
        .route("/closures/{id}/delete", web::post().to(closures::delete))
        .route("/mail", web::get().to(mail::failed))
        .route("/mail/{id}/requeue", web::post().to(mail::requeue))
        .default_service(web::to(session::unknown));
}

/// Which part of the console a page belongs to (its menu item is marked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    None,
    Day,
    Week,
    Inquiries,
    Closures,
    Mail,
}

/// A flash message as a page shows it.
#[derive(Debug, Clone)]
pub struct FlashView {
    pub class: &'static str,
    pub role: &'static str,
    pub text: String,
}

impl From<Flash> for FlashView {
    fn from(flash: Flash) -> Self {
        match flash.kind {
            FlashKind::Notice => FlashView {
                class: "notice",
                role: "status",
                text: flash.text,
            },
            FlashKind::Error => FlashView {
                class: "flash-error",
                role: "alert",
                text: flash.text,
            },
        }
    }
}

/// What every console page shows around its content.
#[derive(Debug, Clone)]
pub struct ConsoleLayout {
    pub clinic_name: String,
    /// The signed-in staff token's label; `None` on the sign-in page.
    pub user: Option<String>,
    pub csrf: String,
    pub nav: Nav,
    pub flash: Option<FlashView>,
    /// Today's clinic date, `YYYY-MM-DD`.
    pub today: String,
}

impl ConsoleLayout {
    fn signed_in(state: &AppState, console: &Console, nav: Nav) -> Self {
        ConsoleLayout {
            clinic_name: state.settings.clinic.name.clone(),
            user: Some(console.session.label.clone()),
            csrf: console.csrf(),
            nav,
            flash: console.session.flash.clone().map(FlashView::from),
            today: state.calendar.today(Utc::now()).to_string(),
        }
    }

    fn signed_out(state: &AppState, flash: Option<Flash>) -> Self {
        ConsoleLayout {
            clinic_name: state.settings.clinic.name.clone(),
            user: None,
            csrf: String::new(),
            nav: Nav::None,
            flash: flash.map(FlashView::from),
            today: state.calendar.today(Utc::now()).to_string(),
        }
    }

    /// `aria-current` for the menu item of `nav`.
    pub fn current(&self, nav: &str) -> &'static str {
        let this = match self.nav {
            Nav::Day => "day",
            Nav::Week => "week",
            Nav::Inquiries => "inquiries",
            Nav::Closures => "closures",
            Nav::Mail => "mail",
            Nav::None => "",
        };
        if this == nav {
            "page"
        } else {
            "false"
        }
    }
}

/// A console page: never cached, never sent as a referrer, with the site's
/// content security policy.
pub fn page(status: StatusCode, template: &impl Template) -> HttpResponse {
    site::page(status, Privacy::Private, template)
}

#[derive(Template)]
#[template(path = "staff/message.html")]
struct ErrorPage {
    layout: ConsoleLayout,
    heading: &'static str,
    message: &'static str,
}

/// A page that only says something (a refusal, an error).
pub fn message_page(
    state: &AppState,
    console: Option<&Console>,
    status: StatusCode,
    heading: &'static str,
    message: &'static str,
) -> HttpResponse {
    let layout = match console {
        Some(console) => console.layout(state, Nav::None),
        None => ConsoleLayout::signed_out(state, None),
    };
    page(
        status,
        &ErrorPage {
            layout,
            heading,
            message,
        },
    )
}

/// The console's page for an error (not found, unavailable, ...).
pub fn error_page(state: &AppState, console: Option<&Console>, error: &ApiError) -> HttpResponse {
    use actix_web::ResponseError;
    let (heading, message) = match error {
        ApiError::NotFound => (
            "見つかりません",
            "指定された予約・お問い合わせ・ページは見つかりませんでした。予約番号や日付をご確認ください。",
        ),
        ApiError::PayloadTooLarge { .. } => (
            "入力内容が長すぎます",
            "内容を短くしてからもう一度送信してください。",
        ),
        ApiError::Unavailable(cause) => {
            tracing::warn!(%cause, "database unavailable");
            (
                "ただいま一時的に利用できません",
                "しばらくしてからもう一度お試しください。",
            )
        }
        ApiError::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "staff console page failed");
            (
                "エラーが発生しました",
                "しばらくしてからもう一度お試しください。続く場合は管理者にご連絡ください。",
            )
        }
        _ => (
            "送信内容を処理できませんでした",
            "ページを開き直してから、もう一度操作してください。",
        ),
    };
    message_page(state, console, error.status_code(), heading, message)
}

/// The words for a refused action, worded as the JSON API words its codes.
pub fn refusal_text(error: &ApiError) -> Option<String> {
    match error {
        ApiError::Validation(errors) => Some(
            errors
                .iter()
                .map(|error| {
                    crate::i18n::field_message(&error.field, error.code, crate::i18n::Lang::Ja)
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ApiError::SlotUnavailable { .. } => {
            Some("その枠はすでに埋まっているか、休診です。別の枠をお選びください。".to_string())
        }
        ApiError::Conflict { field, code } => Some(crate::i18n::field_message(
            field,
            code,
            crate::i18n::Lang::Ja,
        )),
        _ => None,
    }
}

/// `2026年12月1日(火) 10:00` of a stored UTC time.
pub fn when_ja(state: &AppState, at: NaiveDateTime) -> String {
    let local = state.calendar.local(at);
    format!(
        "{} {}",
        site::date_ja(local.date_naive()),
        local.format("%H:%M")
    )
}

/// One email of a booking or inquiry, or of the failed-mail list.
#[derive(Debug, Clone)]
pub struct MailLine {
    pub id: i64,
    pub kind: String,
    pub audience: &'static str,
    pub reference: String,
    /// The page of the booking or inquiry it is about.
    pub href: String,
    pub status: String,
    pub status_label: &'static str,
    pub attempts: i32,
    pub created: String,
    pub updated: String,
    pub last_error: String,
}

/// What a message is, as the desk would say it.
fn mail_kind_label(kind: &str) -> String {
    use crate::db::outbox::kind;
    let label = match kind {
        kind::BOOKING_CONFIRMED => "予約確認（患者様）",
        kind::BOOKING_RESCHEDULED => "日時変更のお知らせ（患者様）",
        kind::BOOKING_CANCELLED => "キャンセルのお知らせ（患者様）",
        kind::BOOKING_REMINDER => "前日のリマインダー（患者様）",
        kind::CLINIC_BOOKING_CONFIRMED => "新しい予約の通知（クリニック）",
        kind::CLINIC_BOOKING_RESCHEDULED => "日時変更の通知（クリニック）",
        kind::CLINIC_BOOKING_CANCELLED => "キャンセルの通知（クリニック）",
        kind::INQUIRY_RECEIVED => "お問い合わせ受付（送信者）",
        kind::CLINIC_INQUIRY => "お問い合わせの通知（クリニック）",
        other => return other.to_string(),
    };
    label.to_string()
}

fn mail_status_label(status: &str) -> &'static str {
    use crate::db::outbox::status;
    match status {
        status::PENDING => "送信待ち",
        status::SENT => "送信済み",
        status::FAILED => "送信失敗",
        status::SUPPRESSED => "送信見合わせ（上限）",
        status::CANCELLED => "取り消し",
        _ => "不明",
    }
}

pub fn mail_lines(
    state: &AppState,
    messages: &[crate::db::outbox::OutboxSummary],
) -> Vec<MailLine> {
    messages
        .iter()
        .map(|message| MailLine {
            id: message.id,
            kind: mail_kind_label(&message.kind),
            audience: if message.audience == "clinic" {
                "クリニック"
            } else {
                "患者様"
            },
            reference: message.reference.clone(),
            href: if message.kind.contains("inquiry") {
                format!("/staff/inquiries/{}", message.reference)
            } else {
                format!("/staff/bookings/{}", message.reference)
            },
            status: message.status.clone(),
            status_label: mail_status_label(&message.status),
            attempts: message.attempts,
            created: when_ja(state, message.created_at),
            updated: when_ja(state, message.updated_at),
            last_error: message.last_error.clone().unwrap_or_default(),
        })
        .collect()
}

/// One entry of an audit trail.
#[derive(Debug, Clone)]
pub struct TrailLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

fn action_label(action: &str) -> Option<&'static str> {
    Some(match action {
        "booking.created" => "予約",
        "booking.viewed" => "閲覧",
        "booking.cancelled" => "キャンセル",
        "booking.rescheduled" => "日時変更",
        "booking.status_changed" => "状態の変更",
        "booking.practitioner_changed" => "担当の変更",
        "booking.reconfirmed" => "予約の復活",
        "booking.staff_note_changed" => "スタッフメモの変更",
        "booking.inside_closure" => "休診設定の時間内",
        "booking.personal_data_erased" => "個人情報の削除",
        "inquiry.viewed" => "閲覧",
        "inquiry.status_changed" => "状態の変更",
        "inquiry.staff_note_changed" => "スタッフメモの変更",
        "inquiry.personal_data_erased" => "個人情報の削除",
        "outbox.requeued" => "メールの再送",
        _ => return None,
    })
}

/// A status code or a time of an audit detail, as the desk reads it.
fn detail_value(state: &AppState, value: &str) -> String {
    if let Some(status) = crate::domain::BookingStatus::parse(value) {
        return status.label_ja().to_string();
    }
    if let Some(status) = crate::domain::InquiryStatus::parse(value) {
        return inquiry_status_label(status).to_string();
    }
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(value) {
        return when_ja(state, at.naive_utc());
    }
    value.to_string()
}

fn detail_text(state: &AppState, detail: Option<&str>) -> String {
    let Some(detail) = detail else {
        return String::new();
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(detail)
    else {
        return detail.to_string();
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(|v| v.as_str())
            .map(|v| detail_value(state, v))
    };
    match (text("from"), text("to")) {
        (Some(from), Some(to)) => format!("{from} → {to}"),
        _ => match map.get("closure").and_then(|v| v.as_i64()) {
            Some(id) => format!("休診設定 #{id}"),
            None => detail.to_string(),
        },
    }
}

pub fn trail_lines(state: &AppState, rows: &[crate::db::audit::AuditRow]) -> Vec<TrailLine> {
    rows.iter()
        .map(|row| TrailLine {
            at: when_ja(state, row.at),
            actor: if row.actor == "patient" {
                "患者様".to_string()
            } else {
                row.actor.clone()
            },
            action: action_label(&row.action)
                .map(str::to_string)
                .unwrap_or_else(|| row.action.clone()),
            detail: detail_text(state, row.detail.as_deref()),
        })
        .collect()
}

/// How the desk names an inquiry's status.
pub fn inquiry_status_label(status: crate::domain::InquiryStatus) -> &'static str {
    match status {
        crate::domain::InquiryStatus::Received => "未対応",
        crate::domain::InquiryStatus::InProgress => "対応中",
        crate::domain::InquiryStatus::Closed => "完了",
    }
}
