//! Intake questionnaires (Web問診): the versioned files under
//! `content/questionnaires/`, built into the binary and checked at start,
//! and a patient's answers to one, parsed whole.
//!
//! A file is one version of one questionnaire for one consultation type
//! (`id`, `version`, `type`, `[[questions]]`). The newest version of a
//! type's questionnaire is the one asked; older ones stay so that answers
//! given under them can still be read with their own questions.

use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use super::{FieldError, Fields, FreeText};

/// `(file name, contents)` of every file in `content/questionnaires/`.
const SOURCES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/questionnaires.rs"));

/// The longest `max_length` a text question may set.
pub const MAX_TEXT_CHARS: usize = 2000;
/// A text question's `max_length` when its file sets none.
pub const DEFAULT_TEXT_CHARS: usize = 1000;
/// Every answer of one questionnaire together, in characters at most (what
/// a request body must have room for, beside the booking's own fields):
/// each question's field name and longest answer (a text question's
/// `max_length`, every box of a `choices` question ticked) must fit in it.
pub const MAX_ANSWERS_CHARS: usize = 1700;
/// The longest choice value.
const MAX_CHOICE_CHARS: usize = 60;
/// Characters counted for a yes/no, number or date answer.
const SHORT_ANSWER_CHARS: usize = 32;

/// What kind of answer a question takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// A string of at most `max_length` characters.
    Text,
    /// One of the `choices`' values.
    Choice,
    /// A list of the `choices`' values.
    Choices,
    /// `true` or `false`.
    YesNo,
    /// A number from `min` to `max`.
    Number,
    /// `YYYY-MM-DD`.
    Date,
}

impl QuestionKind {
    fn has_choices(self) -> bool {
        matches!(self, QuestionKind::Choice | QuestionKind::Choices)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerChoice {
    pub value: String,
    pub label: String,
    pub label_en: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub kind: QuestionKind,
    pub label: String,
    pub label_en: String,
    #[serde(default)]
    pub required: bool,
    /// Only for `choice` and `choices`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<AnswerChoice>,
    /// Only for `number`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "plain_number"
    )]
    #[schema(value_type = Option<f64>)]
    pub min: Option<f64>,
    /// Only for `number`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "plain_number"
    )]
    #[schema(value_type = Option<f64>)]
    pub max: Option<f64>,
    /// Only for `text`: characters at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
}

impl Question {
    pub fn choice(&self, value: &str) -> Option<&AnswerChoice> {
        self.choices.iter().find(|choice| choice.value == value)
    }

    /// The form field (and error field) of this question.
    pub fn field(&self) -> String {
        format!("answers.{}", self.id)
    }
}

/// `0` rather than `0.0` for a whole number.
fn plain_number<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
    match value.map(json_number) {
        Some(number) => number.serialize(serializer),
        None => serializer.serialize_none(),
    }
}

fn json_number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// One version of a consultation type's questionnaire.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Questionnaire {
    pub id: String,
    pub version: u32,
    /// The consultation type that asks it.
    #[serde(rename = "type", skip_serializing)]
    pub type_code: String,
    pub questions: Vec<Question>,
}

impl Questionnaire {
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|question| question.id == id)
    }

    /// The questions and the answers given to them, in the questionnaire's
    /// order, each written out for a person (choice labels, はい/いいえ).
    pub fn describe(&self, answers: &Map<String, Value>) -> Vec<AnsweredQuestion> {
        self.questions
            .iter()
            .map(|question| {
                let value = answers.get(&question.id);
                AnsweredQuestion {
                    id: question.id.clone(),
                    label: question.label.clone(),
                    label_en: question.label_en.clone(),
                    answer: value.map(|value| written_out(question, value)),
                }
            })
            .collect()
    }
}

/// A question with its answer written out (`None`: not answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsweredQuestion {
    pub id: String,
    pub label: String,
    pub label_en: String,
    pub answer: Option<String>,
}

