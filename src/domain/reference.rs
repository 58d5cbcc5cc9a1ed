//! Booking and inquiry references: short, unambiguous and easy to read over
//! the phone, such as `K7QM-3XWD`.

use rand::Rng;

/// Digits and capitals without the look-alikes 0/O and 1/I/L.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const LENGTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference(String);

impl Reference {
    /// A fresh random reference (about 40 bits; uniqueness is also enforced by
    /// the database, and a collision is retried).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let chars: String = (0..LENGTH)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        Reference(format!("{}-{}", &chars[..4], &chars[4..]))
    }

    /// Reads a reference as a person may type it: any case, with or without
    /// the hyphen or spaces.
    pub fn parse(raw: &str) -> Option<Self> {
        let chars: String = raw
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if chars.len() != LENGTH || !chars.bytes().all(|b| ALPHABET.contains(&b)) {
            return None;
        }
        Some(Reference(format!("{}-{}", &chars[..4], &chars[4..])))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_references_read_back_and_avoid_look_alikes() {
        for _ in 0..1000 {
            let reference = Reference::generate();
            assert_eq!(reference.as_str().len(), 9);
            assert!(!reference.as_str().contains(['0', 'O', '1', 'I', 'L']));
            assert_eq!(Reference::parse(reference.as_str()), Some(reference));
        }
    }

    #[test]
    fn references_are_read_leniently() {
        assert_eq!(Reference::parse("k7qm3xwd").unwrap().as_str(), "K7QM-3XWD");
        assert_eq!(
            Reference::parse(" K7QM 3XWD ").unwrap().as_str(),
            "K7QM-3XWD"
        );
        assert_eq!(Reference::parse("K7QM-3XW0"), None);
        assert_eq!(Reference::parse("K7QM"), None);
        assert_eq!(Reference::parse("../etc/passwd"), None);
    }
}
