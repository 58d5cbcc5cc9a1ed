//! The same-run baselines: the durable single-row insert with no HTTP (on
//! SQLite also with every core kept busy), a bare actix-web handler, and
//! on PostgreSQL the rows one booking wrote, sent as a transaction of one
//! INSERT per table, with the booking's reads, as the patient's lock, the
//! reads and the rows in a statement each, or as one statement (with or
//! without the reads).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};

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

/// The rows one booking wrote, as SQL: the template of the booking-shaped
/// baseline. Each transaction writes the same rows under its own
/// reference (and idempotency key, and slot).
#[derive(Clone)]
pub struct BookingRows {
    /// (table, column list, values list) of each single row; a claim's
    /// slot as `{slot}`.
    rows: Vec<(String, String, String)>,
    /// The outbox rows (one multi-row INSERT … RETURNING id), then their
    /// contents, in the same order (`None`: a message that stores none, a
    /// reminder), each values list with `{id}`.
    outbox: (String, Vec<String>),
    contents: (String, Vec<Option<String>>),
    pub reference: String,
}

#[derive(diesel::QueryableByName)]
struct Json {
    #[diesel(sql_type = diesel::sql_types::Text)]
    row: String,
}

#[derive(diesel::QueryableByName)]
struct Checks {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    ok: bool,
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

fn literal(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "NULL".into(),
        serde_json::Value::Bool(b) => format!("'{b}'"),
        serde_json::Value::Number(n) => format!("'{n}'"),
        serde_json::Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}

/// (columns, values) of a row given as JSON, leaving out `skip`.
fn columns_values(row: &str, skip: &[&str]) -> anyhow::Result<(String, String)> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(row)?;
    let kept: Vec<(&String, &serde_json::Value)> = object
        .iter()
        .filter(|(column, _)| !skip.contains(&column.as_str()))
        .collect();
    let columns = kept
        .iter()
        .map(|(c, _)| c.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let values = kept
        .iter()
        .map(|(_, v)| literal(v))
        .collect::<Vec<_>>()
        .join(", ");
    Ok((columns, values))
}

impl BookingRows {
    /// Reads what the booking `reference` wrote (made with an
    /// Idempotency-Key, in the service's database at `url`).
    pub fn read(url: &str, reference: &str) -> anyhow::Result<BookingRows> {
        let mut conn = PgConnection::establish(url).context("template booking")?;
        let mut rows_of = |sql: &str| -> anyhow::Result<Vec<String>> {
            let rows: Vec<Json> = diesel::sql_query(sql)
                .bind::<diesel::sql_types::Text, _>(reference)
                .load(&mut conn)?;
            Ok(rows.into_iter().map(|r| r.row).collect())
        };
        let mut rows = Vec::new();
        let singles = [
            ("bookings", "SELECT row_to_json(t)::text AS row FROM bookings t WHERE reference = $1", &[][..]),
            ("slot_claims", "SELECT row_to_json(t)::text AS row FROM slot_claims t WHERE booking_reference = $1", &[][..]),
            ("resource_claims", "SELECT row_to_json(t)::text AS row FROM resource_claims t WHERE booking_reference = $1", &[][..]),
            ("idempotency_keys", "SELECT row_to_json(t)::text AS row FROM idempotency_keys t WHERE location LIKE '%' || $1", &[][..]),
            ("audit_log", "SELECT row_to_json(t)::text AS row FROM audit_log t WHERE reference = $1", &["id"][..]),
        ];
        for (table, sql, skip) in singles {
            for row in rows_of(sql)? {
                // The key, made unique with the reference as the rest is.
                let mut object: serde_json::Value = serde_json::from_str(&row)?;
                if let Some(key) = object.get_mut("idempotency_key") {
                    *key = serde_json::Value::String(format!("key-{reference}"));
                }
                // Each transaction claims a slot of its own.
                if let Some(slot) = object.get_mut("slot_start") {
                    *slot = serde_json::Value::String("{slot}".into());
                }
                let (columns, values) = columns_values(&object.to_string(), skip)?;
                rows.push((table.to_string(), columns, values));
            }
        }
        // The messages as the booking stored them: waiting, not tried yet
        // (the template's were refused while it was read, so each that has
        // a content still has it).
        let mut outbox_columns = String::new();
        let mut outbox_values = Vec::new();
        let mut outbox_ids = Vec::new();
        for row in rows_of(
            "SELECT row_to_json(t)::text AS row FROM outbox t WHERE reference = $1 ORDER BY id",
        )? {
            let mut object: serde_json::Value = serde_json::from_str(&row)?;
            outbox_ids.push(object["id"].as_i64().context("an outbox id")?);
            object["status"] = "pending".into();
            object["attempts"] = 0.into();
            object["last_error"] = serde_json::Value::Null;
            object["failing_since"] = serde_json::Value::Null;
            let (columns, values) = columns_values(&object.to_string(), &["id"])?;
            outbox_columns = columns;
            outbox_values.push(values);
        }
        let mut contents_columns = String::new();
        let mut contents_values = vec![None; outbox_ids.len()];
        for row in rows_of(
            "SELECT row_to_json(c)::text AS row FROM outbox_contents c JOIN outbox o \
             ON o.id = c.outbox_id WHERE o.reference = $1 ORDER BY o.id",
        )? {
            let object: serde_json::Value = serde_json::from_str(&row)?;
            let id = object["outbox_id"]
                .as_i64()
                .context("a content's outbox id")?;
            let (columns, values) = columns_values(&row, &["outbox_id"])?;
            contents_columns = format!("outbox_id, {columns}");
            if let Some(at) = outbox_ids.iter().position(|known| *known == id) {
                contents_values[at] = Some(format!("{{id}}, {values}"));
            }
        }
        anyhow::ensure!(
            rows.iter().any(|(t, ..)| t == "bookings")
                && rows.iter().any(|(t, ..)| t == "idempotency_keys")
                && !outbox_values.is_empty()
                && contents_values.iter().any(Option::is_some),
            "the template booking's rows were not found"
        );
        Ok(BookingRows {
            rows,
            outbox: (outbox_columns, outbox_values),
            contents: (contents_columns, contents_values),
            reference: reference.to_string(),
        })
    }

