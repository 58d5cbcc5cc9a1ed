//! Where the database is and how each backend's connections are opened.

use std::path::PathBuf;

use anyhow::anyhow;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel::{Connection, PgConnection};

use super::{sqlite_memory, DbConnection};

/// Where the data lives, read from `database.url`.
#[derive(Debug, Clone)]
pub enum Location {
    Postgres(String),
    Sqlite(PathBuf),
}

impl Location {
    /// `sqlite://PATH` (relative to the working directory) or
    /// `postgres://...` / `postgresql://...`.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Location::Postgres(url.to_string()))
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(anyhow!("database.url {url:?} names no file"));
            }
            Ok(Location::Sqlite(PathBuf::from(path)))
        } else {
            Err(anyhow!(
                "database.url must start with sqlite:// or postgres:// (got {:?})",
                url.split("://").next().unwrap_or("")
            ))
        }
    }
}

/// Opens connections the way each backend needs them.
#[derive(Debug, Clone)]
pub struct ConnectionOpener {
    pub(super) location: Location,
    pub(super) busy_timeout_ms: u32,
}

impl ConnectionOpener {
    pub(super) fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.location {
            Location::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            Location::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn =
                    sqlite_memory::establish(&path).map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers work beside the writer; FULL syncs the WAL
                // on every commit, so an acknowledged booking survives a power
                // cut (the writer's connection leaves that to its syncer, see
                // `run_sqlite_writer`); the busy timeout waits for a lock
                // instead of failing.
                // Temporary storage in memory: every write runs in savepoints
                // (see `sqlite_writer`), whose undo pages SQLite otherwise
                // writes to a temporary file.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                     PRAGMA temp_store = MEMORY;",
                    self.busy_timeout_ms
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for ConnectionOpener {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        self.open()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

pub type DbPool = Pool<ConnectionOpener>;
pub type PooledDb = PooledConnection<ConnectionOpener>;
