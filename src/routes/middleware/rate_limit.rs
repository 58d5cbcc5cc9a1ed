//! Per-client rate limits on public submissions, on everything that checks
//! a booking's token, and on failed staff sign-ins (so a form cannot be
//! flooded and a token cannot be guessed by brute force). Over the budget:
//! 429 problem+json with `Retry-After`.
//!
//! The client is the socket peer, unless the peer is a configured trusted
//! proxy (`clients::TrustedProxies`), and is counted as a
//! `clients::ClientKey` (an IPv6 client by its /64). At most
//! `rate_limit.max_clients` clients are remembered (`clients::ClientTable`).

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse};

use super::clients::{ClientKey, ClientTable, TrustedProxies};
use crate::configuration::RateLimitSettings;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Budget {
    /// New bookings, inquiries and form submissions.
    PublicPost,
    /// Anything that checks a booking's manage token: the manage API and
    /// pages, the thank-you pages.
    Manage,
    /// Staff routes: only answers refusing the staff token (401) are
    /// taken from it, so staff at work are never limited.
    StaffAuthFailure,
}

/// The client a request was counted as (in the request's extensions, for
/// handlers that keep their own per-client counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client(pub ClientKey);

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    enabled: bool,
    public_posts_per_minute: u32,
    manage_attempts_per_minute: u32,
    staff_auth_failures_per_minute: u32,
    trusted_proxies: TrustedProxies,
    buckets: ClientTable<(Budget, ClientKey), Bucket>,
}

impl RateLimiter {
    pub fn from_settings(settings: &RateLimitSettings) -> anyhow::Result<Self> {
        let trusted_proxies = TrustedProxies::parse(&settings.trusted_proxies)?;
        if settings.enabled
            && (settings.public_posts_per_minute == 0
                || settings.manage_attempts_per_minute == 0
                || settings.staff_auth_failures_per_minute == 0)
        {
            return Err(anyhow::anyhow!(
                "invalid setting rate_limit: budgets must be at least 1 per minute (or set enabled = false)"
            ));
        }
        if settings.max_clients == 0 {
            return Err(anyhow::anyhow!(
                "invalid setting rate_limit.max_clients: must be at least 1"
            ));
        }
        Ok(RateLimiter {
            enabled: settings.enabled,
            public_posts_per_minute: settings.public_posts_per_minute,
            manage_attempts_per_minute: settings.manage_attempts_per_minute,
            staff_auth_failures_per_minute: settings.staff_auth_failures_per_minute,
            trusted_proxies,
            buckets: ClientTable::new(settings.max_clients),
        })
    }

    /// The client a request is counted as.
    fn client_of(&self, req: &ServiceRequest) -> Option<ClientKey> {
        let peer = req.peer_addr()?.ip();
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .collect();
        let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
        Some(ClientKey::of(
            self.trusted_proxies.client_of(peer, forwarded.as_deref()),
        ))
    }

    fn budget_of(method: &Method, path: &str) -> Option<Budget> {
        if path.starts_with("/api/v1/staff/") {
            return Some(Budget::StaffAuthFailure);
        }
        // Staff are not limited once signed in to the console; signing in
        // is a public POST like any other (a guess at a staff token costs
        // budget).
        if path.starts_with("/staff/") && path != "/staff/login" {
            return None;
        }
        let checks_a_token = [
            "/api/v1/bookings/",
            "/manage/",
            "/reserve/thanks/",
            "/inquiry/thanks/",
            "/api/v1/waitlist/",
            "/waitlist/",
        ]
        .iter()
        .any(|prefix| path.starts_with(prefix));
        if checks_a_token {
            return Some(Budget::Manage);
        }
        (method == Method::POST).then_some(Budget::PublicPost)
    }