    /// Statements per transaction (BEGIN and COMMIT included): one per
    /// table, the outbox rows in one; with the reads, five more; the lock,
    /// the reads and the rows, five; in one statement, one.
    pub fn statements(&self, shape: Shape) -> usize {
        let per_table = self.rows.len() + 2 + 2;
        match shape {
            Shape::PerTable => per_table,
            Shape::WithReads => per_table + 5,
            Shape::LockReadsRows => 5,
            Shape::OneStatement | Shape::OneStatementWithReads => 1,
        }
    }

    /// Every row in one INSERT with data-modifying CTEs: each table's row,
    /// the messages (RETURNING their ids), and their contents joined to
    /// those ids by position (a multi-row INSERT draws its ids in the
    /// order of its rows).
    fn one_statement(&self) -> String {
        let mut parts: Vec<String> = self
            .rows
            .iter()
            .enumerate()
            .map(|(at, (table, columns, values))| {
                let values = self.parameterised(values);
                format!("r{at} AS (INSERT INTO {table} ({columns}) VALUES ({values}))")
            })
            .collect();
        let (columns, rows) = &self.outbox;
        let rows: Vec<String> = rows
            .iter()
            .map(|v| format!("({})", self.parameterised(v)))
            .collect();
        parts.push(format!(
            "messages AS (INSERT INTO outbox ({columns}) VALUES {} RETURNING id)",
            rows.join(", ")
        ));
        parts.push(
            "numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS at FROM messages)".into(),
        );
        let (columns, contents) = &self.contents;
        let rest = columns.strip_prefix("outbox_id, ").unwrap_or(columns);
        let picked = rest
            .split(", ")
            .map(|column| format!("v.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        let values: Vec<String> = contents
            .iter()
            .enumerate()
            .filter_map(|(at, v)| {
                Some(format!(
                    "({})",
                    v.as_ref()?.replace("{id}", &(at + 1).to_string())
                ))
            })
            .collect();
        format!(
            "WITH {} INSERT INTO outbox_contents ({columns}) SELECT numbered.id, {picked} \
             FROM numbered JOIN (VALUES {}) AS v(at, {rest}) ON v.at = numbered.at",
            parts.join(", "),
            values.join(", ")
        )
    }

    /// The rules' four reads as one condition on the reference (`$1`,
    /// which stands for the patient and the key too) and the slot (`$2`):
    /// no answer stored for the Idempotency-Key, no closure over the slot,
    /// fewer than five of the patient's bookings ahead, fewer than ten
    /// messages to them in the last hour.
    fn rules_pass() -> &'static str {
        "NOT EXISTS (SELECT 1 FROM idempotency_keys \
             WHERE scope = 'bookings' AND idempotency_key = 'key-' || $1) \
         AND NOT EXISTS (SELECT 1 FROM closures \
             WHERE start_at < $2 + interval '30 minutes' AND end_at > $2) \
         AND (SELECT COUNT(*) FROM bookings WHERE mailbox_hash = $1 \
             AND (start_at > now() OR created_at >= now() - interval '60 minutes')) < 5 \
         AND (SELECT COUNT(*) FROM outbox WHERE recipient_key = $1 \
             AND audience = 'patient' AND created_at >= now() - interval '1 hour' \
             AND status <> 'suppressed' AND kind <> 'booking_reminder') < 10"
    }

    /// The reads of `WithReads` and the rows in one statement: a CTE
    /// takes the patient's lock and makes the rules' four reads, and every
    /// row is an `INSERT … SELECT` that writes only if they all pass (each
    /// message's contents joined to its id). Answers whether they passed.
    fn one_statement_with_reads(&self) -> String {
        let mut parts = vec![format!(
            "checks AS (SELECT pg_advisory_xact_lock(1835167608, $3) IS NOT NULL AND {} AS ok)",
            Self::rules_pass()
        )];
        for (at, (table, columns, values)) in self.rows.iter().enumerate() {
            let values = self.parameterised(values);
            parts.push(format!(
                "r{at} AS (INSERT INTO {table} ({columns}) SELECT {values} FROM checks WHERE ok)"
            ));
        }
        let (columns, messages) = &self.outbox;
        let (contents_columns, contents) = &self.contents;
        for (at, (message, content)) in messages.iter().zip(contents).enumerate() {
            parts.push(format!(
                "m{at} AS (INSERT INTO outbox ({columns}) SELECT {} FROM checks WHERE ok \
                 RETURNING id)",
                self.parameterised(message)
            ));
            if let Some(content) = content {
                let content = content.replace("{id}", &format!("m{at}.id"));
                parts.push(format!(
                    "c{at} AS (INSERT INTO outbox_contents ({contents_columns}) \
                     SELECT {content} FROM m{at})"
                ));
            }
        }
        format!("WITH {} SELECT ok FROM checks", parts.join(", "))
    }

    /// How many rows one booking wrote.
    fn row_count(&self) -> usize {
        self.rows.len() + self.outbox.1.len() + self.contents.1.iter().flatten().count()
    }

    /// A short description of what one transaction writes.
    pub fn describe(&self) -> String {
        let mut tables: Vec<&str> = self.rows.iter().map(|(t, ..)| t.as_str()).collect();
        tables.dedup();
        format!(
            "{} rows: {}, outbox ×{}, outbox_contents ×{}",
            self.row_count(),
            tables.join(", "),
            self.outbox.1.len(),
            self.contents.1.iter().flatten().count()
        )
    }

    fn with(&self, text: &str, reference: &str) -> String {
        text.replace(&self.reference, reference)
    }

    /// `text` for a prepared statement: the reference as `$1` (inside a
    /// longer literal, joined to its parts), the slot as `$2`.
    fn parameterised(&self, text: &str) -> String {
        text.replace(&format!("'{}'", self.reference), "$1")
            .replace(&self.reference, "' || $1 || '")
            .replace("'{slot}'", "$2")
    }

    /// The statements `shape` prepares on each connection, if any, with
    /// their parameters' types: the reference, the slot, the patient's
    /// lock.
    fn prepared(&self, shape: Shape) -> Option<String> {
        match shape {
            Shape::OneStatement => Some(format!(
                "PREPARE booking (text, timestamp) AS {}",
                self.one_statement()
            )),
            Shape::OneStatementWithReads => Some(format!(
                "PREPARE booking (text, timestamp, int) AS {}",
                self.one_statement_with_reads()
            )),
            Shape::LockReadsRows => Some(format!(
                "PREPARE rules_pass (text, timestamp) AS SELECT {} AS ok; \
                 PREPARE booking (text, timestamp) AS {}",
                Self::rules_pass(),
                self.one_statement()
            )),
            Shape::PerTable | Shape::WithReads => None,
        }
    }
}

/// How the booking-shaped baseline sends a booking's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// BEGIN, one INSERT per table (the messages in one, RETURNING their
    /// ids), their contents, COMMIT.
    PerTable,
    /// The same, with the reads a booking's rules make, as the service
    /// makes them, in the transaction: the Idempotency-Key, the closures
    /// over the slot, the patient's lock and bookings (the cap on active
    /// bookings) and their messages of the last hour (the mail cap). Each
    /// patient and key its own, as in the loads.
    WithReads,
    /// The fewest round trips a service could send with these rules kept
    /// as they are kept now, under the patient's lock: BEGIN, the lock,
    /// the reads of `WithReads` as one statement, the rows as one
    /// statement (`OneStatement`'s), COMMIT. A second, PostgreSQL-only
    /// way of storing a booking would send this; with no service around
    /// it, what that way could reach at most. Both statements prepared.
    LockReadsRows,
    /// The same rows as `PerTable` in one statement (data-modifying CTEs),
    /// a transaction of its own: one round trip. What writing a booking
    /// as one statement would save. Prepared once on each connection, as
    /// the service keeps its statements prepared (planning a statement of
    /// this size costs more than running it).
    OneStatement,
    /// The reads of `WithReads` and the rows in one statement, the lock
    /// taken in it: the fewest round trips any service could spend on a
    /// booking with these rules (one that kept them correct could not take
    /// the lock inside the statement whose reads it guards, as the
    /// statement reads what was committed before it started). Prepared as
    /// `OneStatement` is.
    OneStatementWithReads,
}

impl Shape {
    /// The reference of `writer`'s `n`th transaction: each shape its own,
    /// as they share one database.
    fn reference(self, writer: usize, n: u64) -> String {
        let variant = match self {
            Shape::PerTable => "T",
            Shape::WithReads => "R",
            Shape::LockReadsRows => "L",
            Shape::OneStatement => "O",
            Shape::OneStatementWithReads => "W",
        };
        format!("{variant}{writer:02}{n:08}")
    }

