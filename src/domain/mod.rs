//! Domain types that parse instead of validate: once a value has one of these
//! types, nothing downstream checks it again.

mod booking;
mod closure;
mod contact;
mod fields;
mod inquiry;
pub mod questionnaire;
mod reference;
mod token;
mod waitlist;

pub use booking::{
    consultation_type, parse_source, Booker, BookingStatus, NewBooking, SlotStart,
    MAX_MESSAGE_CHARS,
};
pub use closure::{clinic_date, ClosureRequest};
pub use contact::{
    mailbox_key, normalised_mailbox, EmailAddress, FreeText, NameKana, PatientName, PhoneNumber,
};
pub use fields::{body_limit_for, Fields, SHORT_FIELD_CHARS};
pub use inquiry::{InquiryCategory, InquiryStatus, NewInquiry, MAX_INQUIRY_MESSAGE_CHARS};
pub use reference::Reference;
pub use token::{any_token_matches, hash_token, is_token_shaped, token_matches, ManageToken};
pub use waitlist::{NewWaitlistEntry, WaitlistStatus};

/// One invalid field: which, and a stable machine-readable code. The words a
/// person reads are chosen from the code when the response is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str) -> Self {
        FieldError {
            field: field.into(),
            code,
        }
    }
}

/// Collects the outcome of parsing one field, remembering the error so that
/// every invalid field is reported at once.
pub(crate) fn collect<T>(errors: &mut Vec<FieldError>, result: Result<T, FieldError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}
