//! The schema's migrations, embedded in the binary, one folder per backend,
//! applied at start under a lock so that instances starting together do
//! not race.

use anyhow::{anyhow, Context};
use diesel::RunQueryDsl;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{Db, DbConnection};

pub(super) const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub(super) const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Any lock id will do, as long as every instance uses the same one.
const MIGRATION_LOCK_ID: i64 = 0x636c_696e_6963;

impl Db {
    /// Runs pending migrations, holding a lock so that instances starting
    /// together do not race: an advisory lock on PostgreSQL; on SQLite the
    /// single writer connection.
    pub fn run_migrations(&self) -> anyhow::Result<usize> {
        let mut conn = self
            .write
            .get()
            .context("no database connection for migrations")?;
        let applied = match &mut *conn {
            DbConnection::Postgresql(pg) => {
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
                    .execute(pg)
                    .context("cannot take the migration lock")?;
                let result = pg
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.len());
                let unlock =
                    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))
                        .execute(pg);
                let applied = result.map_err(|e| anyhow!("migration failed: {e}"))?;
                unlock.context("cannot release the migration lock")?;
                applied
            }
            DbConnection::Sqlite(sqlite) => sqlite
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.len())
                .map_err(|e| anyhow!("migration failed: {e}"))?,
        };
        Ok(applied)
    }

    /// Whether the schema is up to date (for readiness).
    pub fn has_pending_migrations(conn: &mut DbConnection) -> anyhow::Result<bool> {
        let pending = match conn {
            DbConnection::Postgresql(pg) => pg.has_pending_migration(POSTGRES_MIGRATIONS),
            DbConnection::Sqlite(sqlite) => sqlite.has_pending_migration(SQLITE_MIGRATIONS),
        };
        pending.map_err(|e| anyhow!("cannot read migrations: {e}"))
    }
}
