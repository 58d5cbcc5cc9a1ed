//! The promise `backend_tests!` makes about PostgreSQL, checked on this
//! test binary itself: without `TEST_DATABASE_URL` a PostgreSQL test
//! passes as skipped; with it set but leading nowhere (or set to nothing,
//! as a CI secret that did not expand), it fails.

use std::process::{Command, Output};

use smtp_sink::free_port;

/// A PostgreSQL test that does nothing before it creates its database.
const POSTGRES_TEST: &str = "health::postgres::healthz_answers_while_the_process_is_up";

fn run_postgres_test(database_url: Option<&str>) -> (Output, String) {
    let mut command = Command::new(std::env::current_exe().expect("this test binary"));
    command.args(["--exact", POSTGRES_TEST, "--nocapture"]);
    match database_url {
        Some(url) => command.env("TEST_DATABASE_URL", url),
        None => command.env_remove("TEST_DATABASE_URL"),
    };
    let output = command.output().expect("the test binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

#[test]
fn postgres_tests_pass_as_skipped_only_when_test_database_url_is_unset() {
    let (output, text) = run_postgres_test(None);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
    assert!(
        text.contains("skipped: TEST_DATABASE_URL is not set"),
        "{text}"
    );

    let nowhere = format!("postgres://postgres@127.0.0.1:{}/clinic", free_port());
    for url in [nowhere.as_str(), ""] {
        let (output, text) = run_postgres_test(Some(url));
        assert!(!output.status.success(), "{url:?} passed: {text}");
        assert!(text.contains("1 failed"), "{text}");
        assert!(
            text.contains("TEST_DATABASE_URL is set but PostgreSQL cannot be reached"),
            "{text}"
        );
    }
}
