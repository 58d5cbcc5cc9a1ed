//! Black-box tests: the real application over HTTP, on SQLite and (with
//! `TEST_DATABASE_URL`) PostgreSQL.

mod helpers;

mod availability;
mod bookings;
mod clinic;
mod concurrency;
mod health;
mod idempotency;
mod input;
mod manage;
mod staff_auth;
mod staff_bookings;
mod staff_calendar;
mod staff_cli;
mod staff_closures;
mod staff_helpers;
mod staff_input;
mod startup;
