//! Workflows: plain functions that do one piece of the clinic's work in
//! the caller's transaction. The JSON API, the HTML pages (the staff
//! console included) and the CLI call the same ones, so no rule is written
//! twice.

pub mod closures;
pub mod outbox_retry;
pub mod staff_reads;
pub mod staff_sessions;
