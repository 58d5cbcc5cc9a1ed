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
