//! What wraps every request: rate limits, the refusal of cross-site POSTs
//! and security headers (CORS, CSP).

pub mod clients;
pub mod cross_site;
pub mod rate_limit;
pub mod security;
