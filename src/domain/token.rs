//! Secret tokens (a patient's manage token, a staff token): 256 random bits,
//! shown once, stored only as a SHA-256 hash, compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Clone)]
pub struct ManageToken(String);

impl std::fmt::Debug for ManageToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ManageToken(..)")
    }
}

impl ManageToken {
    /// Characters of every token: 32 bytes in unpadded base64url.
    pub const CHARS: usize = 43;

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        ManageToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The token as given to its holder (in a URL or header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored: the hex SHA-256 of the token.
    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }
}

pub fn hash_token(token: &str) -> String {
    #[cfg(test)]
    tests::HASHED.with(|hashed| hashed.set(hashed.get() + 1));
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `presented` could be a token at all: the right length. Its length
/// is no secret (every token has it), so a request whose tokens all fail
/// this may be refused before any lookup.
pub fn is_token_shaped(presented: &str) -> bool {
    presented.len() == ManageToken::CHARS
}

/// Compared against when there is nothing stored (an unknown reference): a
/// hash of the same length that no token has.
const NO_STORED_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether one of `presented` is the token whose hash is `stored_hash`.
/// Every token-shaped one is hashed and compared in constant time, also
/// when nothing is stored (`None`: an unknown reference), so an unknown
/// reference and a wrong token take the same time and an attacker cannot
/// tell references that exist from those that do not.
pub fn any_token_matches(presented: &[String], stored_hash: Option<&str>) -> bool {
    let against = stored_hash.unwrap_or(NO_STORED_HASH);
    let matched = presented
        .iter()
        .filter(|token| is_token_shaped(token))
        .fold(subtle::Choice::from(0), |matched, token| {
            matched | hash_token(token).as_bytes().ct_eq(against.as_bytes())
        });
    stored_hash.is_some() && bool::from(matched)
}

/// Whether `presented` is the token whose hash is `stored_hash`, compared in
/// constant time.
pub fn token_matches(presented: &str, stored_hash: &str) -> bool {
    let presented_hash = hash_token(presented);
    presented_hash
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Tokens hashed on this thread, to see that a path hashes.
        pub(crate) static HASHED: Cell<usize> = const { Cell::new(0) };
    }

    fn hashes_during(work: impl FnOnce()) -> usize {
        let before = HASHED.with(Cell::get);
        work();
        HASHED.with(Cell::get) - before
    }

    #[test]
    fn an_unknown_reference_hashes_and_compares_as_a_wrong_token_does() {
        let stored = ManageToken::generate();
        let stored_hash = stored.hash();
        let guess = vec![ManageToken::generate().expose().to_string()];
        let mut outcomes = Vec::new();
        let known = hashes_during(|| outcomes.push(any_token_matches(&guess, Some(&stored_hash))));
        let unknown = hashes_during(|| outcomes.push(any_token_matches(&guess, None)));
        assert_eq!(outcomes, vec![false, false]);
        assert_eq!(known, 1);
        assert_eq!(unknown, known, "the unknown reference is hashed too");
        let right = vec![stored.expose().to_string()];
        assert!(any_token_matches(&right, Some(&stored.hash())));
        assert!(!any_token_matches(&right, None));
    }

    #[test]
    fn a_token_of_the_wrong_length_is_passed_over_unhashed() {
        let stored = ManageToken::generate();
        let stored_hash = stored.hash();
        let short = vec!["guess".to_string(), "x".repeat(44)];
        let hashed = hashes_during(|| assert!(!any_token_matches(&short, Some(&stored_hash))));
        assert_eq!(hashed, 0);
        assert!(is_token_shaped(stored.expose()));
        // A bearer header meant for another API beside the right token.
        let both = vec!["x".repeat(43), stored.expose().to_string()];
        assert!(any_token_matches(&both, Some(&stored.hash())));
    }

    #[test]
    fn a_token_matches_only_its_own_hash() {
        let token = ManageToken::generate();
        assert!(token.expose().len() >= 43);
        assert!(token_matches(token.expose(), &token.hash()));
        assert!(!token_matches("guess", &token.hash()));
        assert_ne!(token.expose(), ManageToken::generate().expose());
    }
}
