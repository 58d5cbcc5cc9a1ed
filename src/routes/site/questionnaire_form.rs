//! The intake questionnaire as form fields (`answers.<id>`), shared by the
//! reservation form and the manage page's questionnaire page
//! (`templates/_questionnaire.html`): each question with what was typed or
//! stored, so a form that comes back keeps every answer.

use serde_json::{Map, Value};

use crate::domain::questionnaire::{QuestionKind, Questionnaire};
use crate::domain::Fields;

#[derive(Debug, Clone)]
pub struct ChoiceView {
    pub value: String,
    pub label: String,
    pub label_en: String,
    pub checked: bool,
}

#[derive(Debug, Clone)]
pub struct QuestionView {
    /// The form field and error field: `answers.<id>`.
    pub field: String,
    /// `text`, `choice`, `choices`, `yes_no`, `number` or `date`.
    pub kind: &'static str,
    pub label: String,
    pub label_en: String,
    pub required: bool,
    pub choices: Vec<ChoiceView>,
    /// The value of a text, number or date field; `true`/`false` for yes/no.
    pub value: String,
    pub min: String,
    pub max: String,
    pub max_length: usize,
}

#[derive(Debug, Clone)]
pub struct QuestionnaireForm {
    pub questions: Vec<QuestionView>,
}

fn kind_name(kind: QuestionKind) -> &'static str {
    match kind {
        QuestionKind::Text => "text",
        QuestionKind::Choice => "choice",
        QuestionKind::Choices => "choices",
        QuestionKind::YesNo => "yes_no",
        QuestionKind::Number => "number",
        QuestionKind::Date => "date",
    }
}

/// A value as a form field shows it (a list: its items).
fn as_texts(value: Option<&Value>) -> Vec<String> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(values)) => values.iter().flat_map(|v| as_texts(Some(v))).collect(),
        Some(other) => vec![other.to_string()],
    }
}

impl QuestionnaireForm {
    /// The questions with `values` (question id -> value, as stored or as
    /// typed) filled in.
    pub fn of(questionnaire: &Questionnaire, values: &Map<String, Value>) -> Self {
        let questions = questionnaire
            .questions
            .iter()
            .map(|question| {
                let given = as_texts(values.get(&question.id));
                let number = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
                QuestionView {
                    field: question.field(),
                    kind: kind_name(question.kind),
                    label: question.label.clone(),
                    label_en: question.label_en.clone(),
                    required: question.required,
                    choices: question
                        .choices
                        .iter()
                        .map(|choice| ChoiceView {
                            value: choice.value.clone(),
                            label: choice.label.clone(),
                            label_en: choice.label_en.clone(),
                            checked: given.contains(&choice.value),
                        })
                        .collect(),
                    value: given.first().cloned().unwrap_or_default(),
                    min: number(question.min),
                    max: number(question.max),
                    max_length: question.max_length.unwrap_or_default(),
                }
            })
            .collect();
        QuestionnaireForm { questions }
    }

    /// The questions with what a submitted form typed for them.
    pub fn typed(questionnaire: &Questionnaire, fields: &Fields) -> Self {
        QuestionnaireForm::of(questionnaire, &typed_answers(fields))
    }
}

/// The `answers.<id>` fields of a form, by question id.
pub fn typed_answers(fields: &Fields) -> Map<String, Value> {
    fields
        .as_map()
        .iter()
        .filter_map(|(name, value)| {
            name.strip_prefix("answers.")
                .map(|id| (id.to_string(), value.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::questionnaire::current_for;

    #[test]
    fn typed_boxes_and_values_come_back_checked_and_filled() {
        let fields = Fields::from_form_pairs(vec![
            ("answers.location".into(), "inner".into()),
            ("answers.location".into(), "back".into()),
            ("answers.pain_score".into(), "12".into()),
            ("answers.anticoagulants".into(), "false".into()),
        ]);
        let form = QuestionnaireForm::typed(current_for("consultation").unwrap(), &fields);
        let location = form
            .questions
            .iter()
            .find(|q| q.field == "answers.location")
            .unwrap();
        let checked: Vec<&str> = location
            .choices
            .iter()
            .filter(|c| c.checked)
            .map(|c| c.value.as_str())
            .collect();
        assert_eq!(checked, ["inner", "back"]);
        let pain = form
            .questions
            .iter()
            .find(|q| q.field == "answers.pain_score")
            .unwrap();
        assert_eq!(
            (pain.value.as_str(), pain.min.as_str(), pain.max.as_str()),
            ("12", "0", "10")
        );
        let thinners = form
            .questions
            .iter()
            .find(|q| q.field == "answers.anticoagulants")
            .unwrap();
        assert_eq!(thinners.value, "false");
    }
}
