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

backend_tests!(the_cli_prints_a_new_token_last_lists_without_it_and_revokes_it);
