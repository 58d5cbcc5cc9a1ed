//! Bot defence for the HTML forms: a honeypot field that people never see
//! (and so leave empty) and a signed timestamp of when the form was served,
//! so a submission that comes back faster than a person can type is refused.
//! Neither needs JavaScript or a third-party service.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::ExposeSecret;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::configuration::FormSettings;
use crate::domain::Fields;

/// The honeypot: named like a field bots love to fill.
pub const HONEYPOT_FIELD: &str = "website";
/// The signed time the form was served.
pub const TOKEN_FIELD: &str = "form_token";

/// Why a submission was refused (logged; the visitor sees one polite page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    HoneypotFilled,
    MissingToken,
    ForgedToken,
    TooFast,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::HoneypotFilled => "honeypot_filled",
            Rejection::MissingToken => "missing_token",
            Rejection::ForgedToken => "forged_token",
            Rejection::TooFast => "too_fast",
        }
    }
}

fn key(settings: &FormSettings) -> Vec<u8> {
    let configured = settings.token_secret.expose_secret();
    if !configured.is_empty() {
        return configured.as_bytes().to_vec();
    }
    static PROCESS_KEY: OnceLock<[u8; 32]> = OnceLock::new();
    PROCESS_KEY
        .get_or_init(|| {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            key
        })
        .to_vec()
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length (a long one is hashed first), so this
    // constructor has no error to return for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn signature(settings: &FormSettings, issued: i64) -> String {
    hex::encode(hmac_sha256(
        &key(settings),
        format!("form-served:{issued}").as_bytes(),
    ))
}

/// The token to embed in a form served at `now`.
pub fn issue(settings: &FormSettings, now: DateTime<Utc>) -> String {
    let issued = now.timestamp();
    format!("{issued}.{}", signature(settings, issued))
}

/// Whether a submission looks like a person's.
pub fn check(
    fields: &Fields,
    settings: &FormSettings,
    now: DateTime<Utc>,
) -> Result<(), Rejection> {
    if fields.text(HONEYPOT_FIELD).ok().flatten().is_some() || !is_text_or_absent(fields) {
        return Err(Rejection::HoneypotFilled);
    }
    let token = fields
        .text(TOKEN_FIELD)
        .ok()
        .flatten()
        .ok_or(Rejection::MissingToken)?;
    let (issued, sig) = token.trim().split_once('.').ok_or(Rejection::ForgedToken)?;
    let issued: i64 = issued.parse().map_err(|_| Rejection::ForgedToken)?;
    let expected = signature(settings, issued);
    if !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
        return Err(Rejection::ForgedToken);
    }
    let min = i64::try_from(settings.min_fill_seconds).unwrap_or(i64::MAX);
    if now.timestamp().saturating_sub(issued) < min {
        return Err(Rejection::TooFast);
    }
    Ok(())
}

fn is_text_or_absent(fields: &Fields) -> bool {
    fields.text(HONEYPOT_FIELD).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn settings(min: u64) -> FormSettings {
        FormSettings {
            min_fill_seconds: min,
            token_secret: "test-secret".to_string().into(),
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Fields {
        Fields::from_form_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_person_who_took_their_time_passes_and_a_fast_or_forged_one_does_not() {
        let served = Utc::now();
        let token = issue(&settings(3), served);
        let later = served + Duration::seconds(10);
        assert_eq!(
            check(&form(&[(TOKEN_FIELD, &token)]), &settings(3), later),
            Ok(())
        );
        assert_eq!(
            check(&form(&[(TOKEN_FIELD, &token)]), &settings(3), served),
            Err(Rejection::TooFast)
        );
        assert_eq!(
            check(
                &form(&[(TOKEN_FIELD, &token), (HONEYPOT_FIELD, "http://spam")]),
                &settings(3),
                later
            ),
            Err(Rejection::HoneypotFilled)
        );
        let forged = format!(
            "{}.{}",
            served.timestamp() - 100,
            &token[token.find('.').unwrap() + 1..]
        );
        assert_eq!(
            check(&form(&[(TOKEN_FIELD, &forged)]), &settings(3), later),
            Err(Rejection::ForgedToken)
        );
        assert_eq!(
            check(&form(&[]), &settings(0), later),
            Err(Rejection::MissingToken)
        );
    }
}
