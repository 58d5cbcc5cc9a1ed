//! Staff tokens: what the `staff-token` command does (create, list, revoke)
//! and how a presented token is checked. A token is shown once; only its
//! SHA-256 is stored, beside a label that names its holder in the audit log
//! and a scope that says what it opens.

use anyhow::{anyhow, bail};
use chrono::{DateTime, Duration, Utc};

use crate::db::staff_tokens::{self, StaffTokenRow};
use crate::db::{Db, DbConnection};
use crate::domain::{hash_token, ManageToken};
use crate::error::ApiError;

pub const USAGE: &str =
    "usage: clinic-booking staff-token create --label NAME [--scope staff|calendar]\n       \
clinic-booking staff-token list\n       \
clinic-booking staff-token revoke --label NAME";

/// What a staff token opens.
///
/// Rule: a `calendar` token opens the calendar feed and nothing else. Such
/// a token lives in a subscription URL inside calendar apps, proxies and
/// their logs, so it must not be enough to read a patient's record, change
/// a booking or erase anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffScope {
    /// Every staff route (the default).
    Staff,
    /// `GET /api/v1/staff/calendar.ics` alone.
    Calendar,
}

impl StaffScope {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffScope::Staff => "staff",
            StaffScope::Calendar => "calendar",
        }
    }

    pub fn parse(raw: &str) -> Option<StaffScope> {
        match raw.trim() {
            "staff" => Some(StaffScope::Staff),
            "calendar" => Some(StaffScope::Calendar),
            _ => None,
        }
    }

    /// Whether a token of this scope opens a route that asks for `needed`.
    pub fn opens(self, needed: StaffScope) -> bool {
        self == StaffScope::Staff || self == needed
    }
}

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

/// Creates a full staff token for `label` and returns it (the only time it
/// exists in clear). A label already in use is refused: revoke it first.
pub fn create_token(
    conn: &mut DbConnection,
    label: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    create_scoped_token(conn, label, StaffScope::Staff, now)
}

/// Creates a token of `scope` for `label` (see `create_token`).
pub fn create_scoped_token(
    conn: &mut DbConnection,
    label: &str,
    scope: StaffScope,
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
        scope: scope.as_str().to_string(),
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

/// The label of the staff token `presented`, if it is a live one with the
/// full staff scope; marks it used.
pub async fn authenticate(db: &Db, presented: String) -> Result<String, ApiError> {
    authenticate_for(db, presented, StaffScope::Staff).await
}

/// The label of the staff token `presented`, if it is a live one that opens
/// `needed`; marks it used. A token of another scope is refused as a wrong
/// one would be (401), and is not marked used.
pub async fn authenticate_for(
    db: &Db,
    presented: String,
    needed: StaffScope,
) -> Result<String, ApiError> {
    let hash = hash_token(&presented);
    // The lookup is by hash, so the time it takes says nothing about how
    // close a guess was.
    let row = db
        .read(move |conn| staff_tokens::find_by_hash(conn, &hash))
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let opens = StaffScope::parse(&row.scope).is_some_and(|scope| scope.opens(needed));
    if !opens {
        return Err(ApiError::Unauthorized);
    }
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
    // `--label=NAME` and `--label NAME` alike, `--scope` too.
    let args: Vec<&str> = args
        .iter()
        .flat_map(|arg| {
            for flag in ["--label", "--scope"] {
                if let Some(value) = arg.strip_prefix(flag).and_then(|v| v.strip_prefix('=')) {
                    return vec![flag, value];
                }
            }
            vec![*arg]
        })
        .collect();
    let mut conn = db.connection()?;
    match args.as_slice() {
        ["create", "--label", label] => create(&mut conn, label, StaffScope::Staff.as_str()),
        ["create", "--label", label, "--scope", scope]
        | ["create", "--scope", scope, "--label", label] => create(&mut conn, label, scope),
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
                    "{}\tscope {}\tcreated {}\tlast used {}",
                    token.label,
                    token.scope,
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

/// `staff-token create`: the token is the last line printed.
fn create(conn: &mut DbConnection, label: &str, scope: &str) -> anyhow::Result<()> {
    let scope = StaffScope::parse(scope)
        .ok_or_else(|| anyhow!("unknown scope {scope:?}: use staff or calendar\n{USAGE}"))?;
    let token = create_scoped_token(conn, label, scope, Utc::now())?;
    println!(
        "Created a {} token labelled {:?}.",
        scope.as_str(),
        label.trim()
    );
    match scope {
        StaffScope::Staff => {
            println!("It is shown only this once; send it as Authorization: Bearer <token>,");
            println!("or add ?token=<token> to the calendar feed URL.");
        }
        StaffScope::Calendar => {
            println!("It is shown only this once. It opens the calendar feed and nothing else:");
            println!("subscribe to /api/v1/staff/calendar.ics?token=<token>.");
        }
    }
    println!("{token}");
    Ok(())
}
