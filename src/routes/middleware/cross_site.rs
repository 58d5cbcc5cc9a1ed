//! Refuses browser POSTs sent from another site's page: any web page could
//! otherwise make its visitors' browsers book, cancel or send inquiries
//! here (each visitor a different address, so no per-client limit would
//! see it). A public POST whose `Origin` is neither `server.public_url`'s
//! origin nor in `http.cors_allowed_origins` (`Origin: null` included), or
//! that says `Sec-Fetch-Site: cross-site` without a listed origin, gets
//! 403 `cross_site_request`: problem+json on the API, a plain page on the
//! forms. A request with neither header (curl, a server) is not a
//! browser's and is let through; staff routes are left to their bearer
//! token and the console to its CSRF tokens.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};

use crate::error::ApiError;
use crate::state::AppState;

/// The origins whose pages may POST here, serialised (`https://host[:port]`).
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    /// `server.public_url`'s origin.
    own: Option<String>,
    /// `http.cors_allowed_origins`: also trusted from another site.
    listed: Vec<String>,
}

/// `scheme://host[:port]` of a URL or origin, the default port left out;
/// `None` for anything without one (`null`, garbage).
fn origin_of(url: &str) -> Option<String> {
    let origin = url::Url::parse(url.trim()).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

impl AllowedOrigins {
    pub fn new(public_url: &str, cors_allowed_origins: &[String]) -> Self {
        AllowedOrigins {
            own: origin_of(public_url),
            listed: cors_allowed_origins
                .iter()
                .filter_map(|origin| origin_of(origin))
                .collect(),
        }
    }

    fn is_listed(&self, origin: Option<&str>) -> bool {
        origin
            .and_then(origin_of)
            .is_some_and(|origin| self.listed.contains(&origin))
    }

    fn is_own(&self, origin: &str) -> bool {
        origin_of(origin).is_some_and(|origin| self.own.as_ref() == Some(&origin))
    }

    /// Whether a POST carrying these headers comes from another site.
    pub fn is_cross_site(&self, origin: Option<&str>, fetch_site: Option<&str>) -> bool {
        let listed = self.is_listed(origin);
        let foreign_origin = origin.is_some_and(|origin| !listed && !self.is_own(origin));
        let says_cross_site =
            fetch_site.is_some_and(|site| site.trim().eq_ignore_ascii_case("cross-site"));
        foreign_origin || (says_cross_site && !listed)
    }
}

/// Public POSTs: everything but the staff API (which needs a bearer token
/// a page on another site does not have) and the staff console (which
/// guards its own forms with CSRF tokens and a SameSite cookie).
fn is_checked(method: &Method, path: &str) -> bool {
    method == Method::POST && !path.starts_with("/api/v1/staff/") && !path.starts_with("/staff/")
}

/// The middleware.
pub async fn refuse(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let refused = is_checked(req.method(), req.path())
        && req
            .app_data::<web::Data<AllowedOrigins>>()
            .is_some_and(|allowed| {
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .map(|value| value.to_str().unwrap_or("null"))
                };
                allowed.is_cross_site(header("origin"), header("sec-fetch-site"))
            });
    if !refused {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    tracing::warn!(route, "cross-site POST refused");
    crate::metrics::cross_site_refused();
    let refusal = match req.app_data::<web::Data<AppState>>() {
        Some(state) if !req.path().starts_with("/api/") => {
            crate::routes::site::error_page(state, &ApiError::CrossSiteRequest)
        }
        // A response carrying the error, so the language and logging
        // middleware see it like any other error.
        _ => HttpResponse::from_error(ApiError::CrossSiteRequest),
    };
    let (request, _) = req.into_parts();
    Ok(ServiceResponse::new(request, refusal).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> AllowedOrigins {
        AllowedOrigins::new(
            "https://booking.n2clinic-ginza.com/",
            &["https://n2clinic-ginza.com".to_string()],
        )
    }

    #[test]
    fn own_and_listed_origins_may_post_and_others_may_not() {
        let allowed = allowed();
        let cross = |origin, site| allowed.is_cross_site(origin, site);
        assert!(!cross(Some("https://booking.n2clinic-ginza.com"), None));
        assert!(!cross(Some("https://BOOKING.n2clinic-ginza.com:443"), None));
        assert!(!cross(
            Some("https://booking.n2clinic-ginza.com"),
            Some("same-origin")
        ));
        assert!(!cross(
            Some("https://n2clinic-ginza.com"),
            Some("same-site")
        ));
        assert!(
            !cross(Some("https://n2clinic-ginza.com"), Some("cross-site")),
            "listed"
        );
        assert!(cross(Some("https://evil.example"), None));
        assert!(
            cross(Some("http://booking.n2clinic-ginza.com"), None),
            "another scheme"
        );
        assert!(cross(Some("https://booking.n2clinic-ginza.com:8443"), None));
        assert!(
            cross(Some("null"), None),
            "an opaque origin is another site"
        );
        assert!(cross(Some("garbage"), None));
    }

    #[test]
    fn sec_fetch_site_cross_site_is_refused_without_an_origin_too() {
        let allowed = allowed();
        assert!(allowed.is_cross_site(None, Some("cross-site")));
        assert!(allowed.is_cross_site(
            Some("https://booking.n2clinic-ginza.com"),
            Some("Cross-Site")
        ));
        assert!(
            !allowed.is_cross_site(None, Some("none")),
            "typed or bookmarked"
        );
        assert!(!allowed.is_cross_site(None, None), "curl, servers");
    }

    #[test]
    fn only_public_posts_are_checked() {
        assert!(is_checked(&Method::POST, "/api/v1/bookings"));
        assert!(is_checked(&Method::POST, "/reserve"));
        assert!(is_checked(&Method::POST, "/manage/K7QM-3XWD/cancel"));
        assert!(!is_checked(&Method::POST, "/api/v1/staff/closures"));
        assert!(!is_checked(&Method::POST, "/staff/login"));
        assert!(!is_checked(&Method::GET, "/reserve"));
    }
}
