//! Staff tokens: what the `staff-token` command does (create, list, revoke)
//! and how a presented token is checked. A token is shown once; only its
//! SHA-256 is stored, beside a label that names its holder in the audit log.

use anyhow::{anyhow, bail};
use chrono::{DateTime, Duration, Utc};

use crate::db::staff_tokens::{self, StaffTokenRow};
use crate::db::{Db, DbConnection};
use crate::domain::{hash_token, ManageToken};
use crate::error::ApiError;

pub const USAGE: &str = "usage: clinic-booking staff-token create --label NAME\n       \
clinic-booking staff-token list\n       \
clinic-booking staff-token revoke --label NAME";

/// How often `last_used_at` is written: often enough to see which tokens are
/// in use, rarely enough that reads do not all become writes.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// A label names a person or a device: 1 to 64 printable characters, and
/// not `patient`, which the audit log uses for patients.
fn parse_label(raw: &str) -> anyhow::Result<String> {
    let label = raw.trim();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        bail!("a label is 1 to 64 printable characters");
    }
    if label.eq_ignore_ascii_case("patient") {
        bail!("the label \"patient\" is reserved");
    }
    Ok(label.to_string())
}

/// Creates a token for `label` and returns it (the only time it exists in
/// clear). A label already in use is refused: revoke it first.
pub fn create_token(
    conn: &mut DbConnection,
    label: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let label = parse_label(label)?;
    // 256 random bits, the same generator as patients' manage tokens.
    let token = ManageToken::generate();
    let row = StaffTokenRow {
        label: label.clone(),
        token_hash: token.hash(),
        created_at: now.naive_utc(),
        last_used_at: None,
    };
    if !staff_tokens::insert(conn, &row).map_err(api_to_anyhow)? {
        bail!("a token labelled {label:?} exists already; revoke it first");
    }
    Ok(token.expose().to_string())
}

pub fn list_tokens(conn: &mut DbConnection) -> anyhow::Result<Vec<StaffTokenRow>> {
    staff_tokens::list(conn).map_err(api_to_anyhow)
}

/// Revokes the token of `label`: it stops working at once, and so do the
/// staff console sessions signed in with it.
pub fn revoke_token(conn: &mut DbConnection, label: &str) -> anyhow::Result<()> {
    crate::db::staff_sessions::delete_for_label(conn, label.trim()).map_err(api_to_anyhow)?;
    if staff_tokens::delete(conn, label.trim()).map_err(api_to_anyhow)? {
        Ok(())
    } else {
        Err(anyhow!("no token is labelled {:?}", label.trim()))
    }
}

fn api_to_anyhow(error: ApiError) -> anyhow::Error {
    match error {
        ApiError::Internal(error) => error,
        other => anyhow!("{other}"),
    }
}

/// The label of the staff token `presented`, if it is a live one; marks it
/// used.
pub async fn authenticate(db: &Db, presented: String) -> Result<String, ApiError> {
    let hash = hash_token(&presented);
    // The lookup is by hash, so the time it takes says nothing about how
    // close a guess was.
    let row = db
        .read(move |conn| staff_tokens::find_by_hash(conn, &hash))
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let now = Utc::now().naive_utc();
    if row.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
        let label = row.label.clone();
        db.write(move |conn| staff_tokens::touch(conn, &label, now))
            .await?;
    }
    Ok(row.label)
}

/// `clinic-booking staff-token ...`: prints to stdout; a created token is
/// the last line, so scripts can take it with `tail -n 1`.
pub fn run_command(db: &Db, args: &[&str]) -> anyhow::Result<()> {
    // `--label=NAME` and `--label NAME` alike.
    let args: Vec<&str> = args
        .iter()
        .flat_map(|arg| match arg.strip_prefix("--label=") {
            Some(label) => vec!["--label", label],
            None => vec![*arg],
        })
        .collect();
    let mut conn = db.connection()?;
    match args.as_slice() {
        ["create", "--label", label] => {
            let token = create_token(&mut conn, label, Utc::now())?;
            println!("Created a staff token labelled {:?}.", label.trim());
            println!("It is shown only this once; send it as Authorization: Bearer <token>,");
            println!("or add ?token=<token> to the calendar feed URL.");
            println!("{token}");
            Ok(())
        }
        ["list"] => {
            let tokens = list_tokens(&mut conn)?;
            if tokens.is_empty() {
                println!("no staff tokens");
            }
            for token in tokens {
                let last_used = token
                    .last_used_at
                    .map(|at| at.and_utc().to_rfc3339())
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{}\tcreated {}\tlast used {}",
                    token.label,
                    token.created_at.and_utc().to_rfc3339(),
                    last_used
                );
            }
            Ok(())
        }
        ["revoke", "--label", label] => {
            revoke_token(&mut conn, label)?;
            println!("Revoked the staff token labelled {:?}.", label.trim());
            Ok(())
        }
        _ => Err(anyhow!("unknown staff-token command\n{USAGE}")),
    }
}
