//! The clinic's workflows: plain functions, each one transaction that checks
//! the rules and stores the change with the mail it causes. The JSON API, the
//! HTML pages (the staff console included), the workers and the CLI all call
//! these, so no rule is written twice. Workflows never import `routes`.

pub mod audit;
pub mod availability;
pub mod booking;
pub mod closures;
pub mod inquiries;
pub mod outbox;
pub mod outbox_retry;
pub mod privacy;
pub mod questionnaire;
pub mod resources;
pub mod staff_reads;
pub mod staff_sessions;
pub mod staff_tokens;
pub mod waitlist;
pub mod webhooks;
