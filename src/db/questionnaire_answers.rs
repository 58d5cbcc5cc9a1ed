//! A booking's intake questionnaire answers: one row per booking, with the
//! questionnaire's id and version they answer.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Map, Value};

use super::schema::questionnaire_answers;
use super::DbConnection;
use crate::domain::questionnaire::Answers;
use crate::error::ApiError;

/// Answers as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnswers {
    pub questionnaire_id: String,
    pub version: u32,
    pub values: Map<String, Value>,
    pub answered_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

type Row = (String, String, i32, String, NaiveDateTime, NaiveDateTime);

fn stored(
    (reference, questionnaire_id, version, answers, answered_at, updated_at): Row,
) -> Result<(String, StoredAnswers), ApiError> {
    let values = match serde_json::from_str(&answers) {
        Ok(Value::Object(values)) => values,
        _ => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "the stored answers of {reference} are not a JSON object"
            )))
        }
    };
    Ok((
        reference,
        StoredAnswers {
            questionnaire_id,
            version: u32::try_from(version).unwrap_or_default(),
            values,
            answered_at,
            updated_at,
        },
    ))
}

const COLUMNS: (
    questionnaire_answers::booking_reference,
    questionnaire_answers::questionnaire_id,
    questionnaire_answers::questionnaire_version,
    questionnaire_answers::answers,
    questionnaire_answers::answered_at,
    questionnaire_answers::updated_at,
) = (
    questionnaire_answers::booking_reference,
    questionnaire_answers::questionnaire_id,
    questionnaire_answers::questionnaire_version,
    questionnaire_answers::answers,
    questionnaire_answers::answered_at,
    questionnaire_answers::updated_at,
);

pub fn find(conn: &mut DbConnection, reference: &str) -> Result<Option<StoredAnswers>, ApiError> {
    let row: Option<Row> = questionnaire_answers::table
        .find(reference)
        .select(COLUMNS)
        .get_result(conn)
        .optional()?;
    Ok(row.map(stored).transpose()?.map(|(_, answers)| answers))
}

/// The answers of those of `references` that have some, by reference.
pub fn find_many(
    conn: &mut DbConnection,
    references: &[String],
) -> Result<HashMap<String, StoredAnswers>, ApiError> {
    if references.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Row> = questionnaire_answers::table
        .filter(questionnaire_answers::booking_reference.eq_any(references))
        .select(COLUMNS)
        .load(conn)?;
    rows.into_iter().map(stored).collect()
}

/// Which of `references` have answers.
pub fn answered_among(
    conn: &mut DbConnection,
    references: &[String],
) -> Result<HashSet<String>, ApiError> {
    if references.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(questionnaire_answers::table
        .filter(questionnaire_answers::booking_reference.eq_any(references))
        .select(questionnaire_answers::booking_reference)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// Stores `answers` for booking `reference`, replacing earlier ones.
pub fn save(
    conn: &mut DbConnection,
    reference: &str,
    answers: &Answers,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let version = i32::try_from(answers.version).map_err(anyhow::Error::from)?;
    let changed = diesel::update(questionnaire_answers::table.find(reference))
        .set((
            questionnaire_answers::questionnaire_id.eq(&answers.questionnaire_id),
            questionnaire_answers::questionnaire_version.eq(version),
            questionnaire_answers::answers.eq(answers.to_json()),
            questionnaire_answers::updated_at.eq(now),
        ))
        .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(questionnaire_answers::table)
            .values((
                questionnaire_answers::booking_reference.eq(reference),
                questionnaire_answers::questionnaire_id.eq(&answers.questionnaire_id),
                questionnaire_answers::questionnaire_version.eq(version),
                questionnaire_answers::answers.eq(answers.to_json()),
                questionnaire_answers::answered_at.eq(now),
                questionnaire_answers::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Deletes the answers of booking `reference` (erasure, purge): the number
/// of rows deleted.
pub fn delete(conn: &mut DbConnection, reference: &str) -> Result<usize, ApiError> {
    Ok(diesel::delete(questionnaire_answers::table.find(reference)).execute(conn)?)
}
