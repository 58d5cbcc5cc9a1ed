//! The same-run baselines: the durable single-row insert with no HTTP, and
//! a bare actix-web handler.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};

/// A booking-sized row, one per transaction, into the real `bookings`
/// table (the schema comes from the service's migrations).
fn insert_sql(prefix: &str, n: u64) -> String {
    format!(
        "INSERT INTO bookings (reference, manage_token_hash, status, type_code, start_at, end_at, \
         name, name_kana, email, phone, first_visit, message, source, consent_at, consent_version, \
         sequence, created_at, updated_at) VALUES ('{prefix}{n:010}', \
         '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'confirmed', \
         'consultation', '2030-01-07 01:00:00', '2030-01-07 01:30:00', '予約 太郎', 'ヨヤク タロウ', \
         'p{n}@example.jp', '090-1234-5678', TRUE, '右膝が痛みます。', NULL, '2026-11-25 00:00:00', \
         '2026-11-01', 0, '2026-11-25 00:00:00', '2026-11-25 00:00:00')"
    )
}

/// Commits per second of one writer doing single-row transactions on a
/// SQLite file in WAL mode with synchronous=FULL (what the service sets).
pub fn sqlite_inserts(path: &str, prefix: &str, duration: Duration) -> anyhow::Result<(f64, u64)> {
    let mut conn = SqliteConnection::establish(path).context("baseline sqlite")?;
    conn.batch_execute(
        "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        conn.batch_execute(&insert_sql(prefix, n))?;
        n += 1;
    }
    Ok((n as f64 / start.elapsed().as_secs_f64(), n))
}

/// Commits per second of `writers` PostgreSQL sessions each doing
/// single-row transactions (PostgreSQL's own group commit applies).
pub fn postgres_inserts(
    url: &str,
    writers: usize,
    duration: Duration,
) -> anyhow::Result<(f64, u64)> {
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut threads = Vec::new();
    for writer in 0..writers {
        let url = url.to_string();
        let count = count.clone();
        threads.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let mut conn = PgConnection::establish(&url).context("baseline postgres")?;
            let mut n = 0u64;
            while start.elapsed() < duration {
                conn.batch_execute(&insert_sql(&format!("B{writer:03}"), n))?;
                n += 1;
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("baseline thread panicked"))??;
    }
    let n = count.load(Ordering::Relaxed);
    Ok((n as f64 / start.elapsed().as_secs_f64(), n))
}

/// A bare actix-web server answering `GET /bare` with `body` serialised
/// afresh each time (as the service serialises its answer).
pub fn bare_server(
    body: serde_json::Value,
    workers: usize,
) -> anyhow::Result<(SocketAddr, actix_web::dev::ServerHandle)> {
    let body = web::Data::new(body);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new().app_data(body.clone()).route(
            "/bare",
            web::get().to(|body: web::Data<serde_json::Value>| async move {
                HttpResponse::Ok().json(body.get_ref())
            }),
        )
    })
    .listen(listener)?
    .workers(workers)
    .shutdown_timeout(1)
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok((address, handle))
}
