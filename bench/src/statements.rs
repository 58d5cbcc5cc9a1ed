//! Statements the service sends to its database, counted in the driver:
//! diesel's default instrumentation, installed before any connection opens,
//! sees every statement of every connection of this process (the service's
//! pools, its SQLite writer, the bench's own baselines). Each statement is
//! one round trip on PostgreSQL (diesel sends an uncached statement with
//! its parameters in one message, `PQsendQueryParams`); a statement
//! prepared for the cache costs one more, once per connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use diesel::connection::{Instrumentation, InstrumentationEvent};

/// Who sent a statement, by the thread it ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sender {
    /// The HTTP workers' database calls (actix's runtimes' blocking
    /// threads): the bookings themselves on PostgreSQL.
    Requests,
    /// The service runtime: the mail worker, the webhooks worker.
    Background,
    /// SQLite's one writer thread (every write, bookings and mail alike).
    SqliteWriter,
    /// PostgreSQL's schedule listener: the NOTIFYs naming changed days.
    Listener,
    Other,
}

impl Sender {
    fn of_current_thread() -> Sender {
        match std::thread::current().name() {
            Some(name) if name.starts_with("tokio-rt-worker") => Sender::Requests,
            Some(name) if name.starts_with("service-rt") => Sender::Background,
            Some("sqlite-writer") => Sender::SqliteWriter,
            Some("schedule-listener") => Sender::Listener,
            _ => Sender::Other,
        }
    }
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);
static BACKGROUND: AtomicU64 = AtomicU64::new(0);
static SQLITE_WRITER: AtomicU64 = AtomicU64::new(0);
static LISTENER: AtomicU64 = AtomicU64::new(0);
static OTHER: AtomicU64 = AtomicU64::new(0);
static PREPARED: AtomicU64 = AtomicU64::new(0);

/// The statements sent by the HTTP workers, by their first words, while
/// `record_texts` is on (to print which statements a booking sends).
static TEXTS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

struct Counter;

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                let sender = Sender::of_current_thread();
                let counter = match sender {
                    Sender::Requests => &REQUESTS,
                    Sender::Background => &BACKGROUND,
                    Sender::SqliteWriter => &SQLITE_WRITER,
                    Sender::Listener => &LISTENER,
                    Sender::Other => &OTHER,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if sender == Sender::Requests {
                    if let Ok(mut texts) = TEXTS.lock() {
                        if let Some(texts) = texts.as_mut() {
                            let text = query.to_string();
                            let short: String = text.chars().take(70).collect();
                            *texts.entry(short).or_default() += 1;
                        }
                    }
                }
            }
            InstrumentationEvent::CacheQuery { .. } => {
                PREPARED.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

fn counter() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(Counter))
}

/// Counts every later connection's statements.
pub fn install() {
    let _ = diesel::connection::set_default_instrumentation(counter);
}

/// The counts so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub requests: u64,
    pub background: u64,
    pub sqlite_writer: u64,
    pub listener: u64,
    pub prepared: u64,
}

pub fn now() -> Counts {
    Counts {
        requests: REQUESTS.load(Ordering::Relaxed),
        background: BACKGROUND.load(Ordering::Relaxed),
        sqlite_writer: SQLITE_WRITER.load(Ordering::Relaxed),
        listener: LISTENER.load(Ordering::Relaxed),
        prepared: PREPARED.load(Ordering::Relaxed),
    }
}

impl Counts {
    pub fn add(&mut self, more: &Counts) {
        self.requests += more.requests;
        self.background += more.background;
        self.sqlite_writer += more.sqlite_writer;
        self.listener += more.listener;
        self.prepared += more.prepared;
    }

    pub fn since(self, before: Counts) -> Counts {
        Counts {
            requests: self.requests - before.requests,
            background: self.background - before.background,
            sqlite_writer: self.sqlite_writer - before.sqlite_writer,
            listener: self.listener - before.listener,
            prepared: self.prepared - before.prepared,
        }
    }
}

/// Starts (or stops, giving back what was seen) recording statement texts.
pub fn record_texts(on: bool) -> Vec<(String, u64)> {
    let Ok(mut texts) = TEXTS.lock() else {
        return Vec::new();
    };
    let seen = if on {
        texts.replace(HashMap::new())
    } else {
        texts.take()
    };
    let mut seen: Vec<(String, u64)> = seen.unwrap_or_default().into_iter().collect();
    seen.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    seen
}