fn written_out(question: &Question, value: &Value) -> String {
    let label = |raw: &str| {
        question
            .choice(raw)
            .map_or_else(|| raw.to_string(), |choice| choice.label.clone())
    };
    match value {
        Value::Bool(true) => "はい".to_string(),
        Value::Bool(false) => "いいえ".to_string(),
        Value::String(raw) if question.kind.has_choices() => label(raw),
        Value::String(text) => text.clone(),
        Value::Array(values) => values
            .iter()
            .map(|value| value.as_str().map_or_else(|| value.to_string(), label))
            .collect::<Vec<_>>()
            .join("、"),
        other => other.to_string(),
    }
}

/// Every questionnaire version built in.
#[derive(Debug)]
pub struct Catalogue {
    questionnaires: Vec<Questionnaire>,
}

impl Catalogue {
    /// The newest version of the questionnaire `type_code` asks, if any.
    pub fn current_for(&self, type_code: &str) -> Option<&Questionnaire> {
        self.questionnaires
            .iter()
            .filter(|questionnaire| questionnaire.type_code == type_code)
            .max_by_key(|questionnaire| questionnaire.version)
    }

    /// A given version, for answers stored under it.
    pub fn find(&self, id: &str, version: u32) -> Option<&Questionnaire> {
        self.questionnaires
            .iter()
            .find(|questionnaire| questionnaire.id == id && questionnaire.version == version)
    }

    /// Checks that every questionnaire names one of the clinic's
    /// consultation types.
    pub fn check_types<'a>(
        &self,
        codes: impl IntoIterator<Item = &'a str> + Clone,
    ) -> anyhow::Result<()> {
        for questionnaire in &self.questionnaires {
            if !codes
                .clone()
                .into_iter()
                .any(|code| code == questionnaire.type_code)
            {
                bail!(
                    "questionnaire {} version {}: type {:?} is not one of the consultation types (schedule.consultation_types)",
                    questionnaire.id,
                    questionnaire.version,
                    questionnaire.type_code
                );
            }
        }
        Ok(())
    }
}

static CATALOGUE: OnceLock<Result<Catalogue, String>> = OnceLock::new();

/// The built-in questionnaires. Start-up calls this first (and checks
/// their types), so a broken file stops the service at once with a clear
/// message instead of a 500 later.
pub fn catalogue() -> anyhow::Result<&'static Catalogue> {
    CATALOGUE
        .get_or_init(|| parse_all(SOURCES).map_err(|error| format!("{error:#}")))
        .as_ref()
        .map_err(|error| anyhow!("{error}"))
}

/// The questionnaire a booking of `type_code` asks now (none when the
/// type has none; start-up has made sure the files parse).
pub fn current_for(type_code: &str) -> Option<&'static Questionnaire> {
    catalogue().ok()?.current_for(type_code)
}

/// The questionnaire answers were given to, when it is still built in.
pub fn find(id: &str, version: u32) -> Option<&'static Questionnaire> {
    catalogue().ok()?.find(id, version)
}

/// A question of the newest version of any questionnaire, by id (for the
/// words of an error on `answers.<id>`).
pub fn question_anywhere(id: &str) -> Option<&'static Question> {
    let catalogue = catalogue().ok()?;
    let mut newest_first: Vec<&Questionnaire> = catalogue.questionnaires.iter().collect();
    newest_first.sort_by_key(|questionnaire| std::cmp::Reverse(questionnaire.version));
    newest_first
        .into_iter()
        .find_map(|questionnaire| questionnaire.question(id))
}

