//! `clinic-booking` serves; `clinic-booking migrate` only migrates.

use std::process::ExitCode;

use clinic_booking::configuration::Settings;
use clinic_booking::startup::{check_settings, open_database, Application};
use clinic_booking::telemetry;

const USAGE: &str = "usage: clinic-booking [serve | migrate | staff-token ... | backup PATH | purge --older-than DAYS]";

#[tokio::main]
async fn main() -> ExitCode {
    // Whatever the service writes is for its own user only (database, WAL,
    // mail files, backups, the key): the files it makes on purpose get
    // their modes explicitly, and this covers anything else (SQLite's
    // temporary files).
    // SAFETY: umask(2) only sets the process's file mode mask; it cannot fail.
    unsafe { libc::umask(0o077) };
    telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => serve().await,
        ["migrate"] => migrate().await,
        ["staff-token", rest @ ..] => staff_token(rest).await,
        ["backup", target] => backup(target),
        ["purge", rest @ ..] => purge(rest).await,
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(anyhow::anyhow!("unknown command\n{USAGE}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("clinic-booking: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn settings() -> anyhow::Result<Settings> {
    let dir = std::env::current_dir()?;
    Settings::load(&dir).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
}

async fn serve() -> anyhow::Result<()> {
    let settings = settings()?;
    let bind = settings.server.bind.clone();
    let app = Application::build(settings).await?;
    let host = bind
        .rsplit_once(':')
        .map(|(host, _)| host)
        .unwrap_or("127.0.0.1");
    tracing::info!("listening on http://{host}:{}", app.port());
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate() -> anyhow::Result<()> {
    let settings = settings()?;
    check_settings(&settings)?;
    open_database(&settings).await?;
    println!("database is up to date");
    Ok(())
}

async fn staff_token(args: &[&str]) -> anyhow::Result<()> {
    let settings = settings()?;
    check_settings(&settings)?;
    let db = open_database(&settings).await?;
    clinic_booking::workflows::staff_tokens::run_command(&db, args)
}

/// `backup PATH`: an online copy of the SQLite database.
fn backup(target: &str) -> anyhow::Result<()> {
    let settings = settings()?;
    clinic_booking::db::backup::backup(settings.database_url(), std::path::Path::new(target))?;
    println!("backed up to {target}");
    Ok(())
}

/// `purge --older-than DAYS`: anonymise what has outlived its retention.
async fn purge(args: &[&str]) -> anyhow::Result<()> {
    let settings = settings()?;
    check_settings(&settings)?;
    let db = open_database(&settings).await?;
    clinic_booking::workflows::privacy::run_command(&db, &settings, args).await
}