    /// Where this shape's slots start, in minutes from each writer's first.
    fn slot_offset(self) -> i64 {
        match self {
            Shape::PerTable => 0,
            Shape::WithReads => 3_000_000,
            Shape::OneStatement => 6_000_000,
            Shape::OneStatementWithReads => 9_000_000,
            Shape::LockReadsRows => 12_000_000,
        }
    }
}

/// Transactions per second of `writers` PostgreSQL sessions each writing,
/// one transaction at a time, the rows one booking writes (`template`),
/// sent as `shape` says: as literal values, as sent by diesel's simple
/// queries, or statements prepared on each connection and executed with
/// the transaction's reference and slot; each statement one round trip.
pub fn postgres_booking_transactions(
    url: &str,
    writers: usize,
    duration: Duration,
    template: &BookingRows,
    shape: Shape,
) -> anyhow::Result<(f64, u64)> {
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut threads = Vec::new();
    for writer in 0..writers {
        let url = url.to_string();
        let count = count.clone();
        let template = template.clone();
        threads.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let mut conn = PgConnection::establish(&url).context("baseline postgres")?;
            if let Some(prepare) = template.prepared(shape) {
                conn.batch_execute(&prepare)?;
            }
            let mut n = 0u64;
            while start.elapsed() < duration {
                // Each variant its own references and slots (one database).
                let reference = shape.reference(writer, n);
                // A slot of its own: the seat's key is (slot, seat).
                let minutes = (writer as i64) * 15_000_000 + shape.slot_offset() + n as i64;
                let slot = (chrono::NaiveDate::from_ymd_opt(2031, 1, 1)
                    .context("a date")?
                    .and_hms_opt(0, 0, 0)
                    .context("a time")?
                    + chrono::Duration::minutes(minutes))
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
                let lock_key = ((writer as i64) * 100_000_000 + n as i64) % i64::from(i32::MAX);
                match shape {
                    Shape::OneStatement => {
                        conn.batch_execute(&format!("EXECUTE booking ('{reference}', '{slot}')"))?;
                        n += 1;
                        count.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    Shape::OneStatementWithReads => {
                        ensure_rules_passed(
                            &mut conn,
                            &format!("EXECUTE booking ('{reference}', '{slot}', {lock_key})"),
                            &reference,
                        )?;
                        n += 1;
                        count.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    Shape::LockReadsRows => {
                        conn.batch_execute("BEGIN")?;
                        conn.batch_execute(&format!(
                            "SELECT pg_advisory_xact_lock(1835167608, {lock_key})"
                        ))?;
                        ensure_rules_passed(
                            &mut conn,
                            &format!("EXECUTE rules_pass ('{reference}', '{slot}')"),
                            &reference,
                        )?;
                        conn.batch_execute(&format!("EXECUTE booking ('{reference}', '{slot}')"))?;
                        conn.batch_execute("COMMIT")?;
                        n += 1;
                        count.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    Shape::PerTable | Shape::WithReads => {}
                }
                let with_reads = shape == Shape::WithReads;
                conn.batch_execute("BEGIN")?;
                if with_reads {
                    conn.batch_execute(&format!(
                        "SELECT * FROM idempotency_keys \
                         WHERE scope = 'bookings' AND idempotency_key = 'key-{reference}'"
                    ))?;
                    conn.batch_execute(&format!(
                        "SELECT id, closed_date, start_at, end_at, reason, created_by, \
                         created_at, resource FROM closures \
                         WHERE start_at < '{slot}'::timestamp + interval '30 minutes' \
                         AND end_at > '{slot}'"
                    ))?;
                    conn.batch_execute(&format!(
                        "SELECT pg_advisory_xact_lock(1835167608, {lock_key})"
                    ))?;
                    conn.batch_execute(&format!(
                        "SELECT reference, status, start_at, created_at FROM bookings \
                         WHERE mailbox_hash = '{reference}' \
                         AND (start_at > now() OR created_at >= now() - interval '60 minutes')"
                    ))?;
                }
                for (table, columns, values) in &template.rows {
                    let values = template.with(values, &reference).replace("{slot}", &slot);
                    conn.batch_execute(&format!(
                        "INSERT INTO {table} ({columns}) VALUES ({values})"
                    ))?;
                }
                if with_reads {
                    conn.batch_execute(&format!(
                        "SELECT COUNT(*) FROM outbox WHERE recipient_key = '{reference}' \
                         AND audience = 'patient' AND created_at >= now() - interval '1 hour' \
                         AND status <> 'suppressed' AND kind <> 'booking_reminder'"
                    ))?;
                }
                let (columns, rows) = &template.outbox;
                let values: Vec<String> = rows
                    .iter()
                    .map(|v| format!("({})", template.with(v, &reference)))
                    .collect();
                let ids: Vec<Id> = diesel::sql_query(format!(
                    "INSERT INTO outbox ({columns}) VALUES {} RETURNING id",
                    values.join(", ")
                ))
                .load(&mut conn)?;
                let (columns, rows) = &template.contents;
                let values: Vec<String> = rows
                    .iter()
                    .zip(&ids)
                    .filter_map(|(v, id)| {
                        Some(format!(
                            "({})",
                            v.as_ref()?.replace("{id}", &id.id.to_string())
                        ))
                    })
                    .collect();
                conn.batch_execute(&format!(
                    "INSERT INTO outbox_contents ({columns}) VALUES {}",
                    values.join(", ")
                ))?;
                conn.batch_execute("COMMIT")?;
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
    let rate = n as f64 / start.elapsed().as_secs_f64();
    // A baseline that wrote less than the booking would flatter it.
    let mut conn = PgConnection::establish(url).context("baseline postgres")?;
    let first = shape.reference(0, 0);
    let written = rows_written(&mut conn, &first)?;
    anyhow::ensure!(
        written == template.row_count(),
        "the {shape:?} baseline wrote {written} rows for {first}, the booking {}",
        template.row_count()
    );
    Ok((rate, n))
}

/// Runs `execute`, a statement answering whether the booking rules'
/// reads passed, and fails the baseline if they did not (a baseline that
/// skipped its rows would flatter the booking).
fn ensure_rules_passed(
    conn: &mut PgConnection,
    execute: &str,
    reference: &str,
) -> anyhow::Result<()> {
    let checks: Checks = diesel::sql_query(execute).get_result(conn)?;
    anyhow::ensure!(checks.ok, "the rules refused baseline booking {reference}");
    Ok(())
}

/// The rows the transaction that wrote `reference` left in the tables a
/// booking writes.
fn rows_written(conn: &mut PgConnection, reference: &str) -> anyhow::Result<usize> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count: Count = diesel::sql_query(
        "SELECT (SELECT COUNT(*) FROM bookings WHERE reference = $1) \
         + (SELECT COUNT(*) FROM slot_claims WHERE booking_reference = $1) \
         + (SELECT COUNT(*) FROM resource_claims WHERE booking_reference = $1) \
         + (SELECT COUNT(*) FROM idempotency_keys WHERE location LIKE '%' || $1) \
         + (SELECT COUNT(*) FROM audit_log WHERE reference = $1) \
         + (SELECT COUNT(*) FROM outbox WHERE reference = $1) \
         + (SELECT COUNT(*) FROM outbox_contents c JOIN outbox o ON o.id = c.outbox_id \
            WHERE o.reference = $1) AS n",
    )
    .bind::<diesel::sql_types::Text, _>(reference)
    .get_result(conn)?;
    Ok(usize::try_from(count.n)?)
}

/// `sqlite_inserts` while every core is kept busy by a spinning thread
/// (on these machines an idle core makes fsync several times slower, which
/// flatters the service's ratio against it). The spinners run as
/// `SCHED_IDLE`: the cores never idle, yet the writer runs the moment its
/// fsync returns (spinners of normal priority took its core for whole
/// scheduler ticks: 178 inserts/s against 2,658/s idle).
pub fn sqlite_inserts_busy(
    path: &str,
    prefix: &str,
    duration: Duration,
) -> anyhow::Result<(f64, u64)> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spinners: Vec<_> = (0..cores)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let param = libc::sched_param { sched_priority: 0 };
                // SAFETY: `param` is a valid sched_param; pid 0 names the
                // calling thread. Where it fails the thread spins as it is.
                unsafe {
                    libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
                }
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..10_000u64 {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(i),
                        );
                    }
                }
                x
            })
        })
        .collect();
    let result = sqlite_inserts(path, prefix, duration);
    stop.store(true, Ordering::Relaxed);
    for spinner in spinners {
        let _ = spinner.join();
    }
    result
}