fn parse_all(sources: &[(&str, &str)]) -> anyhow::Result<Catalogue> {
    let mut questionnaires: Vec<Questionnaire> = Vec::new();
    for (file, text) in sources {
        let questionnaire =
            parse(text).with_context(|| format!("content/questionnaires/{file}"))?;
        for known in &questionnaires {
            if known.id == questionnaire.id && known.version == questionnaire.version {
                bail!(
                    "content/questionnaires/{file}: questionnaire {} version {} is defined twice",
                    questionnaire.id,
                    questionnaire.version
                );
            }
            if known.id == questionnaire.id && known.type_code != questionnaire.type_code {
                bail!(
                    "content/questionnaires/{file}: versions of questionnaire {} name different types ({} and {})",
                    questionnaire.id,
                    known.type_code,
                    questionnaire.type_code
                );
            }
            if known.id != questionnaire.id && known.type_code == questionnaire.type_code {
                bail!(
                    "content/questionnaires/{file}: type {} already has questionnaire {} (a type asks one; give a new version of it instead)",
                    questionnaire.type_code,
                    known.id
                );
            }
        }
        questionnaires.push(questionnaire);
    }
    Ok(Catalogue { questionnaires })
}

fn is_identifier(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Parses and checks one questionnaire file.
pub fn parse(text: &str) -> anyhow::Result<Questionnaire> {
    let mut questionnaire: Questionnaire = toml::from_str(text).context("invalid TOML")?;
    if !is_identifier(&questionnaire.id) {
        bail!("id {:?}: use a-z, 0-9, _ and -", questionnaire.id);
    }
    if questionnaire.version == 0 {
        bail!("version must be 1 or more");
    }
    if questionnaire.questions.is_empty() {
        bail!("a questionnaire needs at least one question");
    }
    let mut budget = 0;
    let mut seen: Vec<String> = Vec::new();
    for question in &mut questionnaire.questions {
        let id = question.id.clone();
        if !is_identifier(&id) {
            bail!("question id {id:?}: use a-z, 0-9, _ and -");
        }
        if seen.contains(&id) {
            bail!("question id {id:?} appears twice");
        }
        if question.label.trim().is_empty() || question.label_en.trim().is_empty() {
            bail!("question {id}: label and label_en are needed");
        }
        if question.kind.has_choices() {
            if question.choices.is_empty() {
                bail!(
                    "question {id}: a {:?} question needs choices",
                    question.kind
                );
            }
            for (at, choice) in question.choices.iter().enumerate() {
                if choice.value.trim().is_empty() || choice.value.chars().count() > MAX_CHOICE_CHARS
                {
                    bail!(
                        "question {id}: a choice value must be 1 to {MAX_CHOICE_CHARS} characters"
                    );
                }
                if question.choices[..at]
                    .iter()
                    .any(|c| c.value == choice.value)
                {
                    bail!("question {id}: choice {:?} appears twice", choice.value);
                }
                if choice.label.trim().is_empty() || choice.label_en.trim().is_empty() {
                    bail!(
                        "question {id}: choice {:?} needs label and label_en",
                        choice.value
                    );
                }
            }
        } else if !question.choices.is_empty() {
            bail!("question {id}: only choice and choices questions take choices");
        }
        let number = question.kind == QuestionKind::Number;
        if !number && (question.min.is_some() || question.max.is_some()) {
            bail!("question {id}: only number questions take min and max");
        }
        if number {
            match (question.min, question.max) {
                (Some(min), Some(max)) if min.is_finite() && max.is_finite() && min <= max => {}
                (Some(_), Some(_)) => bail!("question {id}: min must not be above max"),
                _ => bail!("question {id}: a number question needs min and max"),
            }
        }
        // The field's name (`answers.<id>=`) once, and once more for
        // every ticked box of a `choices` question (a form repeats it).
        let name = id.chars().count() + 10;
        if question.kind == QuestionKind::Text {
            let limit = question.max_length.unwrap_or(DEFAULT_TEXT_CHARS);
            if limit == 0 || limit > MAX_TEXT_CHARS {
                bail!("question {id}: max_length must be 1 to {MAX_TEXT_CHARS}");
            }
            question.max_length = Some(limit);
            budget += name + limit;
        } else if question.max_length.is_some() {
            bail!("question {id}: only text questions take max_length");
        } else if question.kind.has_choices() {
            let longest = |choice: &AnswerChoice| choice.value.chars().count() + 3;
            budget += if question.kind == QuestionKind::Choices {
                question
                    .choices
                    .iter()
                    .map(|c| name + longest(c))
                    .sum::<usize>()
            } else {
                name + question
                    .choices
                    .iter()
                    .map(longest)
                    .max()
                    .unwrap_or_default()
            };
        } else {
            budget += name + SHORT_ANSWER_CHARS;
        }
        seen.push(id);
    }
    if budget > MAX_ANSWERS_CHARS {
        bail!(
            "the answers may take {budget} characters together (field names included); at most {MAX_ANSWERS_CHARS} fit in a request: shorten max_length"
        );
    }
    if !is_identifier(&questionnaire.type_code) {
        bail!(
            "type {:?} is not a consultation type code",
            questionnaire.type_code
        );
    }
    Ok(questionnaire)
}

/// A patient's answers, checked against the questionnaire they answer:
/// values normalised (text trimmed, choices in the questionnaire's order,
/// dates as `YYYY-MM-DD`), questions left unanswered left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    pub questionnaire_id: String,
    pub version: u32,
    pub values: Map<String, Value>,
}

