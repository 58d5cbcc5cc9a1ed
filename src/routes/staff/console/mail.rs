//! Failed mail (`/staff/mail`): the messages the mail server refused for
//! good, newest first, each with a button that puts it back in the queue
//! (once what was wrong is fixed), and how many messages are in each
//! status. Summaries only: never an address or a body.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;

use super::session::{page_session, post_form, redirect_with};
use super::{error_page, mail_lines, page, refusal_text, ConsoleLayout, MailLine, Nav};
use crate::db::outbox::{self, status};
use crate::state::AppState;
use crate::workflows::outbox_retry;
use crate::workflows::staff_sessions::{self, Flash};

/// The most failed messages listed at once.
const LISTED: i64 = 200;

#[derive(Template)]
#[template(path = "staff/mail.html")]
pub struct MailPage {
    pub layout: ConsoleLayout,
    pub failed: Vec<MailLine>,
    pub pending: i64,
    pub failed_count: i64,
    pub suppressed: i64,
    pub sent: i64,
}

/// `GET /staff/mail`
pub async fn failed(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let console = match page_session(&req, &state).await {
        Ok(console) => console,
        Err(response) => return response,
    };
    let loaded = state
        .db
        .read(|conn| {
            let failed = outbox::page(conn, Some(status::FAILED), None, LISTED)?;
            let counts: HashMap<String, i64> = outbox::count_by_status(conn)?.into_iter().collect();
            Ok((failed, counts))
        })
        .await;
    let (failed, counts) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return error_page(&state, Some(&console), &error),
    };
    let count = |status: &str| counts.get(status).copied().unwrap_or(0);
    page(
        StatusCode::OK,
        &MailPage {
            layout: console.layout(&state, Nav::Mail),
            failed: mail_lines(&state, &failed),
            pending: count(status::PENDING),
            failed_count: count(status::FAILED),
            suppressed: count(status::SUPPRESSED),
            sent: count(status::SENT),
        },
    )
}

/// `POST /staff/mail/{id}/requeue`: the message is tried again at once.
pub async fn requeue(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (console, _) = match post_form(&req, payload, &state).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let Ok(id) = id.parse::<i64>() else {
        return error_page(&state, Some(&console), &crate::error::ApiError::NotFound);
    };
    let (actor, session) = (console.actor(), console.session.clone());
    let requeued = state
        .db
        .write(move |conn| {
            let message = outbox_retry::requeue(conn, id, &actor, Utc::now())?;
            let text = format!(
                "{} のメールを送信待ちに戻しました。まもなく再送されます。",
                message.reference
            );
            staff_sessions::leave_flash(conn, &session, &Flash::notice(text))
        })
        .await;
    match requeued {
        Ok(()) => see_other_mail(),
        Err(error) => match refusal_text(&error) {
            Some(_) => {
                redirect_with(
                    &state,
                    &console,
                    Flash::error("このメールは送信失敗の状態ではないため、再送できません。"),
                    "/staff/mail",
                )
                .await
            }
            None => error_page(&state, Some(&console), &error),
        },
    }
}

fn see_other_mail() -> HttpResponse {
    crate::routes::site::see_other("/staff/mail", crate::routes::site::Privacy::Private)
}
