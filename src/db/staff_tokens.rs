//! Staff tokens: a label per receptionist or device, the SHA-256 of the
//! token (the token itself is shown once and never stored) and its scope.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::staff_tokens;
use super::{is_unique_violation, DbConnection};
use crate::error::ApiError;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_tokens, treat_none_as_default_value = false)]
pub struct StaffTokenRow {
    pub label: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    /// `staff` (the whole staff API) or `calendar` (the feed alone).
    pub scope: String,
}

/// Stores a token; `Ok(false)` when the label is already taken.
pub fn insert(conn: &mut DbConnection, row: &StaffTokenRow) -> Result<bool, ApiError> {
    let inserted = super::recoverable(conn, |conn| {
        diesel::insert_into(staff_tokens::table)
            .values(row)
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(error) if is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<StaffTokenRow>, ApiError> {
    Ok(staff_tokens::table
        .order(staff_tokens::label)
        .select(StaffTokenRow::as_select())
        .load(conn)?)
}

pub fn find_by_hash(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<StaffTokenRow>, ApiError> {
    Ok(staff_tokens::table
        .filter(staff_tokens::token_hash.eq(token_hash))
        .select(StaffTokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Deletes the token of `label`; whether there was one.
pub fn delete(conn: &mut DbConnection, label: &str) -> Result<bool, ApiError> {
    let deleted =
        diesel::delete(staff_tokens::table.filter(staff_tokens::label.eq(label))).execute(conn)?;
    Ok(deleted > 0)
}

pub fn touch(conn: &mut DbConnection, label: &str, now: NaiveDateTime) -> Result<(), ApiError> {
    diesel::update(staff_tokens::table.filter(staff_tokens::label.eq(label)))
        .set(staff_tokens::last_used_at.eq(Some(now)))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection, RunQueryDsl};
    use diesel_migrations::MigrationHarness;

    use crate::db::migrations::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

    /// The migration that gives tokens a scope.
    const SCOPE_MIGRATION: &str = "20261203030000";

    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Scope {
        #[diesel(sql_type = diesel::sql_types::Text)]
        scope: String,
    }

    /// Applies the migrations before `SCOPE_MIGRATION`, stores a token the
    /// old way, applies the rest: the token keeps the full staff scope, and
    /// a scope other than the two known ones is refused by the database.
    macro_rules! keeps_old_tokens_full_staff {
        ($conn:expr, $source:expr) => {{
            let conn = $conn;
            loop {
                let pending = conn.pending_migrations($source).expect("pending");
                let next = pending.first().expect("the scope migration exists");
                if next.name().version().to_string() == SCOPE_MIGRATION {
                    break;
                }
                conn.run_next_migration($source).expect("migration");
            }
            conn.batch_execute(
                "INSERT INTO staff_tokens (label, token_hash, created_at)
                 VALUES ('reception', 'hash', '2026-11-25 00:00:00')",
            )
            .expect("an old-style token");
            conn.run_pending_migrations($source).expect("the rest");
            let scopes: Vec<Scope> = diesel::sql_query("SELECT scope FROM staff_tokens")
                .load(conn)
                .expect("scopes");
            assert_eq!(
                scopes,
                vec![Scope {
                    scope: "staff".into()
                }]
            );
            let odd = conn.batch_execute(
                "INSERT INTO staff_tokens (label, token_hash, created_at, scope)
                 VALUES ('odd', 'hash-2', '2026-11-25 00:00:00', 'admin')",
            );
            assert!(odd.is_err(), "an unknown scope was stored");
        }};
    }

    #[test]
    fn tokens_made_before_scopes_keep_the_full_staff_scope_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db").display().to_string();
        let mut conn = crate::db::sqlite_memory::establish(&path).unwrap();
        keeps_old_tokens_full_staff!(&mut conn, SQLITE_MIGRATIONS);
    }

    #[test]
    fn tokens_made_before_scopes_keep_the_full_staff_scope_on_postgres() {
        let Ok(server) = std::env::var("TEST_DATABASE_URL") else {
            return;
        };
        let name = format!("migration_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::establish(&server).expect("TEST_DATABASE_URL");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let url = match server.rfind('/') {
            Some(slash) => format!("{}/{name}", &server[..slash]),
            None => panic!("TEST_DATABASE_URL has no database name"),
        };
        let mut conn = PgConnection::establish(&url).unwrap();
        keeps_old_tokens_full_staff!(&mut conn, POSTGRES_MIGRATIONS);
        drop(conn);
        admin
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .unwrap();
    }
}
