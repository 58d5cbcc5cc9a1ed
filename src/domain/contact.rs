//! How a patient or an inquirer is reached: name, kana, email, phone, and
//! the free text they write to the clinic.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use validator::ValidateEmail;

use super::FieldError;

/// Trims ASCII and ideographic (full-width) spaces alike.
fn trimmed(raw: &str) -> &str {
    raw.trim_matches(|c: char| c.is_whitespace())
}

/// Characters refused in what people write to the clinic: bidirectional
/// embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) make
/// text display in another order than it is stored, so a name or message
/// could read one way to staff and mean another; invisible characters
/// (U+200B, U+FEFF) make two different texts look the same. ZWJ and ZWNJ
/// stay allowed: emoji sequences and some scripts need them.
fn is_hidden_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}' | '\u{FEFF}'
    )
}

/// `invalid_characters` when `raw` holds a character `is_hidden_control`
/// refuses.
fn refuse_hidden_controls(field: &str, raw: &str) -> Result<(), FieldError> {
    if raw.chars().any(is_hidden_control) {
        return Err(FieldError::new(field, "invalid_characters"));
    }
    Ok(())
}

/// A person's name: trimmed, 1 to 100 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientName(String);

impl PatientName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        refuse_hidden_controls(field, raw)?;
        // NFC, not NFKC: compatibility ideographs are how some people write
        // their names, and must survive as entered.
        let name: String = trimmed(raw).nfc().collect();
        if name.is_empty() {
            return Err(FieldError::new(field, "required"));
        }
        // The limit holds for what was sent too, as the API describes it.
        if name.chars().count() > Self::MAX_CHARS || raw.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(field, "too_long"));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new(field, "invalid"));
        }
        Ok(PatientName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The reading of a name in katakana or hiragana (half-width katakana is
/// accepted and stored full-width).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameKana(String);

impl NameKana {
    /// Characters a reading may be sent as: half-width katakana with
    /// voiced marks takes two characters where the stored reading takes
    /// one (`ﾀﾞ` is `ダ`).
    pub const MAX_SENT_CHARS: usize = 2 * PatientName::MAX_CHARS;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        refuse_hidden_controls(field, raw)?;
        let kana: String = trimmed(raw).nfkc().collect();
        if kana.chars().count() > PatientName::MAX_CHARS {
            return Err(FieldError::new(field, "too_long"));
        }
        let is_kana = |c: char| {
            matches!(c,
                '\u{3041}'..='\u{3096}' // hiragana
                | '\u{309D}'..='\u{309F}' // ゝゞゟ
                | '\u{30A1}'..='\u{30FA}' // katakana
                | '\u{30FB}'..='\u{30FF}' // ・ー ヽヾ
                | ' ' | '\u{3000}')
        };
        if kana.is_empty() || !kana.chars().all(is_kana) {
            return Err(FieldError::new(field, "invalid_kana"));
        }
        Ok(NameKana(kana))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, as typed but for full-width characters (which Japanese
/// input methods produce easily) and a lower-cased domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The longest address accepted (RFC 5321's path limit, less brackets).
    pub const MAX_CHARS: usize = 254;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let email: String = trimmed(raw).nfkc().collect();
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(FieldError::new(field, "invalid_email"));
        };
        let email = format!("{local}@{}", domain.to_ascii_lowercase());
        if email.len() > Self::MAX_CHARS
            || !email.validate_email()
            || email.chars().any(char::is_control)
        {
            return Err(FieldError::new(field, "invalid_email"));
        }
        Ok(EmailAddress(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key its mailbox is counted by (see `mailbox_key`).
    pub fn mailbox_key(&self) -> String {
        mailbox_key(&self.0)
    }
}

/// The mailbox an address delivers to, as far as counting is concerned:
/// lower case, without a `+tag` (`taro+1@example.jp` is `taro@example.jp`),
/// and for Gmail without dots in the local part (`t.aro@gmail.com` and
/// `taro@googlemail.com` are `taro@gmail.com`). Used wherever the service
/// limits what one person may do (the cap on active bookings, the mail
/// cap per recipient), so that spelling one mailbox many ways does not
/// multiply the limit. Never used to send mail.
pub fn normalised_mailbox(address: &str) -> String {
    let address: String = trimmed(address).nfkc().collect::<String>().to_lowercase();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return address;
    };
    let local = match local.split_once('+') {
        Some((mailbox, _tag)) if !mailbox.is_empty() => mailbox,
        _ => local,
    };
    match domain {
        "gmail.com" | "googlemail.com" => format!("{}@gmail.com", local.replace('.', "")),
        _ => format!("{local}@{domain}"),
    }
}

/// What is stored to count by mailbox: the hex SHA-256 of
/// `normalised_mailbox` (fixed length for its index; the address itself is
/// stored beside it anyway, and both are erased together).
pub fn mailbox_key(address: &str) -> String {
    hex::encode(Sha256::digest(
        format!("mailbox:{}", normalised_mailbox(address)).as_bytes(),
    ))
}

/// A Japanese phone number, always stored hyphenated: `03-3289-0202`,
/// `090-1234-5678`, `0120-123-456`. Full-width digits, any kind of dash,
/// spaces, brackets and a `+81` prefix are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Characters accepted as typed (digits and separators): as the API
    /// description says.
    pub const MAX_CHARS: usize = 40;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        Some(raw)
            .filter(|raw| raw.chars().count() <= Self::MAX_CHARS)
            .and_then(Self::normalise)
            .map(PhoneNumber)
            .ok_or_else(|| FieldError::new(field, "invalid_phone"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn normalise(raw: &str) -> Option<String> {
        let text: String = trimmed(raw).nfkc().collect();
        let mut cleaned = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '0'..='9' | '+' => cleaned.push(c),
                '-' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | 'ー' | ' ' | '(' | ')' | '.' => {
                    cleaned.push('-')
                }
                _ => return None,
            }
        }
        let mut groups: Vec<String> = cleaned
            .split('-')
            .filter(|group| !group.is_empty())
            .map(str::to_string)
            .collect();
        let first = groups.first()?.clone();
        if let Some(rest) = first.strip_prefix('+') {
            let national = rest.strip_prefix("81")?;
            groups.remove(0);
            if !national.is_empty() {
                groups.insert(0, national.to_string());
            }
            let lead = groups.first_mut()?;
            if !lead.starts_with('0') {
                lead.insert(0, '0');
            }
        }
        if groups
            .iter()
            .any(|group| !group.chars().all(|c| c.is_ascii_digit()))
        {
            return None;
        }
        let digits: String = groups.concat();
        if !Self::is_japanese_number(&digits) {
            return None;
        }
        let as_typed = groups.len() == 3 && (2..=5).contains(&groups[0].len());
        Some(if as_typed {
            groups.join("-")
        } else {
            Self::hyphenate(&digits)
        })
    }

    fn is_japanese_number(digits: &str) -> bool {
        let bytes = digits.as_bytes();
        if bytes.first() != Some(&b'0') {
            return false;
        }
        match digits.len() {
            // Fixed lines (0X-XXXX-XXXX and longer area codes) and 0120.
            10 => bytes[1] != b'0',
            // Mobiles, IP phones, 0800 free dial.
            11 => {
                ["020", "050", "060", "070", "080", "090"]
                    .iter()
                    .any(|prefix| digits.starts_with(prefix))
                    || digits.starts_with("0800")
            }
            _ => false,
        }
    }

    fn hyphenate(digits: &str) -> String {
        let split = |sizes: [usize; 2]| {
            let (a, rest) = digits.split_at(sizes[0]);
            let (b, c) = rest.split_at(sizes[1]);
            format!("{a}-{b}-{c}")
        };
        match digits.len() {
            11 if digits.starts_with("0800") => split([4, 3]),
            11 => split([3, 4]),
            _ if digits.starts_with("0120") => split([4, 3]),
            _ if digits.starts_with("03") || digits.starts_with("06") => split([2, 4]),
            _ => split([3, 3]),
        }
    }
}

/// Free text a person writes to the clinic: line endings unified, other
/// control characters dropped, at most `max_chars` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeText(String);

impl FreeText {
    pub fn parse(field: &str, raw: &str, max_chars: usize) -> Result<Self, FieldError> {
        refuse_hidden_controls(field, raw)?;
        let text: String = raw
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .nfc()
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
            .collect();
        let text = trimmed(&text).to_string();
        if text.is_empty() {
            return Err(FieldError::new(field, "required"));
        }
        // The limit holds for what was sent too (a form's CRLF line break
        // counting as one), not only for what remains after tidying.
        let sent = raw.chars().count() - raw.matches("\r\n").count();
        if text.chars().count() > max_chars || sent > max_chars {
            return Err(FieldError::new(field, "too_long"));
        }
        Ok(FreeText(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn phone(raw: &str) -> Option<String> {
        PhoneNumber::parse("phone", raw).ok().map(|p| p.0)
    }

    #[test]
    fn full_width_digits_and_dashes_are_normalised() {
        assert_eq!(
            phone("０３−３２８９−０２０２").as_deref(),
            Some("03-3289-0202")
        );
        assert_eq!(
            phone("０３ー３２８９ー０２０２").as_deref(),
            Some("03-3289-0202")
        );
        assert_eq!(phone("03-3289-0202").as_deref(), Some("03-3289-0202"));
    }

    #[test]
    fn numbers_without_hyphens_are_grouped() {
        assert_eq!(phone("0332890202").as_deref(), Some("03-3289-0202"));
        assert_eq!(phone("09012345678").as_deref(), Some("090-1234-5678"));
        assert_eq!(phone("0120123456").as_deref(), Some("0120-123-456"));
        assert_eq!(phone("0451234567").as_deref(), Some("045-123-4567"));
        assert_eq!(phone("08001234567").as_deref(), Some("0800-123-4567"));
    }

    #[test]
    fn the_country_code_becomes_a_leading_zero() {
        assert_eq!(phone("+81-3-3289-0202").as_deref(), Some("03-3289-0202"));
        assert_eq!(phone("+81 90 1234 5678").as_deref(), Some("090-1234-5678"));
        assert_eq!(phone("+819012345678").as_deref(), Some("090-1234-5678"));
        assert_eq!(phone("(03) 3289-0202").as_deref(), Some("03-3289-0202"));
    }

    #[test]
    fn a_number_padded_past_forty_characters_is_invalid() {
        let padded = format!("03-3289-0202{}", " ".repeat(40));
        assert_eq!(phone(&padded), None);
    }

    #[test]
    fn foreign_short_or_lettered_numbers_are_invalid() {
        for raw in [
            "+1-212-555-0100",
            "12345",
            "03-3289-020",
            "abc",
            "03-3289-0202 ext 5",
            "0000000000",
            "",
        ] {
            assert_eq!(phone(raw), None, "{raw}");
        }
    }

    #[test]
    fn names_are_trimmed_and_kept_to_one_line() {
        assert_eq!(
            PatientName::parse("name", "　山田 太郎 ").unwrap().as_str(),
            "山田 太郎"
        );
        assert_eq!(
            PatientName::parse("name", "山田\r\nBcc: x@example.com")
                .unwrap_err()
                .code,
            "invalid"
        );
        assert_eq!(
            PatientName::parse("name", &"あ".repeat(101))
                .unwrap_err()
                .code,
            "too_long"
        );
        assert_eq!(
            PatientName::parse("name", "   ").unwrap_err().code,
            "required"
        );
    }

    #[test]
    fn kana_may_be_katakana_hiragana_or_half_width() {
        assert_eq!(
            NameKana::parse("name_kana", "ヤマダ タロウ")
                .unwrap()
                .as_str(),
            "ヤマダ タロウ"
        );
        assert_eq!(
            NameKana::parse("name_kana", "やまだ たろう")
                .unwrap()
                .as_str(),
            "やまだ たろう"
        );
        assert_eq!(
            NameKana::parse("name_kana", "ﾔﾏﾀﾞ ﾀﾛｳ").unwrap().as_str(),
            "ヤマダ タロウ"
        );
        assert_eq!(
            NameKana::parse("name_kana", "山田").unwrap_err().code,
            "invalid_kana"
        );
    }

    #[test]
    fn emails_accept_full_width_input_and_reject_nonsense() {
        assert_eq!(
            EmailAddress::parse("email", "ｔａｒｏ＠Example.JP")
                .unwrap()
                .as_str(),
            "taro@example.jp"
        );
        for raw in [
            "taro",
            "taro@",
            "@example.jp",
            "a b@example.jp",
            "taro@example.jp\r\nBcc: x@y.z",
        ] {
            assert_eq!(
                EmailAddress::parse("email", raw).unwrap_err().code,
                "invalid_email",
                "{raw}"
            );
        }
    }

    #[test]
    fn free_text_has_a_length_limit_counted_in_characters() {
        assert!(FreeText::parse("message", &"膝".repeat(2000), 2000).is_ok());
        assert_eq!(
            FreeText::parse("message", &"膝".repeat(2001), 2000)
                .unwrap_err()
                .code,
            "too_long"
        );
        assert_eq!(
            FreeText::parse("message", "a\r\nb\u{7}", 2000)
                .unwrap()
                .as_str(),
            "a\nb"
        );
    }

    proptest! {
        #[test]
        fn a_normalised_phone_number_parses_to_itself(digits in "0[1-9][0-9]{8}") {
            let once = phone(&digits).unwrap();
            prop_assert_eq!(phone(&once), Some(once.clone()));
            prop_assert_eq!(once.replace('-', ""), digits);
        }

        #[test]
        fn phone_parsing_never_panics(raw in "\\PC{0,40}") {
            let _ = phone(&raw);
        }
    }

    #[test]
    fn bidi_controls_and_invisible_characters_are_refused_in_names_and_free_text() {
        let hidden = [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200B}', '\u{FEFF}',
        ];
        for c in hidden {
            let code = |result: Result<(), FieldError>| result.unwrap_err().code;
            assert_eq!(
                code(PatientName::parse("name", &format!("山田{c}太郎")).map(drop)),
                "invalid_characters",
                "{c:?}"
            );
            assert_eq!(
                code(NameKana::parse("name_kana", &format!("ヤマダ{c}")).map(drop)),
                "invalid_characters",
                "{c:?}"
            );
            assert_eq!(
                code(FreeText::parse("message", &format!("膝が{c}痛い"), 2000).map(drop)),
                "invalid_characters",
                "{c:?}"
            );
            assert_eq!(
                code(FreeText::parse("staff_note", &format!("{c}電話済み"), 2000).map(drop)),
                "invalid_characters",
                "{c:?}"
            );
        }
    }

    #[test]
    fn zero_width_joiners_stay_allowed() {
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(
            FreeText::parse("message", family, 2000).unwrap().as_str(),
            family
        );
        let name = "Ra\u{200C}hel";
        assert_eq!(PatientName::parse("name", name).unwrap().as_str(), name);
    }

    #[test]
    fn one_mailbox_spelled_many_ways_normalises_to_one() {
        for spelling in [
            "taro@example.jp",
            "Taro@Example.JP",
            "taro+clinic@example.jp",
            "TARO+a+b@example.jp",
            " ｔａｒｏ＠example.jp ",
        ] {
            assert_eq!(
                normalised_mailbox(spelling),
                "taro@example.jp",
                "{spelling}"
            );
            assert_eq!(mailbox_key(spelling), mailbox_key("taro@example.jp"));
        }
        for spelling in [
            "t.a.r.o@gmail.com",
            "Taro+x@googlemail.com",
            "ta.ro@GMAIL.com",
        ] {
            assert_eq!(normalised_mailbox(spelling), "taro@gmail.com", "{spelling}");
        }
        // Dots matter outside Gmail; other mailboxes stay apart.
        assert_eq!(normalised_mailbox("t.aro@example.jp"), "t.aro@example.jp");
        assert_ne!(
            mailbox_key("jiro@example.jp"),
            mailbox_key("taro@example.jp")
        );
        assert_ne!(
            mailbox_key("taro@example.com"),
            mailbox_key("taro@example.jp")
        );
        // A local part that is all tag is kept whole rather than emptied.
        assert_eq!(normalised_mailbox("+x@example.jp"), "+x@example.jp");
        let parsed = EmailAddress::parse("email", "Taro+1@Example.jp").unwrap();
        assert_eq!(parsed.mailbox_key(), mailbox_key("taro@example.jp"));
    }

    #[test]
    fn the_length_limit_counts_what_was_sent_but_a_crlf_as_one() {
        let padded = format!("{}  ", "あ".repeat(10));
        assert_eq!(
            FreeText::parse("message", &padded, 10),
            Err(FieldError::new("message", "too_long"))
        );
        let lines = "あ\r\nい\r\nう";
        assert!(FreeText::parse("message", lines, 5).is_ok());
        let name = format!("{} ", "山".repeat(PatientName::MAX_CHARS));
        assert_eq!(
            PatientName::parse("name", &name),
            Err(FieldError::new("name", "too_long"))
        );
    }
}