impl Answers {
    /// The answers as a JSON object, to store.
    pub fn to_json(&self) -> String {
        Value::Object(self.values.clone()).to_string()
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.trim().is_empty(),
        Value::Array(values) => values.iter().all(is_blank),
        _ => false,
    }
}

/// The answers of a request, if it gives any: `answers` as a JSON object
/// (`{"question_id": value}`), or form fields named `answers.<id>`.
///
/// Rules: answers are optional (without them the questionnaire stays to be
/// answered later); when given they are checked in full, required
/// questions included, and every problem is reported on `answers.<id>`
/// (`required`, `invalid_choice`, `too_long`, `out_of_range`, `invalid`
/// for a value of the wrong kind, `unknown_field` for a question the
/// questionnaire does not have). A form whose question fields are all left
/// blank gives no answers; form fields of questions another type asks are
/// not read (a page without JavaScript shows every type's questions).
pub fn parse_answers(
    fields: &Fields,
    questionnaire: Option<&Questionnaire>,
) -> Result<Option<Answers>, Vec<FieldError>> {
    let map = fields.as_map();
    match map.get("answers") {
        Some(Value::Object(given)) => match questionnaire {
            Some(questionnaire) => read(questionnaire, given, true).map(Some),
            None if given.is_empty() => Ok(None),
            None => Err(given
                .keys()
                .map(|id| FieldError::new(format!("answers.{id}"), "unknown_field"))
                .collect()),
        },
        Some(Value::Null) | None => {
            let Some(questionnaire) = questionnaire else {
                return Ok(None);
            };
            let given: Map<String, Value> = questionnaire
                .questions
                .iter()
                .filter_map(|question| {
                    map.get(&question.field())
                        .map(|value| (question.id.clone(), value.clone()))
                })
                .collect();
            if given.values().all(is_blank) {
                return Ok(None);
            }
            read(questionnaire, &given, false).map(Some)
        }
        Some(_) => Err(vec![FieldError::new("answers", "invalid")]),
    }
}

/// Answers that must be given (the patient answering through the manage
/// link): as `parse_answers`, but none at all is the `required` error of
/// every required question.
pub fn parse_required_answers(
    fields: &Fields,
    questionnaire: &Questionnaire,
) -> Result<Answers, Vec<FieldError>> {
    match parse_answers(fields, Some(questionnaire))? {
        Some(answers) => Ok(answers),
        None => read(questionnaire, &Map::new(), true),
    }
}

