//! The fields of a submitted body, whether it came as JSON or as an HTML
//! form, read leniently so that every field's problem can be reported.

use serde_json::{Map, Value};

use super::FieldError;

/// The most bytes one character can take in a request body: a four-byte
/// UTF-8 character percent-encoded in a form (`%F0%9F%98%80`), or written
/// as a JSON surrogate pair (`\ud83d\ude00`). A kanji takes 9 in a form.
pub const MAX_BODY_BYTES_PER_CHAR: usize = 12;

/// Room in a body beyond its fields' characters: names, separators and
/// punctuation, a form's hidden fields (its token, the honeypot) and a few
/// fields a client adds that nobody reads.
pub const BODY_OVERHEAD_BYTES: usize = 4 * 1024;

/// Characters allowed for a short field (a start, a type code, a flag).
pub const SHORT_FIELD_CHARS: usize = 100;

/// The largest body a request whose fields hold at most `chars` characters
/// in all may take, however it is encoded: what a body limit must allow
/// so that input within the documented field limits is never refused for
/// its size.
pub const fn body_limit_for(chars: usize) -> usize {
    chars * MAX_BODY_BYTES_PER_CHAR + BODY_OVERHEAD_BYTES
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Map<String, Value>);

impl Fields {
    pub fn from_json_object(map: Map<String, Value>) -> Self {
        Fields(map)
    }

    /// Form fields arrive as strings; a repeated name keeps its last value,
    /// but for a questionnaire's answers (`answers.<id>`), where repeated
    /// names are the ticked boxes of one question, which become a list.
    pub fn from_form_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut fields = Map::new();
        for (name, value) in pairs {
            let value = Value::String(value);
            match fields.get_mut(&name) {
                Some(Value::Array(values)) => values.push(value),
                Some(earlier) if name.starts_with("answers.") => {
                    *earlier = Value::Array(vec![earlier.take(), value]);
                }
                _ => {
                    fields.insert(name, value);
                }
            }
        }
        Fields(fields)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A text field: `None` when absent, null or blank.
    pub fn text(&self, name: &str) -> Result<Option<String>, FieldError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(FieldError::new(name, "invalid")),
        }
    }

    /// A text field that must be present.
    pub fn required_text(&self, name: &str) -> Result<String, FieldError> {
        self.text(name)?
            .ok_or_else(|| FieldError::new(name, "required"))
    }

    /// A required field, read by `parse` (which gets the field's name for
    /// its error).
    pub fn required<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str, &str) -> Result<T, FieldError>,
    ) -> Result<T, FieldError> {
        self.required_text(name).and_then(|raw| parse(name, &raw))
    }

    /// An optional field, read by `parse` when it is given.
    pub fn optional<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str, &str) -> Result<T, FieldError>,
    ) -> Result<Option<T>, FieldError> {
        self.text(name)?.map(|raw| parse(name, &raw)).transpose()
    }

    /// The `consent` box: given only when ticked (`true`).
    pub fn consent(&self) -> Result<(), FieldError> {
        match self.flag("consent")? {
            Some(true) => Ok(()),
            _ => Err(FieldError::new("consent", "consent_required")),
        }
    }

    /// A yes/no field: JSON booleans, or the strings an HTML form sends
    /// (`on` for a ticked checkbox, `true`/`false`, `1`/`0`).
    pub fn flag(&self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "" => Ok(None),
                "true" | "on" | "1" | "yes" => Ok(Some(true)),
                "false" | "off" | "0" | "no" => Ok(Some(false)),
                _ => Err(FieldError::new(name, "invalid")),
            },
            Some(_) => Err(FieldError::new(name, "invalid")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn form_checkboxes_and_json_booleans_read_alike() {
        let form = Fields::from_form_pairs(vec![("consent".into(), "on".into())]);
        let json = Fields::from_json_object(json!({"consent": true}).as_object().unwrap().clone());
        assert_eq!(form.flag("consent"), Ok(Some(true)));
        assert_eq!(json.flag("consent"), Ok(Some(true)));
        assert_eq!(form.flag("first_visit"), Ok(None));
    }

    #[test]
    fn the_widest_character_fits_its_byte_budget_in_both_encodings() {
        let widest = "\u{1F600}";
        let form = serde_urlencoded::to_string([("m", widest)]).unwrap();
        assert_eq!(form.len() - "m=".len(), MAX_BODY_BYTES_PER_CHAR);
        let kanji = serde_urlencoded::to_string([("m", "膝")]).unwrap();
        assert_eq!(kanji.len() - "m=".len(), 9);
        assert_eq!("\\ud83d\\ude00".len(), MAX_BODY_BYTES_PER_CHAR);
    }

    #[test]
    fn a_number_where_text_belongs_is_invalid() {
        let json = Fields::from_json_object(json!({"name": 12}).as_object().unwrap().clone());
        assert_eq!(json.text("name"), Err(FieldError::new("name", "invalid")));
        assert_eq!(
            json.required_text("email"),
            Err(FieldError::new("email", "required"))
        );
    }
}
