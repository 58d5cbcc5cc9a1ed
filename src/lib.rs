//! clinic-booking: the reservation and inquiry backend of N2クリニック銀座本院.
//!
//! Data flows one way: `routes` -> `workflows` -> `domain` / `schedule` /
//! `db` / `mail`. See docs/ARCHITECTURE.md.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod articles;
pub mod configuration;
pub mod db;
pub mod domain;
pub mod error;
pub mod i18n;
pub mod ics;
pub mod mail;
pub mod metrics;
pub mod preflight;
pub mod private_files;
pub mod routes;
pub mod schedule;
pub mod server_key;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod webhooks;
pub mod workflows;

/// The service's memory allocator, for every program that links it (the
/// service, its tests, the benchmark). With glibc's, threads share a few
/// arenas behind locks, and memory allocated on one thread and freed on
/// another (a booking drafted by an HTTP worker, stored by the SQLite
/// writer) takes the other thread's lock. mimalloc keeps a heap per thread
/// and frees across threads without a lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
