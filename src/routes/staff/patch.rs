//! Reading staff PATCH bodies (bookings, and inquiries alike): only the
//! fields a resource names may appear, each is optional, and every problem
//! is collected so one answer reports them all. A field staff may not
//! change is refused (`unknown_field`), never silently ignored.

use crate::domain::{body_limit_for, FieldError, Fields, FreeText, SHORT_FIELD_CHARS};

pub const MAX_STAFF_NOTE_CHARS: usize = 2000;

/// The largest body a valid staff PATCH can take: the note at its longest
/// in any encoding, a status, a start and a practitioner.
pub const MAX_BODY_BYTES: usize = body_limit_for(MAX_STAFF_NOTE_CHARS + 3 * SHORT_FIELD_CHARS);

/// An `unknown_field` error for every field not in `allowed`.
pub fn unknown_fields(fields: &Fields, allowed: &[&str]) -> Vec<FieldError> {
    fields
        .names()
        .filter(|name| !allowed.contains(name))
        .map(|name| FieldError::new(name, "unknown_field"))
        .collect()
}

/// `status`, when present, read by `parse` (`invalid` when it knows no such
/// status; `required` when blank).
pub fn status<T>(
    fields: &Fields,
    errors: &mut Vec<FieldError>,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    if !fields.contains("status") {
        return None;
    }
    match fields.text("status") {
        Ok(Some(raw)) => parse(raw.trim()).or_else(|| {
            errors.push(FieldError::new("status", "invalid"));
            None
        }),
        Ok(None) => {
            errors.push(FieldError::new("status", "required"));
            None
        }
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

/// `staff_note`, when present: `Some(None)` (null or blank) clears it.
pub fn staff_note(fields: &Fields, errors: &mut Vec<FieldError>) -> Option<Option<String>> {
    if !fields.contains("staff_note") {
        return None;
    }
    match fields.text("staff_note") {
        Ok(None) => Some(None),
        Ok(Some(raw)) => match FreeText::parse("staff_note", &raw, MAX_STAFF_NOTE_CHARS) {
            Ok(note) => Some(Some(note.as_str().to_string())),
            Err(error) => {
                errors.push(error);
                None
            }
        },
        Err(error) => {
            errors.push(error);
            None
        }
    }
}
