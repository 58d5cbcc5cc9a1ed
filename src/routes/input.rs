//! Reading request bodies: JSON or an HTML form, within the size limit, into
//! `Fields`; and the `Idempotency-Key` header.

use actix_web::dev::Decompress;
use actix_web::{web, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::domain::Fields;
use crate::error::ApiError;

/// A parsed body and a fingerprint of its content (the same fields give the
/// same fingerprint however they were spaced or ordered).
pub struct Submission {
    pub fields: Fields,
    pub fingerprint: String,
}

enum BodyFormat {
    Json,
    Form,
}

fn body_format(req: &HttpRequest) -> Result<BodyFormat, ApiError> {
    let mime = req
        .mime_type()
        .map_err(|_| ApiError::UnsupportedMediaType)?
        .ok_or(ApiError::UnsupportedMediaType)?;
    match (
        mime.type_().as_str(),
        mime.subtype().as_str(),
        mime.suffix(),
    ) {
        ("application", "json", _) | ("application", _, Some(mime::JSON)) => Ok(BodyFormat::Json),
        ("application", "x-www-form-urlencoded", _) => Ok(BodyFormat::Form),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// Reads the body (decompressed, if it was sent compressed) up to `limit`
/// bytes; more is a 413, whatever the headers claimed.
pub async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    // Count what the body inflates to, not what was sent: a small gzip body
    // may expand enormously.
    let mut payload = Decompress::from_headers(payload, req.headers());
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| match error {
            actix_web::error::PayloadError::Overflow => ApiError::PayloadTooLarge { limit },
            other => ApiError::bad_request(None, format!("The body could not be read: {other}")),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a JSON object or a form-urlencoded body into fields.
pub async fn read_submission(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Submission, ApiError> {
    let format = body_format(req)?;
    let body = read_body(req, payload, limit).await?;
    let fields = match format {
        BodyFormat::Json => match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Object(map)) => Fields::from_json_object(map),
            Ok(_) => {
                return Err(ApiError::bad_request(
                    None,
                    "The body must be a JSON object.",
                ))
            }
            Err(error) => {
                return Err(ApiError::bad_request(
                    None,
                    format!("The body is not valid JSON: {error}"),
                ))
            }
        },
        BodyFormat::Form => serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .map(Fields::from_form_pairs)
            .map_err(|error| {
                ApiError::bad_request(None, format!("The form body is malformed: {error}"))
            })?,
    };
    let canonical = serde_json::Value::Object(fields.as_map().clone()).to_string();
    Ok(Submission {
        fields,
        fingerprint: hex::encode(Sha256::digest(canonical.as_bytes())),
    })
}

pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// The client's `Idempotency-Key`, if it sent one: 1 to 255 visible ASCII
/// characters.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or("").trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            Some(IDEMPOTENCY_HEADER),
            "Idempotency-Key must be 1 to 255 visible ASCII characters.",
        ));
    }
    Ok(Some(key.to_string()))
}
