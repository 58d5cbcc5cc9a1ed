//! Fills a database with years of history (bookings with their slot claims
//! and sent outbox messages, which keep no text once sent) in large
//! transactions, and reads the query plans of the hot queries.

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};

const TOKEN_HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// Seeded bookings share slots four to a slot (seats 1..=4), in the past.
const SEATS: u64 = 4;
const BATCH: u64 = 250_000;

/// `count` past bookings ending before `base` (UTC, "YYYY-MM-DD HH:MM:SS").
pub fn sqlite(path: &str, count: u64, base: &str) -> anyhow::Result<()> {
    let mut conn = SqliteConnection::establish(path)?;
    // Seeding only: the history is not worth an fsync per batch.
    conn.batch_execute(
        "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;",
    )?;
    let mut from = 0;
    while from < count {
        let to = (from + BATCH).min(count);
        let n = format!(
            "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {last})",
            last = to - 1
        );
        let slot = format!("datetime('{base}', printf('-%d minutes', 30 * (i / {SEATS} + 1)))");
        let slot_end = format!("datetime('{base}', printf('-%d minutes', 30 * (i / {SEATS})))");
        conn.batch_execute(&format!(
            "BEGIN;
            {n} INSERT INTO bookings (reference, manage_token_hash, status, type_code, start_at,
                end_at, name, name_kana, email, phone, first_visit, message, source, consent_at,
                consent_version, sequence, created_at, updated_at)
              SELECT printf('S%010d', i), '{TOKEN_HASH}', 'completed', 'consultation', {slot},
                {slot_end}, '予約 太郎', 'ヨヤク タロウ', printf('s%d@example.jp', i), '090-1234-5678',
                1, NULL, NULL, {slot}, '2026-11-01', 0, {slot}, {slot} FROM n;
            {n} INSERT INTO slot_claims (slot_start, seat, booking_reference)
              SELECT {slot}, i % {SEATS} + 1, printf('S%010d', i) FROM n;
            {n} INSERT INTO outbox (kind, audience, reference, recipient, status,
                attempts, next_attempt_at, created_at, updated_at, sent_at)
              SELECT 'booking_confirmed', 'patient', printf('S%010d', i), printf('s%d@example.jp', i),
                'sent', 1, {slot}, {slot}, {slot}, {slot}
              FROM n;
            {n} INSERT INTO outbox (kind, audience, reference, recipient, status,
                attempts, next_attempt_at, created_at, updated_at, sent_at)
              SELECT 'clinic_booking_confirmed', 'clinic', printf('S%010d', i), 'info@n2clinic-ginza.com',
                'sent', 1, {slot}, {slot}, {slot}, {slot}
              FROM n;
            COMMIT;"
        ))?;
        from = to;
    }
    conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

/// The same history on PostgreSQL.
pub fn postgres(url: &str, count: u64, base: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(url)?;
    conn.batch_execute("SET synchronous_commit = off;")?;
    let mut from = 0;
    while from < count {
        let to = (from + BATCH).min(count);
        let n = format!(
            "FROM generate_series({from}::bigint, {last}::bigint) AS i",
            last = to - 1
        );
        let slot = format!("(TIMESTAMP '{base}' - (30 * (i / {SEATS} + 1)) * INTERVAL '1 minute')");
        let slot_end = format!("(TIMESTAMP '{base}' - (30 * (i / {SEATS})) * INTERVAL '1 minute')");
        let reference = "'S' || lpad(i::text, 10, '0')";
        conn.batch_execute(&format!(
            "BEGIN;
            INSERT INTO bookings (reference, manage_token_hash, status, type_code, start_at,
                end_at, name, name_kana, email, phone, first_visit, message, source, consent_at,
                consent_version, sequence, created_at, updated_at)
              SELECT {reference}, '{TOKEN_HASH}', 'completed', 'consultation', {slot},
                {slot_end}, '予約 太郎', 'ヨヤク タロウ', 's' || i || '@example.jp', '090-1234-5678',
                TRUE, NULL, NULL, {slot}, '2026-11-01', 0, {slot}, {slot} {n};
            INSERT INTO slot_claims (slot_start, seat, booking_reference)
              SELECT {slot}, (i % {SEATS} + 1)::int, {reference} {n};
            INSERT INTO outbox (kind, audience, reference, recipient, status,
                attempts, next_attempt_at, created_at, updated_at, sent_at)
              SELECT 'booking_confirmed', 'patient', {reference}, 's' || i || '@example.jp',
                'sent', 1, {slot}, {slot}, {slot}, {slot} {n};
            INSERT INTO outbox (kind, audience, reference, recipient, status,
                attempts, next_attempt_at, created_at, updated_at, sent_at)
              SELECT 'clinic_booking_confirmed', 'clinic', {reference}, 'info@n2clinic-ginza.com',
                'sent', 1, {slot}, {slot}, {slot}, {slot} {n};
            COMMIT;"
        ))?;
        from = to;
    }
    // What autovacuum would do shortly after such a load, done now so that
    // it does not run during the measurements.
    conn.batch_execute("VACUUM ANALYZE;")?;
    conn.batch_execute("CHECKPOINT;")?;
    Ok(())
}

/// The hot queries, as the service sends them (values inlined).
pub fn hot_queries(
    day: &str,
    week_end: &str,
    recipient: &str,
    now: &str,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "availability: seats taken per slot in 7 days",
            format!(
                "SELECT slot_start, COUNT(*) FROM slot_claims WHERE slot_start >= '{day} 01:00:00' \
                 AND slot_start < '{week_end} 01:00:00' GROUP BY slot_start"
            ),
        ),
        (
            "availability/booking: closures overlapping a range",
            format!(
                "SELECT id, start_at, end_at FROM closures WHERE start_at < '{day} 09:00:00' \
                 AND end_at > '{day} 01:00:00'"
            ),
        ),
        (
            "booking: seats taken in one slot",
            format!("SELECT seat FROM slot_claims WHERE slot_start = '{day} 01:00:00'"),
        ),
        (
            "booking: per-recipient mail cap",
            format!(
                "SELECT COUNT(*) FROM outbox WHERE recipient_key = '{recipient}' \
                 AND audience = 'patient' AND created_at >= '{now}' AND status <> 'suppressed' \
                 AND kind <> 'booking_reminder'"
            ),
        ),
        (
            "booking/manage: booking by reference",
            "SELECT reference, status FROM bookings WHERE reference = 'S0000000042'".to_string(),
        ),
        (
            "mail worker: next due messages",
            format!(
                "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= '{now}' \
                 AND (locked_until IS NULL OR locked_until < '{now}') \
                 ORDER BY next_attempt_at ASC, id ASC LIMIT 32"
            ),
        ),
        (
            "mail worker: is anything due (the poll of an idle worker, every 2 s)",
            format!(
                "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= '{now}' \
                 AND (locked_until IS NULL OR locked_until < '{now}') \
                 ORDER BY next_attempt_at ASC LIMIT 1"
            ),
        ),
        (
            "metrics scrape and staff mail page: messages per status",
            "SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status".to_string(),
        ),
        (
            "mail worker: claim the chosen messages (by id; the status test is kept off the due index)",
            format!(
                "UPDATE outbox SET locked_until = '{now}', lease_owner = 'worker-1' \
                 WHERE id IN (42, 43, 44) AND (status || '') = 'pending' \
                 AND (locked_until IS NULL OR locked_until < '{now}')"
            ),
        ),
        (
            "mail worker: record sent messages (by id)",
            format!(
                "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = '{now}', \
                 locked_until = NULL, lease_owner = NULL, updated_at = '{now}' \
                 WHERE id IN (42, 43, 44) AND lease_owner = 'worker-1' AND (status || '') = 'pending'"
            ),
        ),
        (
            "mail worker: the mail of the claimed messages' bookings (order rule)",
            "SELECT id, reference, recipient, status, kind FROM outbox \
             WHERE reference IN ('S0000000042', 'S0000000043', 'S0000000044')"
                .to_string(),
        ),
    ]
}

