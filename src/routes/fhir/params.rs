//! FHIR search parameters: the few each search knows, the result
//! parameters (`_count`, `_offset`, `_format`), and date prefixes.
//! Anything else is refused (400), never ignored: a client would take an
//! unfiltered answer for a filtered one.

use actix_web::http::StatusCode;
use chrono::{Duration, NaiveDate};

use super::FhirError;

const DEFAULT_COUNT: usize = 100;
const MAX_COUNT: usize = 500;
const MAX_OFFSET: usize = 1_000_000;

/// A search's parameters, checked.
#[derive(Debug)]
pub struct Search {
    /// The search parameters, as given, in order.
    pairs: Vec<(String, String)>,
    format: Option<String>,
    pub count: usize,
    pub offset: usize,
}

impl Search {
    /// Reads a query string in which `known` are the search parameters.
    pub fn parse(query: &str, known: &[&str]) -> Result<Search, FhirError> {
        let all: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| FhirError::invalid("The query string is malformed."))?;
        let mut search = Search {
            pairs: Vec::new(),
            format: None,
            count: DEFAULT_COUNT,
            offset: 0,
        };
        for (name, value) in all {
            match name.as_str() {
                "_count" => {
                    search.count = value
                        .parse()
                        .ok()
                        .filter(|count| *count <= MAX_COUNT)
                        .ok_or_else(|| {
                            FhirError::invalid(format!(
                                "_count must be a whole number from 0 to {MAX_COUNT}."
                            ))
                        })?
                }
                "_offset" => {
                    search.offset = value
                        .parse()
                        .ok()
                        .filter(|offset| *offset <= MAX_OFFSET)
                        .ok_or_else(|| {
                            FhirError::invalid(format!(
                                "_offset must be a whole number from 0 to {MAX_OFFSET}."
                            ))
                        })?
                }
                "_format" => {
                    if !matches!(
                        value.as_str(),
                        "json" | "application/json" | "application/fhir+json"
                    ) {
                        return Err(FhirError {
                            status: StatusCode::NOT_ACCEPTABLE,
                            code: "not-supported",
                            diagnostics: "Only JSON (application/fhir+json) is served.".into(),
                        });
                    }
                    search.format = Some(value);
                }
                _ if known.contains(&name.as_str()) => search.pairs.push((name, value)),
                _ => {
                    return Err(FhirError::not_supported(format!(
                        "Unknown search parameter {name:?}: this search takes {}, _count, _offset and _format.",
                        known.join(", ")
                    )))
                }
            }
        }
        Ok(search)
    }

    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = name.to_string();
        self.pairs
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, value)| value.as_str())
    }

    /// A parameter given at most once.
    pub fn single(&self, name: &str) -> Result<Option<&str>, FhirError> {
        let mut values = self.values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(FhirError::invalid(format!("{name} may be given once.")));
        }
        Ok(first)
    }

    /// This search's query string for the page from `offset` on.
    pub fn query_with_offset(&self, offset: usize) -> String {
        let mut pairs = self.pairs.clone();
        if let Some(format) = &self.format {
            pairs.push(("_format".into(), format.clone()));
        }
        pairs.push(("_count".into(), self.count.to_string()));
        pairs.push(("_offset".into(), offset.to_string()));
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// Clinic dates `[from, until)`, either end open.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DateRange {
    pub from: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

impl DateRange {
    /// Every value narrows the range: `geD` from D on, `gtD` after D,
    /// `ltD` before D, `leD` up to D, `eqD` or `D` just D. Dates only
    /// (`YYYY-MM-DD`): they are clinic dates.
    pub fn from_values<'a>(
        name: &str,
        values: impl Iterator<Item = &'a str>,
    ) -> Result<DateRange, FhirError> {
        let mut range = DateRange::default();
        for raw in values {
            let (prefix, date) = match raw.get(..2) {
                Some(prefix) if prefix.bytes().all(|b| b.is_ascii_alphabetic()) => {
                    (prefix, &raw[2..])
                }
                _ => ("eq", raw),
            };
            let date = crate::routes::staff::page::date(date).ok_or_else(|| {
                FhirError::invalid(format!(
                    "{name} takes a clinic date with a prefix, e.g. {name}=ge2026-12-01 (got {raw:?})."
                ))
            })?;
            let next = date
                .checked_add_signed(Duration::days(1))
                .ok_or_else(|| FhirError::invalid(format!("{name}: {date} is out of range.")))?;
            let (from, until) = match prefix {
                "ge" => (Some(date), None),
                "gt" => (Some(next), None),
                "lt" => (None, Some(date)),
                "le" => (None, Some(next)),
                "eq" => (Some(date), Some(next)),
                other => {
                    return Err(FhirError::not_supported(format!(
                        "{name}: the prefix {other:?} is not supported (ge, gt, le, lt, eq are)."
                    )))
                }
            };
            if let Some(from) = from {
                range.from = Some(range.from.map_or(from, |known| known.max(from)));
            }
            if let Some(until) = until {
                range.until = Some(range.until.map_or(until, |known| known.min(until)));
            }
        }
        Ok(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }

    fn range(values: &[&str]) -> Result<DateRange, FhirError> {
        DateRange::from_values("start", values.iter().copied())
    }

    #[test]
    fn date_prefixes_narrow_the_range_of_clinic_dates() {
        let week = range(&["ge2026-12-01", "lt2026-12-08"]).unwrap();
        assert_eq!(week.from, Some(date("2026-12-01")));
        assert_eq!(week.until, Some(date("2026-12-08")));
        let day = range(&["2026-12-01"]).unwrap();
        assert_eq!(day.until, Some(date("2026-12-02")));
        let inclusive = range(&["gt2026-12-01", "le2026-12-03"]).unwrap();
        assert_eq!(inclusive.from, Some(date("2026-12-02")));
        assert_eq!(inclusive.until, Some(date("2026-12-04")));
        assert_eq!(range(&[]).unwrap(), DateRange::default());
        assert!(range(&["ne2026-12-01"]).is_err());
        assert!(range(&["ge2026-12-01T10:00:00+09:00"]).is_err());
        assert!(range(&["ge"]).is_err());
    }

    #[test]
    fn unknown_parameters_are_refused_and_paging_is_checked() {
        let search = Search::parse("start=ge2026-12-01&_count=10&_offset=20", &["start"]).unwrap();
        assert_eq!((search.count, search.offset), (10, 20));
        assert_eq!(
            search.query_with_offset(30),
            "start=ge2026-12-01&_count=10&_offset=30"
        );
        let unknown = Search::parse("start=ge2026-12-01&patient=1", &["start"]).unwrap_err();
        assert_eq!(unknown.code, "not-supported");
        assert!(Search::parse("start:missing=true", &["start"]).is_err());
        assert!(Search::parse("_count=501", &["start"]).is_err());
        assert!(Search::parse("_count=-1", &["start"]).is_err());
        assert_eq!(
            Search::parse("_format=xml", &[]).unwrap_err().status,
            StatusCode::NOT_ACCEPTABLE
        );
    }
}
