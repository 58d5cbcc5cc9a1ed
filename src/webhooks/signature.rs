//! Standard Webhooks v1 signatures: HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}` with the key that `whsec_`
//! prefixes (base64), sent as `v1,` and the base64 of the MAC; several
//! space-separated while keys are rotated.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ring::hmac;

/// Standard base64, padded or not (secrets are often copied without `=`).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The key of a `whsec_` secret: 24 to 64 bytes, as the specification asks.
/// The error never repeats the secret.
pub fn parse_secret(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .trim()
        .strip_prefix("whsec_")
        .ok_or("a secret must start with whsec_")?;
    let key = LENIENT
        .decode(encoded)
        .map_err(|_| "a secret must be whsec_ followed by base64".to_string())?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "a secret's key must be 24 to 64 bytes (this one has {})",
            key.len()
        ));
    }
    Ok(key)
}

/// One signature: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.
pub fn sign(key: &[u8], webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut context = hmac::Context::with_key(&key);
    context.update(webhook_id.as_bytes());
    context.update(b".");
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
}

/// The `webhook-signature` header: one signature per key, space-separated,
/// the current key's first.
pub fn header(keys: &[Vec<u8>], webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| sign(key, webhook_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A fresh message id: `msg_` and 128 random bits (base32, lower case).
pub fn new_webhook_id() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let random: u128 = rand::random();
    let id: String = (0..26)
        .map(|i| ALPHABET[((random >> (i * 5)) & 31) as usize] as char)
        .collect();
    format!("msg_{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification and its
    /// reference libraries.
    #[test]
    fn signs_the_specifications_example() {
        let key = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotation_sends_one_signature_per_key_current_first() {
        let current = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let previous = vec![7u8; 32];
        let header = header(&[current.clone(), previous.clone()], "msg_1", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [
                sign(&current, "msg_1", 1, b"{}"),
                sign(&previous, "msg_1", 1, b"{}")
            ]
        );
    }

    #[test]
    fn a_secret_without_padding_reads_as_with_it() {
        // 25 bytes: base64 ends in "==" when padded.
        let padded = format!("whsec_{}", STANDARD.encode([1u8; 25]));
        let bare = padded.trim_end_matches('=').to_string();
        assert_eq!(parse_secret(&padded), parse_secret(&bare));
    }

    #[test]
    fn message_ids_are_distinct() {
        let (a, b) = (new_webhook_id(), new_webhook_id());
        assert!(a.starts_with("msg_") && a.len() == 30);
        assert_ne!(a, b);
    }
}
