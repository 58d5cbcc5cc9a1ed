//! Response headers every answer carries: no sniffing, no framing, no
//! referrer (manage links carry tokens), a content security policy without
//! inline script, no caching of anything personal; and CORS, off unless the
//! clinic's website origin is allowed in `http.cors_allowed_origins`.

use crate::configuration::HttpSettings;
use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;

/// For JSON and problem documents: nothing may load or frame them.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
/// For pages: own scripts, styles and images only; forms post to us.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Paths whose answers may carry a patient's data.
fn is_personal(path: &str) -> bool {
    path.starts_with("/api/v1/bookings")
        || path.starts_with("/api/v1/inquiries")
        || path.starts_with("/api/v1/staff")
        || path.starts_with("/manage")
        || path.starts_with("/reserve")
        || path.starts_with("/inquiry")
        || path == "/staff"
        || path.starts_with("/staff/")
}

fn set_default(
    response: &mut ServiceResponse<impl MessageBody>,
    name: HeaderName,
    value: &'static str,
) {
    let headers = response.headers_mut();
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let personal = is_personal(req.path());
    let mut response = next.call(req).await?;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    set_default(&mut response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(&mut response, header::X_FRAME_OPTIONS, "DENY");
    set_default(&mut response, header::REFERRER_POLICY, "no-referrer");
    set_default(
        &mut response,
        header::CONTENT_SECURITY_POLICY,
        if is_html { PAGE_POLICY } else { API_POLICY },
    );
    set_default(
        &mut response,
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
    set_default(
        &mut response,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if personal {
        set_default(&mut response, header::CACHE_CONTROL, "no-store");
    }
    Ok(response)
}

/// CORS for the configured origins only; with none configured, browsers
/// on other origins get no CORS grant at all.
pub fn cors(settings: &HttpSettings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT,
            header::ACCEPT_LANGUAGE,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(600);
    for origin in &settings.cors_allowed_origins {
        cors = cors.allowed_origin(origin.trim_end_matches('/'));
    }
    cors
}

/// Refuses origins that CORS could not match, so a typo stops start-up.
pub fn check(settings: &HttpSettings) -> anyhow::Result<()> {
    for origin in &settings.cors_allowed_origins {
        let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
            && !origin.contains('*')
            && origin.trim_end_matches('/').matches('/').count() == 2;
        if !ok {
            anyhow::bail!(
                "invalid setting http.cors_allowed_origins: {origin:?} must be an origin such as https://n2clinic-ginza.com"
            );
        }
    }
    Ok(())
}
