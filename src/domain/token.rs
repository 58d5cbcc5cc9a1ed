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
    hex::encode(Sha256::digest(token.as_bytes()))
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
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_only_its_own_hash() {
        let token = ManageToken::generate();
        assert!(token.expose().len() >= 43);
        assert!(token_matches(token.expose(), &token.hash()));
        assert!(!token_matches("guess", &token.hash()));
        assert_ne!(token.expose(), ManageToken::generate().expose());
    }
}
