//! `clinic-booking backup PATH` copies a live SQLite database.

use std::process::Command;

use crate::helpers::{local, manage_token, open_day, spawn_on, Backend, TestDatabase};

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
