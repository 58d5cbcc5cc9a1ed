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
async fn a_questionnaire_for_a_type_the_clinic_does_not_offer_stops_start_up() {
    let db = TestDatabase::create(Backend::Sqlite);
    let mut settings = test_settings(&db);
    settings
        .schedule
        .consultation_types
        .retain(|kind| kind.code != "consultation");
    settings.schedule.default_type = "follow-up".into();
    let message = error_of(Application::build(settings).await);
    assert!(
        message.contains("questionnaire knee-intake version 1"),
        "{message}"
    );
    assert!(message.contains("\"consultation\""), "{message}");
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

#[tokio::test]
async fn smtp_credentials_over_a_plain_connection_to_another_host_stop_start_up() {
    let db = TestDatabase::create(Backend::Sqlite);
    let mut settings = test_settings(&db);
    settings.mail.smtp_url = "smtp://smtp.example.jp:587?tls=opportunistic".into();
    settings.mail.smtp_username = Some("clinic".into());
    settings.mail.smtp_password = Some("s3cret-pass".to_string().into());
    let message = error_of(Application::build(settings).await);
    assert!(message.contains("mail.smtp_url"), "{message}");
    assert!(message.contains("unencrypted"), "{message}");
    assert!(!message.contains("s3cret-pass"), "{message}");
}

#[test]
fn the_binary_refuses_plain_smtp_credentials_in_one_line_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary(
        dir.path(),
        &["serve"],
        &[
            ("CLINIC__SERVER__BIND", "127.0.0.1:0"),
            ("CLINIC__MAIL__SMTP_URL", "smtp://smtp.example.jp:25"),
            ("CLINIC__MAIL__SMTP_USERNAME", "clinic"),
            ("CLINIC__MAIL__SMTP_PASSWORD", "s3cret-pass"),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unencrypted"), "{stderr}");
    assert!(stderr.contains("tls=required"), "{stderr}");
    assert!(!stderr.contains("s3cret-pass"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Starts the binary with `env`, waits until it listens, stops it, and
/// returns what it logged up to then.
fn log_until_listening(env: &[(&str, &str)]) -> String {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_clinic-booking"));
    command
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CLINIC__")) {
        command.env_remove(key);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start clinic-booking");
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !log.contains("listening on") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("listening on"), "it did not start: {log}");
    log
}

#[test]
fn a_loopback_public_url_while_listening_on_every_interface_is_warned_about_at_start() {
    let log = log_until_listening(&[
        ("CLINIC__SERVER__BIND", "0.0.0.0:0"),
        ("CLINIC__SERVER__PUBLIC_URL", "http://127.0.0.1:8080"),
    ]);
    let warning = log
        .lines()
        .find(|line| line.contains("server.public_url") && line.contains("loopback"))
        .unwrap_or_else(|| panic!("no warning in {log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("http://127.0.0.1:8080"), "{warning}");
}

#[test]
fn a_loopback_public_url_on_a_loopback_listener_is_not_warned_about() {
    let log = log_until_listening(&[
        ("CLINIC__SERVER__BIND", "127.0.0.1:0"),
        ("CLINIC__SERVER__PUBLIC_URL", "http://127.0.0.1:8080"),
    ]);
    assert!(!log.contains("server.public_url"), "{log}");
    // And the default says where /metrics is (not served).
    assert!(log.contains("GET /metrics is not served"), "{log}");
}
