//! Staff console sessions. Signing in with a staff token opens a session:
//! the browser gets a random secret (256 bits) in a cookie, the database
//! keeps its SHA-256 and the token it was opened with. The rules:
//! - a session lasts while its staff token does (revoking the token ends
//!   it at once) and until `staff.session_idle_hours` pass without use;
//! - every form the console serves carries the session's CSRF token, which
//!   only the holder of the cookie can know (it is derived from the secret,
//!   never stored), and a POST without it changes nothing;
//! - signing in and out is on the audit log under the token's label.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::{staff_sessions, staff_tokens, DbConnection};
use crate::domain::{hash_token, ManageToken};
use crate::error::ApiError;
use crate::workflows::audit::Actor;

/// How often `last_seen_at` is written: often enough to measure idleness
/// in hours, rarely enough that page views do not all become writes.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// A signed-in browser, as the cookie's secret found it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The staff token's label: who acts, in the audit log.
    pub label: String,
    secret_hash: String,
    last_seen_at: chrono::NaiveDateTime,
    /// The message left for this page by the action before it.
    pub flash: Option<Flash>,
}

/// A one-time message shown on the page an action redirects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Notice,
    Error,
}

impl Flash {
    pub fn notice(text: impl Into<String>) -> Self {
        Flash {
            kind: FlashKind::Notice,
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Flash {
            kind: FlashKind::Error,
            text: text.into(),
        }
    }

    fn stored(&self) -> String {
        let kind = match self.kind {
            FlashKind::Notice => "notice",
            FlashKind::Error => "error",
        };
        format!("{kind}:{}", self.text)
    }

    fn read(stored: &str) -> Option<Self> {
        match stored.split_once(':')? {
            ("notice", text) => Some(Flash::notice(text)),
            ("error", text) => Some(Flash::error(text)),
            _ => None,
        }
    }
}

impl Session {
    pub fn actor(&self) -> Actor {
        Actor::Staff(self.label.clone())
    }

    /// Whether this use should be written down as the session's last.
    pub fn needs_touch(&self, now: DateTime<Utc>) -> bool {
        now.naive_utc() - self.last_seen_at >= TOUCH_EVERY
    }
}

/// A session just opened: the label it acts under and the secret for the
/// browser's cookie (the only time the secret exists outside it).
pub struct Opened {
    pub label: String,
    pub secret: String,
}

/// Opens a session for the holder of the staff token `presented`
/// (`Unauthorized` when it is not a live one). Sessions idle for longer
/// than `idle` are forgotten on the way.
pub fn sign_in(
    conn: &mut DbConnection,
    presented: &str,
    idle: Duration,
    now: DateTime<Utc>,
) -> Result<Opened, ApiError> {
    let token_hash = hash_token(presented.trim());
    let token = staff_tokens::find_by_hash(conn, &token_hash)?
        .filter(|token| {
            // A calendar token opens the feed and nothing else.
            crate::workflows::staff_tokens::StaffScope::parse(&token.scope)
                .is_some_and(|scope| scope.opens(crate::workflows::staff_tokens::StaffScope::Staff))
        })
        .ok_or(ApiError::Unauthorized)?;
    staff_sessions::delete_stale(conn, now.naive_utc() - idle)?;
    let secret = ManageToken::generate();
    staff_sessions::insert(conn, &secret.hash(), &token_hash, now.naive_utc())?;
    staff_tokens::touch(conn, &token.label, now.naive_utc())?;
    crate::db::audit::record(
        conn,
        now.naive_utc(),
        &token.label,
        "staff.signed_in",
        None,
        None,
    )?;
    tracing::info!("staff console session opened");
    Ok(Opened {
        label: token.label,
        secret: secret.expose().to_string(),
    })
}

/// The live session the cookie `secret` opens: none when it is unknown,
/// its token revoked, or it was idle for longer than `idle`.
pub fn find(
    conn: &mut DbConnection,
    secret: &str,
    idle: Duration,
    now: DateTime<Utc>,
) -> Result<Option<Session>, ApiError> {
    let secret_hash = hash_token(secret);
    let Some(live) = staff_sessions::find_live(conn, &secret_hash)? else {
        return Ok(None);
    };
    if now.naive_utc() - live.last_seen_at > idle {
        return Ok(None);
    }
    Ok(Some(Session {
        label: live.label,
        secret_hash,
        last_seen_at: live.last_seen_at,
        flash: live.flash.as_deref().and_then(Flash::read),
    }))
}

/// Records a use of the session now (it stays open `idle` from here).
pub fn touch(
    conn: &mut DbConnection,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    staff_sessions::touch(conn, &session.secret_hash, now.naive_utc())
}

/// Leaves `flash` for the session's next page.
pub fn leave_flash(
    conn: &mut DbConnection,
    session: &Session,
    flash: &Flash,
) -> Result<(), ApiError> {
    staff_sessions::set_flash(conn, &session.secret_hash, Some(&flash.stored()))
}

/// Clears the message once a page has shown it.
pub fn clear_flash(conn: &mut DbConnection, session: &Session) -> Result<(), ApiError> {
    staff_sessions::set_flash(conn, &session.secret_hash, None)
}

/// Ends the session: its cookie opens nothing from now on.
pub fn sign_out(
    conn: &mut DbConnection,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    staff_sessions::delete(conn, &session.secret_hash)?;
    crate::db::audit::record(
        conn,
        now.naive_utc(),
        &session.label,
        "staff.signed_out",
        None,
        None,
    )?;
    tracing::info!("staff console session closed");
    Ok(())
}

/// The CSRF token of the session whose cookie holds `secret`: a hash of
/// the secret under its own purpose, so the page that shows it reveals
/// nothing of the cookie, and a copy of the database (which holds another
/// hash of the secret) cannot make it.
pub fn csrf_token(secret: &str) -> String {
    hex::encode(
        Sha256::new()
            .chain_update(b"staff-console-csrf:")
            .chain_update(secret.as_bytes())
            .finalize(),
    )
}

/// Whether `presented` is the CSRF token of the session `secret` opens,
/// compared in constant time.
pub fn csrf_matches(secret: &str, presented: &str) -> bool {
    csrf_token(secret)
        .as_bytes()
        .ct_eq(presented.trim().as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_belongs_to_its_session_alone() {
        let secret = ManageToken::generate();
        let other = ManageToken::generate();
        let token = csrf_token(secret.expose());
        assert!(csrf_matches(secret.expose(), &token));
        assert!(!csrf_matches(other.expose(), &token));
        assert!(!csrf_matches(secret.expose(), ""));
        // Neither the secret nor what the database keeps of it.
        assert_ne!(token, secret.expose());
        assert_ne!(token, secret.hash());
    }

    #[test]
    fn a_flash_survives_being_stored() {
        for flash in [Flash::notice("受付済にしました"), Flash::error("a: b")] {
            assert_eq!(Flash::read(&flash.stored()), Some(flash));
        }
        assert_eq!(Flash::read("garbage"), None);
    }
}