/// Checks `given` against `questionnaire`; `strict`: JSON values must have
/// their own types (a form sends strings).
fn read(
    questionnaire: &Questionnaire,
    given: &Map<String, Value>,
    strict: bool,
) -> Result<Answers, Vec<FieldError>> {
    let mut errors = Vec::new();
    for id in given.keys() {
        if questionnaire.question(id).is_none() {
            errors.push(FieldError::new(format!("answers.{id}"), "unknown_field"));
        }
    }
    let mut values = Map::new();
    for question in &questionnaire.questions {
        let raw = given.get(&question.id).filter(|value| !is_blank(value));
        match raw.map(|raw| answer(question, raw, strict)).transpose() {
            Ok(Some(value)) => {
                values.insert(question.id.clone(), value);
            }
            Ok(None) if question.required => {
                errors.push(FieldError::new(question.field(), "required"));
            }
            Ok(None) => {}
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(Answers {
            questionnaire_id: questionnaire.id.clone(),
            version: questionnaire.version,
            values,
        })
    } else {
        Err(errors)
    }
}

/// One answer, checked and normalised (`raw` is not blank).
fn answer(question: &Question, raw: &Value, strict: bool) -> Result<Value, FieldError> {
    let field = question.field();
    let invalid = || FieldError::new(question.field(), "invalid");
    match question.kind {
        QuestionKind::Text => {
            let text = raw.as_str().ok_or_else(invalid)?;
            let limit = question.max_length.unwrap_or(DEFAULT_TEXT_CHARS);
            let text = FreeText::parse(&field, text, limit)?;
            Ok(Value::String(text.as_str().to_string()))
        }
        QuestionKind::Choice => {
            let value = raw.as_str().ok_or_else(invalid)?.trim();
            question
                .choice(value)
                .map(|choice| Value::String(choice.value.clone()))
                .ok_or_else(|| FieldError::new(field, "invalid_choice"))
        }
        QuestionKind::Choices => {
            let picked: Vec<&str> = match raw {
                Value::Array(values) => values
                    .iter()
                    .filter(|value| !is_blank(value))
                    .map(|value| value.as_str().map(str::trim).ok_or_else(invalid))
                    .collect::<Result<_, _>>()?,
                Value::String(value) if !strict => vec![value.trim()],
                _ => return Err(invalid()),
            };
            if picked.iter().any(|value| question.choice(value).is_none()) {
                return Err(FieldError::new(field, "invalid_choice"));
            }
            Ok(Value::Array(
                question
                    .choices
                    .iter()
                    .filter(|choice| picked.contains(&choice.value.as_str()))
                    .map(|choice| Value::String(choice.value.clone()))
                    .collect(),
            ))
        }
        QuestionKind::YesNo => match raw {
            Value::Bool(yes) => Ok(Value::Bool(*yes)),
            Value::String(text) if !strict => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "off" | "0" => Ok(Value::Bool(false)),
                _ => Err(invalid()),
            },
            _ => Err(invalid()),
        },
        QuestionKind::Number => {
            let number = match raw {
                Value::Number(number) => number.as_f64().ok_or_else(invalid)?,
                Value::String(text) if !strict => {
                    let text: String = text.nfkc().collect();
                    text.trim().parse::<f64>().map_err(|_| invalid())?
                }
                _ => return Err(invalid()),
            };
            if !number.is_finite() {
                return Err(invalid());
            }
            let (min, max) = (
                question.min.unwrap_or(f64::MIN),
                question.max.unwrap_or(f64::MAX),
            );
            if number < min || number > max {
                return Err(FieldError::new(field, "out_of_range"));
            }
            Ok(json_number(number))
        }
        QuestionKind::Date => {
            let text = raw.as_str().ok_or_else(invalid)?.trim();
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid())?;
            Ok(Value::String(date.format("%Y-%m-%d").to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn knee() -> &'static Questionnaire {
        catalogue().unwrap().current_for("consultation").unwrap()
    }

    fn json_fields(value: Value) -> Fields {
        Fields::from_json_object(value.as_object().unwrap().clone())
    }

    fn complete() -> Value {
        json!({
            "side": "left", "location": ["inner", "front"], "since": "1_to_3_years",
            "pain_score": 6, "anticoagulants": false,
        })
    }

    fn codes(errors: Vec<FieldError>) -> Vec<(String, &'static str)> {
        errors.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn the_built_in_questionnaires_parse_and_the_knee_one_asks_every_kind() {
        let catalogue = catalogue().unwrap();
        catalogue
            .check_types(["consultation", "stem-cell"])
            .unwrap();
        let knee = knee();
        for kind in [
            QuestionKind::Text,
            QuestionKind::Choice,
            QuestionKind::Choices,
            QuestionKind::YesNo,
            QuestionKind::Number,
            QuestionKind::Date,
        ] {
            assert!(knee.questions.iter().any(|q| q.kind == kind), "{kind:?}");
        }
        assert!(catalogue.current_for("stem-cell").is_none());
    }

    #[test]
    fn answers_too_long_for_a_request_are_refused() {
        let long = format!(
            "{HEAD}[[questions]]\nid = \"a\"\nkind = \"text\"\nlabel = \"a\"\nlabel_en = \"a\"\nmax_length = 1000\n[[questions]]\nid = \"b\"\nkind = \"text\"\nlabel = \"b\"\nlabel_en = \"b\"\nmax_length = 1000\n"
        );
        assert!(
            broken(&long).contains("at most 1700 fit"),
            "{}",
            broken(&long)
        );
    }

    #[test]
    fn a_type_the_clinic_does_not_offer_stops_start_up() {
        let error = catalogue().unwrap().check_types(["stem-cell"]).unwrap_err();
        assert!(error.to_string().contains("\"consultation\""), "{error}");
    }

    #[test]
    fn complete_answers_are_normalised() {
        let answers = parse_answers(&json_fields(json!({"answers": complete()})), Some(knee()))
            .unwrap()
            .unwrap();
        assert_eq!(answers.questionnaire_id, "knee-intake");
        assert_eq!(answers.values["location"], json!(["front", "inner"]));
        assert_eq!(answers.values["pain_score"], json!(6));
        assert!(!answers.values.contains_key("allergies"));
    }

    #[test]
    fn no_answers_leave_the_questionnaire_pending() {
        assert_eq!(
            parse_answers(&json_fields(json!({})), Some(knee())),
            Ok(None)
        );
        assert_eq!(
            parse_answers(&json_fields(json!({"answers": null})), Some(knee())),
            Ok(None)
        );
        let blank_form = Fields::from_form_pairs(vec![
            ("answers.pain_score".into(), "".into()),
            ("answers.notes".into(), " ".into()),
        ]);
        assert_eq!(parse_answers(&blank_form, Some(knee())), Ok(None));
    }

    #[test]
    fn every_problem_is_reported_on_its_question() {
        let errors = parse_answers(
            &json_fields(json!({"answers": {
                "side": "middle", "location": ["front", "top"], "pain_score": 11,
                "anticoagulants": "yes", "onset_date": "2026-02-30",
                "allergies": "あ".repeat(201), "shoe_size": 26,
            }})),
            Some(knee()),
        )
        .unwrap_err();
        assert_eq!(
            codes(errors),
            vec![
                ("answers.shoe_size".to_string(), "unknown_field"),
                ("answers.side".to_string(), "invalid_choice"),
                ("answers.location".to_string(), "invalid_choice"),
                ("answers.since".to_string(), "required"),
                ("answers.onset_date".to_string(), "invalid"),
                ("answers.pain_score".to_string(), "out_of_range"),
                ("answers.anticoagulants".to_string(), "invalid"),
                ("answers.allergies".to_string(), "too_long"),
            ]
        );
    }

    #[test]
    fn form_fields_read_as_strings_and_repeated_boxes() {
        let form = Fields::from_form_pairs(vec![
            ("answers.side".into(), "both".into()),
            ("answers.location".into(), "back".into()),
            ("answers.location".into(), "outer".into()),
            ("answers.since".into(), "under_1_month".into()),
            ("answers.pain_score".into(), "３".into()),
            ("answers.anticoagulants".into(), "yes".into()),
            ("answers.onset_date".into(), "2026-11-01".into()),
        ]);
        let answers = parse_answers(&form, Some(knee())).unwrap().unwrap();
        assert_eq!(answers.values["location"], json!(["outer", "back"]));
        assert_eq!(answers.values["pain_score"], json!(3));
        assert_eq!(answers.values["anticoagulants"], json!(true));
    }

    #[test]
    fn answers_for_a_type_without_a_questionnaire_are_unknown() {
        let errors =
            parse_answers(&json_fields(json!({"answers": {"side": "left"}})), None).unwrap_err();
        assert_eq!(
            codes(errors),
            vec![("answers.side".to_string(), "unknown_field")]
        );
        assert_eq!(
            parse_answers(&json_fields(json!({"answers": {}})), None),
            Ok(None)
        );
        assert_eq!(
            codes(parse_answers(&json_fields(json!({"answers": [1]})), Some(knee())).unwrap_err()),
            vec![("answers".to_string(), "invalid")]
        );
    }

    fn broken(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    const HEAD: &str = "id = \"q\"\nversion = 1\ntype = \"consultation\"\n";

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let cases = [
            ("[[questions]]\nid = \"a\"\nkind = \"slider\"\nlabel = \"a\"\nlabel_en = \"a\"\n", "unknown variant"),
            ("[[questions]]\nid = \"a\"\nkind = \"text\"\nlabel = \"a\"\nlabel_en = \"a\"\n[[questions]]\nid = \"a\"\nkind = \"text\"\nlabel = \"b\"\nlabel_en = \"b\"\n", "appears twice"),
            ("[[questions]]\nid = \"a\"\nkind = \"number\"\nlabel = \"a\"\nlabel_en = \"a\"\nmin = 10\nmax = 0\n", "min must not be above max"),
            ("[[questions]]\nid = \"a\"\nkind = \"number\"\nlabel = \"a\"\nlabel_en = \"a\"\n", "needs min and max"),
            ("[[questions]]\nid = \"a\"\nkind = \"text\"\nlabel = \"a\"\nlabel_en = \"a\"\nmax_length = 0\n", "max_length must be"),
            ("[[questions]]\nid = \"a\"\nkind = \"choice\"\nlabel = \"a\"\nlabel_en = \"a\"\n", "needs choices"),
            ("[[questions]]\nid = \"a\"\nkind = \"text\"\nlabel = \"a\"\nlabel_en = \"a\"\nmin = 1\nmax = 2\n", "only number questions"),
            ("[[questions]]\nid = \"a\"\nkind = \"yes_no\"\nlabel = \"a\"\nlabel_en = \"a\"\nhint = \"x\"\n", "unknown field"),
        ];
        for (questions, reason) in cases {
            let message = broken(&format!("{HEAD}{questions}"));
            assert!(message.contains(reason), "{reason}: {message}");
        }
    }

    #[test]
    fn two_files_of_one_version_are_refused() {
        let file = format!(
            "{HEAD}[[questions]]\nid = \"a\"\nkind = \"yes_no\"\nlabel = \"a\"\nlabel_en = \"a\"\n"
        );
        let error = parse_all(&[("a.toml", &file), ("b.toml", &file)]).unwrap_err();
        assert!(error.to_string().contains("defined twice"), "{error}");
        let newer = file.replace("version = 1", "version = 2");
        let catalogue = parse_all(&[("a.toml", &file), ("b.toml", &newer)]).unwrap();
        assert_eq!(catalogue.current_for("consultation").unwrap().version, 2);
        assert_eq!(catalogue.find("q", 1).unwrap().version, 1);
    }

    #[test]
    fn the_clinic_shape_leaves_out_what_does_not_apply() {
        let shown = serde_json::to_value(knee()).unwrap();
        assert_eq!(shown["id"], "knee-intake");
        assert!(shown.get("type").is_none());
        let pain = shown["questions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["id"] == "pain_score")
            .unwrap();
        assert_eq!(pain["min"], json!(0));
        assert_eq!(pain["max"], json!(10));
        assert!(pain.get("choices").is_none());
        assert!(pain.get("max_length").is_none());
    }
}
