use std::process::Command;

use crate::backend_tests;
use crate::helpers::{spawn_app, Backend, TestApp};

fn run(app: &TestApp, dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_clinic-booking"))
        .args(args)
        .current_dir(dir)
        .env("CLINIC__DATABASE__URL", app.database_url())
        .env_remove("DATABASE_URL")
        .output()
        .expect("run clinic-booking");
    if !output.status.success() {
        eprintln!(
            "{:?} failed ({:?}): {}",
            args,
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

async fn the_cli_prints_a_new_token_last_lists_without_it_and_revokes_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(
        &app,
        dir.path(),
        &["staff-token", "create", "--label", "reception"],
    );
    assert!(ok, "{out}");
    let token = out.lines().last().unwrap().trim().to_string();
    assert!(token.len() >= 22, "token of at least 128 bits: {token}");
    let status = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/staff/bookings"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(token.clone()).await, 200);

    let (ok, listed) = run(&app, dir.path(), &["staff-token", "list"]);
    assert!(ok);
    assert!(listed.contains("reception"), "{listed}");
    assert!(!listed.contains(&token));
    assert!(!listed.contains("last used never"), "it was used: {listed}");

    let (again, _) = run(
        &app,
        dir.path(),
        &["staff-token", "create", "--label", "reception"],
    );
    assert!(!again, "a label in use is refused");

    let (ok, _) = run(
        &app,
        dir.path(),
        &["staff-token", "revoke", "--label=reception"],
    );
    assert!(ok);
    assert_eq!(status(token).await, 401);
    let (ok, _) = run(
        &app,
        dir.path(),
        &["staff-token", "revoke", "--label", "reception"],
    );
    assert!(!ok, "revoking an unknown label fails");
}

async fn the_cli_creates_a_calendar_token_that_opens_only_the_feed_and_lists_scopes(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(
        &app,
        dir.path(),
        &[
            "staff-token",
            "create",
            "--label",
            "wall",
            "--scope",
            "calendar",
        ],
    );
    assert!(ok, "{out}");
    let calendar = out.lines().last().unwrap().trim().to_string();
    let (ok, out) = run(
        &app,
        dir.path(),
        &["staff-token", "create", "--scope=staff", "--label=desk"],
    );
    assert!(ok, "{out}");
    let staff = out.lines().last().unwrap().trim().to_string();
    let (refused, _) = run(
        &app,
        dir.path(),
        &["staff-token", "create", "--label", "x", "--scope", "admin"],
    );
    assert!(!refused, "an unknown scope is refused");

    let status = |token: &str, path: &str| {
        let request = app.client.get(app.url(path)).bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(status(&calendar, "/api/v1/staff/calendar.ics").await, 200);
    assert_eq!(status(&calendar, "/api/v1/staff/bookings").await, 401);
    assert_eq!(status(&staff, "/api/v1/staff/bookings").await, 200);
    assert_eq!(status(&staff, "/api/v1/staff/calendar.ics").await, 200);

    let (ok, listed) = run(&app, dir.path(), &["staff-token", "list"]);
    assert!(ok);
    let line = |label: &str| {
        listed
            .lines()
            .find(|line| line.starts_with(&format!("{label}\t")))
            .unwrap_or_else(|| panic!("{label} in {listed}"))
            .to_string()
    };
    assert!(line("wall").contains("scope calendar"), "{listed}");
    assert!(line("desk").contains("scope staff"), "{listed}");
    assert!(!listed.contains("\tx\t"), "{listed}");
}

backend_tests!(
    the_cli_prints_a_new_token_last_lists_without_it_and_revokes_it,
    the_cli_creates_a_calendar_token_that_opens_only_the_feed_and_lists_scopes,
);
