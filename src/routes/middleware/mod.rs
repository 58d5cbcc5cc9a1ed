//! What wraps every request: rate limits and security headers (CORS, CSP).

pub mod rate_limit;
pub mod security;
