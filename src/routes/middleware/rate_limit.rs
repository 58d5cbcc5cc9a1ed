//! Per-client rate limits on public submissions and on manage-token attempts
//! (so a form cannot be flooded and a token cannot be guessed by brute
//! force). Over the budget: 429 problem+json with `Retry-After`.
//!
//! The client is the socket peer, unless the peer is a configured trusted
//! proxy: then it is the last address in `X-Forwarded-For` that is not a
//! trusted proxy itself. A forwarded header from anyone else is ignored.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::configuration::RateLimitSettings;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Budget {
    /// New bookings, inquiries and form submissions.
    PublicPost,
    /// Anything that presents a booking's manage token.
    Manage,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    enabled: bool,
    public_posts_per_minute: u32,
    manage_attempts_per_minute: u32,
    trusted_proxies: Vec<IpAddr>,
    buckets: Mutex<HashMap<(Budget, IpAddr), Bucket>>,
}

/// Buckets kept before idle ones are swept, bounding memory under a flood
/// of distinct addresses.
const SWEEP_AT: usize = 10_000;

impl RateLimiter {
    pub fn from_settings(settings: &RateLimitSettings) -> anyhow::Result<Self> {
        let trusted_proxies = settings
            .trusted_proxies
            .iter()
            .map(|raw| {
                raw.trim().parse::<IpAddr>().map_err(|_| {
                    anyhow::anyhow!(
                        "invalid setting rate_limit.trusted_proxies: {raw:?} is not an IP address"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if settings.enabled
            && (settings.public_posts_per_minute == 0 || settings.manage_attempts_per_minute == 0)
        {
            return Err(anyhow::anyhow!(
                "invalid setting rate_limit: budgets must be at least 1 per minute (or set enabled = false)"
            ));
        }
        Ok(RateLimiter {
            enabled: settings.enabled,
            public_posts_per_minute: settings.public_posts_per_minute,
            manage_attempts_per_minute: settings.manage_attempts_per_minute,
            trusted_proxies,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// The address a request comes from, trusting `X-Forwarded-For` only
    /// when the peer is a trusted proxy.
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let Some(forwarded) = forwarded_for else {
            return Some(peer);
        };
        let hops: Vec<IpAddr> = forwarded
            .split(',')
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .collect();
        hops.into_iter()
            .rev()
            .find(|hop| !self.trusted_proxies.contains(hop))
            .or(Some(peer))
    }

    fn budget_of(method: &Method, path: &str) -> Option<Budget> {
        // Staff are not limited once signed in; signing in is a public
        // POST like any other (a guess at a staff token costs budget).
        if path.starts_with("/api/v1/staff/")
            || (path.starts_with("/staff/") && path != "/staff/login")
        {
            return None;
        }
        if path.starts_with("/api/v1/bookings/") || path.starts_with("/manage/") {
            return Some(Budget::Manage);
        }
        (method == Method::POST).then_some(Budget::PublicPost)
    }

    /// Takes one request from the client's budget: `Err(seconds)` to wait
    /// when it is spent. A token bucket refilled evenly over the minute.
    fn take(&self, budget: Budget, client: IpAddr, now: Instant) -> Result<(), u64> {
        let per_minute = match budget {
            Budget::PublicPost => self.public_posts_per_minute,
            Budget::Manage => self.manage_attempts_per_minute,
        };
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, bucket| now.duration_since(bucket.updated).as_secs() < 60);
        }
        let bucket = buckets.entry((budget, client)).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

/// The middleware: counts the request against its budget, or answers 429.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if let Some(limiter) = req.app_data::<web::Data<RateLimiter>>() {
        if limiter.enabled {
            if let Some(budget) = RateLimiter::budget_of(req.method(), req.path()) {
                let forwarded = req
                    .headers()
                    .get("x-forwarded-for")
                    .and_then(|value| value.to_str().ok());
                let peer = req.peer_addr().map(|addr| addr.ip());
                if let Some(client) = limiter.client_ip(peer, forwarded) {
                    if let Err(retry_after_seconds) = limiter.take(budget, client, Instant::now()) {
                        // A response carrying the error, so the language and
                        // logging middleware see it like any other error.
                        let refusal = HttpResponse::from_error(ApiError::RateLimited {
                            retry_after_seconds,
                        });
                        let (request, _) = req.into_parts();
                        return Ok(ServiceResponse::new(request, refusal).map_into_right_body());
                    }
                }
            }
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limiter(trusted: &[&str]) -> RateLimiter {
        RateLimiter::from_settings(&RateLimitSettings {
            enabled: true,
            public_posts_per_minute: 3,
            manage_attempts_per_minute: 60,
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_budget_is_spent_then_refills_over_the_minute() {
        let limiter = limiter(&[]);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(
                limiter.take(Budget::PublicPost, ip("192.0.2.1"), start),
                Ok(())
            );
        }
        assert_eq!(
            limiter.take(Budget::PublicPost, ip("192.0.2.1"), start),
            Err(20)
        );
        assert_eq!(
            limiter.take(Budget::PublicPost, ip("192.0.2.2"), start),
            Ok(()),
            "per client"
        );
        let later = start + Duration::from_secs(20);
        assert_eq!(
            limiter.take(Budget::PublicPost, ip("192.0.2.1"), later),
            Ok(())
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let limiter = limiter(&["10.0.0.1"]);
        let spoof = Some("203.0.113.9");
        assert_eq!(
            limiter.client_ip(Some(ip("198.51.100.7")), spoof),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            limiter.client_ip(Some(ip("10.0.0.1")), spoof),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            limiter.client_ip(Some(ip("10.0.0.1")), Some("1.2.3.4, 203.0.113.9, 10.0.0.1")),
            Some(ip("203.0.113.9")),
            "the right-most hop the proxy saw, not what the client claimed"
        );
    }

    #[test]
    fn staff_routes_and_reads_are_not_counted_as_public_posts() {
        assert_eq!(
            RateLimiter::budget_of(&Method::POST, "/api/v1/bookings"),
            Some(Budget::PublicPost)
        );
        assert_eq!(
            RateLimiter::budget_of(&Method::GET, "/api/v1/bookings/K7QM-3XWD"),
            Some(Budget::Manage)
        );
        assert_eq!(
            RateLimiter::budget_of(&Method::PATCH, "/api/v1/staff/bookings/K7QM-3XWD"),
            None
        );
        assert_eq!(
            RateLimiter::budget_of(&Method::GET, "/api/v1/availability"),
            None
        );
    }

    #[test]
    fn the_staff_console_counts_only_its_sign_in_as_a_public_post() {
        assert_eq!(
            RateLimiter::budget_of(&Method::POST, "/staff/login"),
            Some(Budget::PublicPost)
        );
        for path in [
            "/staff/bookings/K7QM-3XWD/status",
            "/staff/closures",
            "/staff/logout",
        ] {
            assert_eq!(RateLimiter::budget_of(&Method::POST, path), None, "{path}");
        }
    }
}