#[derive(QueryableByName)]
struct SqlitePlanRow {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PostgresPlanRow {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    plan: String,
}

pub fn sqlite_plans(
    path: &str,
    queries: &[(&'static str, String)],
) -> anyhow::Result<Vec<(String, String)>> {
    let mut conn = SqliteConnection::establish(path)?;
    // The service may still be closing the file (its last connection
    // checkpoints the WAL): wait for that instead of failing.
    diesel::connection::SimpleConnection::batch_execute(&mut conn, "PRAGMA busy_timeout = 10000;")?;
    let mut plans = Vec::new();
    for (name, sql) in queries {
        let rows: Vec<SqlitePlanRow> =
            diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load(&mut conn)?;
        let detail = rows
            .into_iter()
            .map(|r| r.detail)
            .collect::<Vec<_>>()
            .join("\n");
        plans.push((
            name.to_string(),
            format!("{sql}\n  -> {}", detail.replace('\n', "\n  -> ")),
        ));
    }
    Ok(plans)
}

pub fn postgres_plans(
    url: &str,
    queries: &[(&'static str, String)],
) -> anyhow::Result<Vec<(String, String)>> {
    let mut conn = PgConnection::establish(url)?;
    let mut plans = Vec::new();
    for (name, sql) in queries {
        let rows: Vec<PostgresPlanRow> =
            diesel::sql_query(format!("EXPLAIN {sql}")).load(&mut conn)?;
        let detail = rows
            .into_iter()
            .map(|r| r.plan)
            .collect::<Vec<_>>()
            .join("\n  ");
        plans.push((name.to_string(), format!("{sql}\n  {detail}")));
    }
    Ok(plans)
}