    /// Takes one request from the client's budget (or, with `spend`
    /// false, only looks whether one is left): `Err(seconds)` to wait when
    /// it is spent. A token bucket refilled evenly over the minute.
    fn take(
        &self,
        budget: Budget,
        client: ClientKey,
        now: Instant,
        spend: bool,
    ) -> Result<(), u64> {
        let per_minute = match budget {
            Budget::PublicPost => self.public_posts_per_minute,
            Budget::Manage => self.manage_attempts_per_minute,
            Budget::StaffAuthFailure => self.staff_auth_failures_per_minute,
        };
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let fresh = || Bucket {
            tokens: capacity,
            updated: now,
        };
        self.buckets.with((budget, client), fresh, |bucket| {
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
            bucket.updated = now;
            if bucket.tokens >= 1.0 {
                if spend {
                    bucket.tokens -= 1.0;
                }
                Ok(())
            } else {
                Err(((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64)
            }
        })
    }
}

/// The middleware: counts the request against its budget, or answers 429;
/// and notes the client in the request's extensions.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(limiter) = req.app_data::<web::Data<RateLimiter>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let Some(client) = limiter.client_of(&req) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    req.extensions_mut().insert(Client(client));
    let budget = RateLimiter::budget_of(req.method(), req.path()).filter(|_| limiter.enabled);
    let Some(budget) = budget else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let spend = budget != Budget::StaffAuthFailure;
    if let Err(retry_after_seconds) = limiter.take(budget, client, Instant::now(), spend) {
        // A response carrying the error, so the language and logging
        // middleware see it like any other error.
        let refusal = HttpResponse::from_error(ApiError::RateLimited {
            retry_after_seconds,
        });
        let (request, _) = req.into_parts();
        return Ok(ServiceResponse::new(request, refusal).map_into_right_body());
    }
    let response = next.call(req).await?;
    if budget == Budget::StaffAuthFailure && response.status() == StatusCode::UNAUTHORIZED {
        // Spent already or not, the refusal itself stands.
        let _ = limiter.take(budget, client, Instant::now(), true);
    }
    Ok(response.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use std::time::Duration;

    fn limiter(max_clients: usize) -> RateLimiter {
        RateLimiter::from_settings(&RateLimitSettings {
            enabled: true,
            public_posts_per_minute: 3,
            manage_attempts_per_minute: 60,
            staff_auth_failures_per_minute: 10,
            trusted_proxies: Vec::new(),
            max_clients,
        })
        .unwrap()
    }

    fn client(s: &str) -> ClientKey {
        ClientKey::of(s.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn a_budget_is_spent_then_refills_over_the_minute() {
        let limiter = limiter(1000);
        let start = Instant::now();
        let take = |at, who| limiter.take(Budget::PublicPost, client(who), at, true);
        for _ in 0..3 {
            assert_eq!(take(start, "192.0.2.1"), Ok(()));
        }
        assert_eq!(take(start, "192.0.2.1"), Err(20));
        assert_eq!(take(start, "::ffff:192.0.2.1"), Err(20), "the same client");
        assert_eq!(take(start, "192.0.2.2"), Ok(()), "per client");
        assert_eq!(take(start + Duration::from_secs(20), "192.0.2.1"), Ok(()));
    }

    #[test]
    fn one_ipv6_64_shares_one_budget() {
        let limiter = limiter(1000);
        let now = Instant::now();
        for host in 1..=3 {
            let address = format!("2001:db8:0:1::{host}");
            assert_eq!(
                limiter.take(Budget::PublicPost, client(&address), now, true),
                Ok(())
            );
        }
        assert!(limiter
            .take(
                Budget::PublicPost,
                client("2001:db8:0:1:ffff::9"),
                now,
                true
            )
            .is_err());
        assert_eq!(
            limiter.take(Budget::PublicPost, client("2001:db8:0:2::1"), now, true),
            Ok(())
        );
    }

    #[test]
    fn looking_does_not_spend() {
        let limiter = limiter(1000);
        let now = Instant::now();
        for _ in 0..20 {
            assert_eq!(
                limiter.take(Budget::StaffAuthFailure, client("192.0.2.1"), now, false),
                Ok(())
            );
        }
    }

    #[test]
    fn a_limited_client_stays_limited_through_a_flood_of_new_addresses() {
        let limiter = limiter(2_000);
        let now = Instant::now();
        let attacker = client("198.51.100.1");
        for _ in 0..3 {
            limiter
                .take(Budget::PublicPost, attacker, now, true)
                .unwrap();
        }
        for n in 0..100_000u32 {
            let flood = ClientKey::of(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
            let _ = limiter.take(Budget::PublicPost, flood, now, true);
            if n % 500 == 0 {
                assert!(limiter
                    .take(Budget::PublicPost, attacker, now, true)
                    .is_err());
            }
        }
        assert!(limiter.buckets.len() <= 2_000);
        assert!(limiter
            .take(Budget::PublicPost, attacker, now, true)
            .is_err());
    }

    #[test]
    fn every_route_that_checks_a_token_has_a_budget() {
        for (method, path, budget) in [
            (Method::POST, "/api/v1/bookings", Budget::PublicPost),
            (Method::POST, "/api/v1/inquiries", Budget::PublicPost),
            (Method::POST, "/reserve", Budget::PublicPost),
            (Method::GET, "/api/v1/bookings/K7QM-3XWD", Budget::Manage),
            (
                Method::POST,
                "/api/v1/bookings/K7QM-3XWD/cancel",
                Budget::Manage,
            ),
            (Method::GET, "/manage/K7QM-3XWD", Budget::Manage),
            (Method::POST, "/manage/K7QM-3XWD/reschedule", Budget::Manage),
            (Method::GET, "/reserve/thanks/K7QM-3XWD", Budget::Manage),
            (Method::GET, "/inquiry/thanks/K7QM-3XWD", Budget::Manage),
            (Method::POST, "/api/v1/waitlist", Budget::PublicPost),
            (Method::POST, "/waitlist", Budget::PublicPost),
            (Method::GET, "/api/v1/waitlist/W4TQ-8MNP", Budget::Manage),
            (Method::POST, "/waitlist/W4TQ-8MNP/accept", Budget::Manage),
            (
                Method::PATCH,
                "/api/v1/staff/bookings/K7QM-3XWD",
                Budget::StaffAuthFailure,
            ),
            (
                Method::GET,
                "/api/v1/staff/calendar.ics",
                Budget::StaffAuthFailure,
            ),
        ] {
            assert_eq!(
                RateLimiter::budget_of(&method, path),
                Some(budget),
                "{path}"
            );
        }
        for path in ["/api/v1/availability", "/reserve", "/", "/articles/x"] {
            assert_eq!(RateLimiter::budget_of(&Method::GET, path), None, "{path}");
        }
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
