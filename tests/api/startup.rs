use std::process::Command;

use clinic_booking::startup::Application;

use crate::helpers::{test_settings, Backend, TestDatabase};

fn error_of(result: anyhow::Result<Application>) -> String {
    match result {
        Ok(_) => panic!("start-up should have failed"),
        Err(error) => format!("{error:#}"),
    }
}

#[tokio::test]
async fn a_capacity_of_zero_stops_start_up_naming_the_setting() {
    let db = TestDatabase::create(Backend::Sqlite);
    let mut settings = test_settings(&db);
    settings.schedule.capacity_per_slot = 0;
    assert!(error_of(Application::build(settings).await).contains("schedule.capacity_per_slot"));
}

#[tokio::test]
async fn an_unknown_default_type_stops_start_up_naming_the_setting() {
    let db = TestDatabase::create(Backend::Sqlite);
    let mut settings = test_settings(&db);
    settings.schedule.default_type = "massage".into();
    assert!(error_of(Application::build(settings).await).contains("schedule.default_type"));
}

#[tokio::test]
async fn an_unreachable_database_stops_start_up_with_the_real_reason() {
    let db = TestDatabase::create(Backend::Sqlite);
    let mut settings = test_settings(&db);
    settings.database.url = "postgres://postgres@127.0.0.1:1/clinic".to_string().into();
    let message = error_of(Application::build(settings).await);
    assert!(
        message.contains("cannot connect to PostgreSQL"),
        "{message}"
    );
    assert!(message.to_lowercase().contains("connect"), "{message}");
}

fn binary(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clinic-booking"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CLINIC__")) {
        command.env_remove(key);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run clinic-booking")
}

#[test]
fn migrate_creates_the_sqlite_database_under_data() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary(dir.path(), &["migrate"], &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("data/clinic.db").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &str| {
        std::fs::metadata(dir.path().join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("data"), 0o700);
    assert_eq!(mode("data/clinic.db"), 0o600);
}

#[test]
fn a_bad_setting_from_the_environment_is_one_clear_line_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary(
        dir.path(),
        &["migrate"],
        &[("CLINIC__SCHEDULE__CAPACITY_PER_SLOT", "0")],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("schedule.capacity_per_slot"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn config_local_toml_overrides_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/local.toml"),
        "[schedule]\nopen = \"10h\"\n",
    )
    .unwrap();
    let output = binary(dir.path(), &["migrate"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("schedule.open"));
}

#[test]
fn an_unknown_command_is_refused_with_the_usage() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary(dir.path(), &["frobnicate"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage"));
}
