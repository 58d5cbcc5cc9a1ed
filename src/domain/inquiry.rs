//! An inquiry from the website, parsed whole: every field checked, every
//! problem collected.

use super::booking::MAX_SOURCE_CHARS;
use super::fields::{body_limit_for, SHORT_FIELD_CHARS};
use super::{
    collect, parse_source, EmailAddress, FieldError, Fields, FreeText, PatientName, PhoneNumber,
};

/// What an inquiry is about; `general` when the sender does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InquiryCategory {
    General,
    Treatment,
    Reservation,
    Other,
}

impl InquiryCategory {
    pub const ALL: [InquiryCategory; 4] = [
        InquiryCategory::General,
        InquiryCategory::Treatment,
        InquiryCategory::Reservation,
        InquiryCategory::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InquiryCategory::General => "general",
            InquiryCategory::Treatment => "treatment",
            InquiryCategory::Reservation => "reservation",
            InquiryCategory::Other => "other",
        }
    }

    /// The category's name in the clinic's emails and forms.
    pub fn label(self) -> &'static str {
        match self {
            InquiryCategory::General => "一般的なお問い合わせ",
            InquiryCategory::Treatment => "治療について",
            InquiryCategory::Reservation => "ご予約について",
            InquiryCategory::Other => "その他",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|category| category.as_str() == raw)
    }
}

/// Where staff are with an inquiry: `received` when it arrives, then
/// `in_progress` and `closed`. Staff may move it to any of them (a closed
/// inquiry can be reopened when the sender writes again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InquiryStatus {
    Received,
    InProgress,
    Closed,
}

impl InquiryStatus {
    pub const ALL: [InquiryStatus; 3] = [
        InquiryStatus::Received,
        InquiryStatus::InProgress,
        InquiryStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InquiryStatus::Received => "received",
            InquiryStatus::InProgress => "in_progress",
            InquiryStatus::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }
}

/// The longest inquiry message accepted, in characters.
pub const MAX_INQUIRY_MESSAGE_CHARS: usize = 4000;

impl NewInquiry {
    /// The largest body a valid inquiry can take: every field at its
    /// longest, in any encoding (`body_limit_for`); the category and the
    /// consent as short fields.
    pub const MAX_BODY_BYTES: usize = body_limit_for(
        PatientName::MAX_CHARS
            + EmailAddress::MAX_CHARS
            + PhoneNumber::MAX_CHARS
            + MAX_INQUIRY_MESSAGE_CHARS
            + MAX_SOURCE_CHARS
            + 2 * SHORT_FIELD_CHARS,
    );
}

/// A valid inquiry with consent given.
#[derive(Debug, Clone)]
pub struct NewInquiry {
    pub name: PatientName,
    pub email: EmailAddress,
    pub phone: Option<PhoneNumber>,
    pub category: InquiryCategory,
    pub message: FreeText,
    pub source: Option<String>,
}

impl NewInquiry {
    pub fn parse(fields: &Fields) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = collect(&mut errors, fields.required("name", PatientName::parse));
        let email = collect(&mut errors, fields.required("email", EmailAddress::parse));
        let phone = collect(&mut errors, fields.optional("phone", PhoneNumber::parse));
        // Exactly a code, or nothing (absent, null or empty: a form's
        // unselected option); as the API description says.
        let category = collect(
            &mut errors,
            match fields.as_map().get("category") {
                None | Some(serde_json::Value::Null) => Ok(InquiryCategory::General),
                Some(serde_json::Value::String(raw)) if raw.is_empty() => {
                    Ok(InquiryCategory::General)
                }
                Some(serde_json::Value::String(raw)) => InquiryCategory::parse(raw)
                    .ok_or_else(|| FieldError::new("category", "invalid")),
                Some(_) => Err(FieldError::new("category", "invalid")),
            },
        );
        let message = collect(
            &mut errors,
            fields
                .required_text("message")
                .and_then(|raw| FreeText::parse("message", &raw, MAX_INQUIRY_MESSAGE_CHARS)),
        );
        let source = collect(&mut errors, parse_source(fields)).flatten();
        collect(&mut errors, fields.consent());
        match (name, email, phone, category, message) {
            (Some(name), Some(email), Some(phone), Some(category), Some(message))
                if errors.is_empty() =>
            {
                Ok(NewInquiry {
                    name,
                    email,
                    phone,
                    category,
                    message,
                    source,
                })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: serde_json::Value) -> Fields {
        Fields::from_json_object(value.as_object().unwrap().clone())
    }

    #[test]
    fn a_complete_inquiry_parses_with_the_default_category() {
        let inquiry = NewInquiry::parse(&fields(json!({
            "name": "問合 花子", "email": "hanako@example.jp",
            "message": "膝の治療について", "consent": true,
        })))
        .unwrap();
        assert_eq!(inquiry.category, InquiryCategory::General);
        assert!(inquiry.phone.is_none());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = NewInquiry::parse(&fields(json!({
            "email": "nope", "phone": "12", "category": "spam",
            "message": "あ".repeat(4001),
        })))
        .unwrap_err();
        let codes: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            vec![
                ("name", "required"),
                ("email", "invalid_email"),
                ("phone", "invalid_phone"),
                ("category", "invalid"),
                ("message", "too_long"),
                ("consent", "consent_required"),
            ]
        );
    }

    #[test]
    fn a_category_is_exactly_a_code_or_empty() {
        let parse = |category: serde_json::Value| {
            NewInquiry::parse(&fields(json!({
                "name": "問合 花子", "email": "hanako@example.jp",
                "message": "膝", "consent": true, "category": category,
            })))
            .map(|inquiry| inquiry.category)
        };
        assert_eq!(parse(json!("")).unwrap(), InquiryCategory::General);
        assert_eq!(parse(json!(null)).unwrap(), InquiryCategory::General);
        assert_eq!(parse(json!("other")).unwrap(), InquiryCategory::Other);
        assert!(parse(json!(" other")).is_err());
        assert!(parse(json!(" ")).is_err());
        assert!(parse(json!(1)).is_err());
    }
}
