//! `clinic-booking backup PATH` copies a live SQLite database.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;

use crate::helpers::{
    booking_body, local, manage_token, open_day, spawn_on, Backend, TestDatabase,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_the_running_database_holds_every_booking() {
    let db = TestDatabase::create(Backend::Sqlite);
    let app = spawn_on(db.clone(), |_| {}).await;
    let booking = app.book(&local(open_day(3), "10:00")).await;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let output = Command::new(env!("CARGO_BIN_EXE_clinic-booking"))
        .args(["backup", copy.to_str().unwrap()])
        .current_dir(dir.path())
        .env("CLINIC__DATABASE__URL", &db.url)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The copy serves the booking on its own.
    let restored = TestDatabase::sqlite_at(copy);
    let from_copy = spawn_on(restored, |_| {}).await;
    let reference = booking["reference"].as_str().unwrap();
    let response = from_copy
        .get(&format!(
            "/api/v1/bookings/{reference}?token={}",
            manage_token(&booking)
        ))
        .await;
    assert_eq!(response.status(), 200);

    // An existing file is never overwritten.
    let again = Command::new(env!("CARGO_BIN_EXE_clinic-booking"))
        .args(["backup", dir.path().join("copy.db").to_str().unwrap()])
        .current_dir(dir.path())
        .env("CLINIC__DATABASE__URL", &db.url)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!again.status.success());
}

#[test]
fn backup_refuses_postgres_and_points_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_clinic-booking"))
        .args(["backup", "x.db"])
        .current_dir(dir.path())
        .env(
            "CLINIC__DATABASE__URL",
            "postgres://postgres@127.0.0.1:1/none",
        )
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("pg_dump"));
}

/// SQLite's writer leaves the WAL to a checkpointer thread: committed
/// bookings still reach the database file itself, shortly after. (Opened
/// `immutable`, SQLite reads only that file and ignores the WAL.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_writes_reach_the_sqlite_file_itself_not_only_its_wal() {
    use diesel::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    let db = TestDatabase::create(Backend::Sqlite);
    let app = spawn_on(db.clone(), |_| {}).await;
    let day = open_day(3);
    for time in ["10:00", "10:30", "11:00"] {
        app.book(&local(day, time)).await;
    }
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut file_only =
            clinic_booking::db::sqlite_memory::establish(&format!("file:{path}?immutable=1"))
                .unwrap();
        let counted: Vec<Count> = diesel::sql_query("SELECT COUNT(*) AS n FROM bookings")
            .load(&mut file_only)
            .unwrap_or_default();
        if counted.first().map(|c| c.n) == Some(3) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the bookings never left the WAL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

/// Fills the audit log with ~60 MB of history, so that a copy takes many
/// of SQLite's backup steps.
fn seed_history(url: &str) {
    let settings = clinic_booking::configuration::Settings::defaults().unwrap();
    let db = clinic_booking::db::Db::connect(&settings.database, url).unwrap();
    db.run_migrations().unwrap();
    let mut conn = db.connection().unwrap();
    conn.batch_execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
         INSERT INTO audit_log (at, actor, action, reference, detail)
         SELECT '2025-01-01 00:00:00', 'seed', 'seed', NULL, hex(randomblob(500)) FROM n;",
    )
    .unwrap();
}

/// The backup finishes while bookings are written without pause, and its
/// copy (mode 0600) is whole and holds every booking confirmed before it
/// started.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_finishes_on_a_busy_database_and_holds_what_was_confirmed_before() {
    let db = TestDatabase::create(Backend::Sqlite);
    seed_history(&db.url);
    let app = Arc::new(
        spawn_on(db.clone(), |settings| {
            settings.schedule.capacity_per_slot = 1000;
        })
        .await,
    );
    let confirmed = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|n| {
            let (app, confirmed, stop) = (app.clone(), confirmed.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    // Spread over the day's 17 slots of 1,000 seats each.
                    let slot = 10 * 60 + 30 * (i % 17);
                    let start = local(open_day(3), &format!("{:02}:{:02}", slot / 60, slot % 60));
                    let mut body = booking_body(&start);
                    body["email"] = format!("busy{n}.{i}@example.jp").into();
                    i += 1;
                    let response = app.post_booking(&body).await;
                    assert_eq!(response.status(), 201);
                    let booking: serde_json::Value = response.json().await.unwrap();
                    let reference = booking["reference"].as_str().unwrap().to_string();
                    confirmed.lock().unwrap().push(reference);
                }
            })
        })
        .collect();
    while confirmed.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before: BTreeSet<String> = confirmed.lock().unwrap().iter().cloned().collect();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let mut backup = Command::new(env!("CARGO_BIN_EXE_clinic-booking"))
        .args(["backup", copy.to_str().unwrap()])
        .current_dir(dir.path())
        .env("CLINIC__DATABASE__URL", &db.url)
        .env_remove("DATABASE_URL")
        .spawn()
        .unwrap();
    let began = Instant::now();
    let status = loop {
        if let Some(status) = backup.try_wait().unwrap() {
            break status;
        }
        // VACUUM INTO copies the 60 MB in a second or two; the online
        // backup API, starting over at every commit, took half a minute
        // here and may never end.
        if began.elapsed() > Duration::from_secs(20) {
            let _ = backup.kill();
            let _ = backup.wait();
            panic!("the backup did not finish in 20 s under writes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let during = confirmed.lock().unwrap().len() - before.len();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(status.success(), "backup failed");
    assert!(during > 0, "bookings went on during the backup");
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let mut restored =
        clinic_booking::db::sqlite_memory::establish(copy.to_str().unwrap()).unwrap();
    let check: Vec<Text> =
        diesel::sql_query("SELECT integrity_check AS text FROM pragma_integrity_check")
            .load(&mut restored)
            .unwrap();
    assert_eq!(check.len(), 1);
    assert_eq!(check[0].text, "ok");
    let stored: BTreeSet<String> = diesel::sql_query("SELECT reference AS text FROM bookings")
        .load::<Text>(&mut restored)
        .unwrap()
        .into_iter()
        .map(|row| row.text)
        .collect();
    let missing: Vec<&String> = before.difference(&stored).collect();
    assert!(missing.is_empty(), "missing from the copy: {missing:?}");
}
