//! Black-box tests: the real application over HTTP, on SQLite and (with
//! `TEST_DATABASE_URL`) PostgreSQL.

mod console_helpers;
mod helpers;

mod articles;
mod availability;
mod backends;
mod backup;
mod bookings;
mod clinic;
mod concurrency;
mod data_at_rest;
mod deadline;
mod fhir;
mod forms;
mod health;
mod idempotency;
mod input;
mod inquiries;
mod log_canary;
mod mail;
mod mail_limits;
mod manage;
mod manage_links;
mod metrics;
mod openapi;
mod practitioners;
mod privacy;
mod rate_limits;
mod security;
mod shutdown;
mod staff_auth;
mod staff_bookings;
mod staff_calendar;
mod staff_cli;
mod staff_closures;
mod staff_console;
mod staff_console_auth;
mod staff_helpers;
mod staff_input;
mod staff_inquiries;
mod staff_outbox;
mod startup;
mod webhook_receiver;
mod webhooks;
