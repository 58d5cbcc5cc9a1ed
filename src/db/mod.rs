//! The database: SQLite (one file, the default) or PostgreSQL (shared by
//! several instances), behind one connection type and one pool.
//!
//! A row found by its key is read with `get_result`, not `first`: `first`
//! adds a bound `LIMIT`, and SQLite prepares a statement with one again
//! each time it runs (its planner reads the bound value), where a key finds
//! one row at most.

pub mod appointments;
pub mod audit;
pub mod backup;
pub mod bookings;
pub mod closures;
mod commit_hooks;
pub mod contact_keys;
pub mod idempotency;
pub mod inquiries;
mod migrations;
pub mod outbox;
mod pool;
mod prepared;
pub mod questionnaire_answers;
pub mod resource_claims;
pub mod schedule_versions;
pub mod schema;
pub mod sealing;
pub mod sqlite_memory;
mod sqlite_writer;
pub mod staff_bookings;
pub mod staff_sessions;
pub mod staff_tokens;
pub mod waitlist;
pub mod webhooks;

pub use commit_hooks::{on_commit, takes_commit_hooks, CommitHook};
pub use pool::{ConnectionOpener, DbPool, Location, PooledDb};

use commit_hooks::transaction_with_hooks;
use sqlite_writer::{
    run_sqlite_checkpointer, run_sqlite_writer, wal_of, StorageFault, WalRestart, WriteJob,
};

use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, Pool};
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::configuration::DatabaseSettings;
use crate::error::ApiError;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// The pools: reads go to `read`; writes go to `write`, or for SQLite to the
/// single writer thread, so writers queue in the process instead of fighting
/// over the file lock.
#[derive(Clone)]
pub struct Db {
    read: DbPool,
    write: DbPool,
    is_sqlite: bool,
    writer: Option<mpsc::Sender<WriteJob>>,
    /// Bumped after every committed write, so caches of what was read can
    /// tell they are stale.
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Woken after every write, so background workers (mail) need not wait
    /// for their next poll to see new work.
    written: std::sync::Arc<tokio::sync::Notify>,
    /// Held by every handle; SQLite's checkpointer stops when it is gone.
    _alive: std::sync::Arc<()>,
    /// Set for good once SQLite's WAL could not be synced (see
    /// `StorageFault`); never on PostgreSQL.
    fault: StorageFault,
    /// How `listen_for_schedule_changes` connects.
    opener: ConnectionOpener,
    /// The schedule changes counted (`schedule_version`).
    versions: schedule_versions::Versions,
    /// On while this instance hears of other instances' schedule changes.
    listening: schedule_versions::Listening,
}

/// Makes the SQLite database's folder (mode 0700) and file (mode 0600)
/// before SQLite opens it, whatever the umask: SQLite gives its WAL and
/// shared-memory files the mode of the database file. Files an earlier
/// version left readable to others are made private.
fn private_sqlite_files(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        crate::private_files::create_dir_all(dir)
            .with_context(|| format!("cannot create the database folder {}", dir.display()))?;
    }
    // Only a missing file is opened here: closing a descriptor of a file
    // drops every POSIX lock this process holds on it, SQLite's included,
    // and this process may already have the database open (a command
    // beside the service in one process, the tests). Without its locks,
    // another process's last connection takes itself for the last one
    // anywhere and removes the WAL under this one's feet.
    match crate::private_files::create_new(path) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot create the database {}", path.display()))
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        crate::private_files::restrict(&file)
            .with_context(|| format!("cannot make {} private", file.display()))?;
    }
    Ok(())
}

impl Db {
    /// Opens the database, creating the SQLite file and its folder when
    /// needed, and fails with the real reason when it cannot.
    pub fn connect(settings: &DatabaseSettings, url: &str) -> anyhow::Result<Db> {
        let location = Location::parse(url)?;
        if let Location::Sqlite(path) = &location {
            private_sqlite_files(path)?;
        }
        let opener = ConnectionOpener {
            location: location.clone(),
            busy_timeout_ms: settings.sqlite_busy_timeout_ms,
        };
        // Try once by hand so that the real reason reaches the operator.
        opener.open().map_err(|error| match &location {
            Location::Postgres(_) => anyhow!("cannot connect to PostgreSQL: {error}"),
            Location::Sqlite(path) => {
                anyhow!("cannot open SQLite database {}: {error}", path.display())
            }
        })?;
        let build = |size: u32| {
            Pool::builder()
                .max_size(size.max(1))
                // No idle minimum: r2d2 would keep opening connections on
                // its worker threads, and a command that exits while one is
                // half-open crashes inside libpq.
                .min_idle(Some(0))
                .connection_timeout(Duration::from_secs(10))
                .test_on_check_out(false)
                .build(opener.clone())
                .context("cannot open the database pool")
        };
        let is_sqlite = matches!(location, Location::Sqlite(_));
        let read = build(settings.pool_size)?;
        let write = if is_sqlite { build(1)? } else { read.clone() };
        let alive = std::sync::Arc::new(());
        let fault = StorageFault::default();
        let writer = if let Location::Sqlite(path) = &location {
            let wal = wal_of(path);
            let (sender, jobs) = mpsc::channel();
            let checkpointer = opener.clone();
            let opener = opener.clone();
            let writer_fault = fault.clone();
            let restart = WalRestart::default();
            let writer_restart = restart.clone();
            std::thread::Builder::new()
                .name("sqlite-writer".into())
                .spawn(move || run_sqlite_writer(opener, wal, jobs, writer_fault, writer_restart))
                .context("cannot start the SQLite writer")?;
            let weak = std::sync::Arc::downgrade(&alive);
            std::thread::Builder::new()
                .name("sqlite-checkpoint".into())
                .spawn(move || run_sqlite_checkpointer(checkpointer, weak, restart))
                .context("cannot start the SQLite checkpointer")?;
            Some(sender)
        } else {
            None
        };
        Ok(Db {
            read,
            write,
            is_sqlite,
            writer,
            generation: Default::default(),
            written: Default::default(),
            _alive: alive,
            fault,
            opener,
            versions: Default::default(),
            listening: Default::default(),
        })
    }

    /// On PostgreSQL, starts the thread that hears of the schedule changes
    /// other instances make (`schedule_versions::run_listener`), for as
    /// long as this `Db` lives. The service does; a command need not.
    pub fn listen_for_schedule_changes(&self) -> anyhow::Result<()> {
        if self.is_sqlite {
            return Ok(());
        }
        let opener = self.opener.clone();
        let (versions, listening) = (self.versions.clone(), self.listening.clone());
        let alive = std::sync::Arc::downgrade(&self._alive);
        std::thread::Builder::new()
            .name("schedule-listener".into())
            .spawn(move || schedule_versions::run_listener(opener, alive, versions, listening))
            .context("cannot start the schedule listener")?;
        Ok(())
    }

    /// A number that grows with every schedule change counted at the
    /// instants `from..to` (`schedule_versions::Versions::version`).
    pub fn schedule_version(&self, from: chrono::NaiveDateTime, to: chrono::NaiveDateTime) -> u64 {
        self.versions.version(from, to)
    }

    /// How long an answer read from the schedule now may be kept at most,
    /// whatever the changes this instance hears of: no limit on SQLite
    /// (one instance: every change is its own); on PostgreSQL, while its
    /// listener hears the other instances, a minute (so that a change an
    /// instance could not name before it died is read by then), else a
    /// second.
    pub fn keep_schedule_answers_for(&self) -> Option<chrono::Duration> {
        if self.is_sqlite {
            None
        } else if self.listening.is_on() {
            Some(chrono::Duration::minutes(1))
        } else {
            Some(chrono::Duration::seconds(1))
        }
    }

    /// Why writes are refused for good, once SQLite's WAL could not be
    /// synced (see `StorageFault`): for readiness and for the answers.
    pub fn storage_fault(&self) -> Option<&str> {
        self.fault.get().map(String::as_str)
    }

    pub fn is_sqlite(&self) -> bool {
        self.is_sqlite
    }

    /// Runs `work` on a read connection, off the async threads.
    pub async fn read<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.read.clone();
        run_blocking(move || work(&mut *pool.get()?)).await
    }

    /// Runs `work` in one transaction on the write connection: everything it
    /// does is committed together, or nothing is. On SQLite the transaction
    /// is a savepoint in the writer's next group commit. Then it wakes one
    /// task waiting in `next_write` (an idle mail delivery: the write may
    /// have queued mail).
    pub async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let result = self.write_unannounced(work).await;
        self.written.notify_one();
        result
    }

    /// Like `write`, but wakes no task waiting in `next_write`: for the mail
    /// worker's own claims and records, which queue no new mail (the
    /// delivery that wrote them looks for more itself). On PostgreSQL each
    /// needless wake-up cost a read and often an empty claim transaction.
    pub async fn write_unannounced<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        if let Some(writer) = &self.writer {
            let (answer, answered) = tokio::sync::oneshot::channel();
            let fault = self.fault.clone();
            let versions = self.versions.clone();
            let job: WriteJob = Box::new(move |conn| {
                let (result, hooks) = transaction_with_hooks(conn, &versions, work);
                // Called once the group commit is on disk (or has failed).
                Box::new(move |committed: bool| {
                    let result = match result {
                        // After a failed sync (recorded before this answer)
                        // the service refuses writes: this one's outcome is
                        // unknown, and it is answered as the later ones are.
                        Ok(_) if !committed => Err(match fault.get() {
                            Some(fault) => ApiError::Unavailable(fault.clone()),
                            None => ApiError::Internal(anyhow!(
                                "the group commit holding this write failed"
                            )),
                        }),
                        Ok(value) => {
                            hooks.into_iter().for_each(|hook| hook());
                            Ok(value)
                        }
                        result => result,
                    };
                    let _ = answer.send(result);
                })
            });
            let refused = |what: &str| match self.storage_fault() {
                Some(fault) => ApiError::Unavailable(fault.to_string()),
                None => ApiError::Internal(anyhow!("the SQLite writer {what}")),
            };
            writer.send(job).map_err(|_| refused("has stopped"))?;
            let result = answered.await.map_err(|_| refused("dropped a write"))?;
            self.bump_generation();
            return result;
        }
        let pool = self.write.clone();
        let versions = self.versions.clone();
        let result = run_blocking(move || {
            let mut conn = pool.get()?;
            let (result, hooks) = transaction_with_hooks(&mut conn, &versions, work);
            if result.is_ok() {
                hooks.into_iter().for_each(|hook| hook());
            }
            result
        })
        .await;
        self.bump_generation();
        result
    }

    fn bump_generation(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Resolves after the next write this process makes through `write`
    /// (not `write_unannounced`), for one waiter at a time: a write wakes
    /// one waiting task (or the next one to wait), not all of them. (Waking
    /// every idle mail delivery at every booking cost more than the
    /// deliveries: 16 reads and claims racing per write.)
    pub async fn next_write(&self) {
        self.written.notified().await;
    }

    /// Wakes one more task waiting in `next_write`, as a write would.
    pub fn pass_on_write(&self) {
        self.written.notify_one();
    }

    /// Changes with every write this process makes (committed or not).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A connection for command-line tools and tests.
    pub fn connection(&self) -> anyhow::Result<PooledDb> {
        self.write.get().context("no database connection")
    }
}

async fn run_blocking<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(anyhow!("database task failed: {e}")))?
}

/// Whether PostgreSQL gave up a transaction because of a lock cycle or a
/// serialization conflict with a concurrent one (which one loses is chance).
pub fn is_contention(error: &diesel::result::Error) -> bool {
    match error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::SerializationFailure,
            _,
        ) => true,
        diesel::result::Error::DatabaseError(_, info) => {
            info.message().contains("deadlock detected")
        }
        _ => false,
    }
}

/// Runs the same diesel query on whichever backend `$conn` holds, for SQL
/// that both speak but diesel's multi-backend connection does not offer
/// (`ON CONFLICT DO NOTHING`, `RETURNING`): `$body` is compiled once per
/// backend with `$c` the backend's own connection.
macro_rules! each_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgresql($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use each_backend;

/// Runs one statement whose failure the caller handles (a unique violation:
/// a lost seat, a reference collision) and carries on with the transaction.
/// PostgreSQL aborts the whole transaction at an error, so there the
/// statement runs in a savepoint; SQLite undoes just the failed statement
/// and needs none (a savepoint costs it two more statements and a copy of
/// every page the statement touches).
pub fn recoverable<T>(
    conn: &mut DbConnection,
    statement: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<T> {
    match conn {
        DbConnection::Sqlite(_) => statement(conn),
        DbConnection::Postgresql(_) => conn.transaction(statement),
    }
}

/// Whether a database error is a unique-key violation (a lost race for a
/// seat, a reused idempotency key, a reference collision).
pub fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

impl Db {
    /// Connections open and idle in each pool, for metrics.
    pub fn pool_stats(&self) -> Vec<(&'static str, r2d2::State)> {
        if self.is_sqlite {
            vec![("read", self.read.state()), ("write", self.write.state())]
        } else {
            vec![("shared", self.read.state())]
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection, RunQueryDsl};
    use diesel_migrations::MigrationHarness;

    use super::migrations::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

    /// The first migration that keeps what a message says apart.
    const CONTENTS_MIGRATION: &str = "20261125220000";

    const OLD_MESSAGE: &str = "INSERT INTO outbox (kind, audience, reference, recipient, subject,
        body, ics, status, attempts, next_attempt_at, created_at, updated_at)
        VALUES ('booking_confirmed', 'patient', 'K7QM-3XWD', 'taro@example.jp', '件名',
        '本文', 'BEGIN:VCALENDAR', 'pending', 0, '2026-11-25 00:00:00',
        '2026-11-25 00:00:00', '2026-11-25 00:00:00')";

    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Content {
        #[diesel(sql_type = diesel::sql_types::Text)]
        subject: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        body: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        ics: Option<String>,
    }

    fn expected() -> Vec<Content> {
        vec![Content {
            subject: "件名".into(),
            body: "本文".into(),
            ics: Some("BEGIN:VCALENDAR".into()),
        }]
    }

    /// Applies the migrations before `CONTENTS_MIGRATION`, stores a message
    /// the old way, applies the rest and checks the message kept what it
    /// says; then reverts that migration and checks it again. (A macro: the
    /// harness is generic over backends in ways a function bound cannot
    /// name.)
    macro_rules! carries_messages_over {
        ($conn:expr, $source:expr) => {{
            let conn = $conn;
            loop {
                let pending = conn
                    .pending_migrations($source)
                    .expect("pending migrations");
                let next = pending.first().expect("the contents migration exists");
                if next.name().version().to_string() == CONTENTS_MIGRATION {
                    break;
                }
                conn.run_next_migration($source).expect("migration");
            }
            conn.batch_execute(OLD_MESSAGE)
                .expect("an old-style message");
            conn.run_pending_migrations($source).expect("the rest");
            let moved: Vec<Content> = diesel::sql_query(CONTENTS).load(conn).expect("contents");
            assert_eq!(moved, expected());
            while conn
                .applied_migrations()
                .expect("applied")
                .first()
                .is_some_and(|last| last.to_string() != CONTENTS_MIGRATION)
            {
                conn.revert_last_migration($source).expect("revert");
            }
            conn.revert_last_migration($source)
                .expect("revert contents");
            let back: Vec<Content> = diesel::sql_query(REVERTED).load(conn).expect("columns");
            assert_eq!(back, expected());
        }};
    }

    /// A fresh SQLite database `file` in a temporary folder (kept while the
    /// returned `TempDir` lives), its path, and the `Db` serving it.
    fn sqlite_db(file: &str) -> (tempfile::TempDir, std::path::PathBuf, super::Db) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file);
        let url = format!("sqlite://{}", path.display());
        let settings = crate::configuration::Settings::defaults().unwrap().database;
        let db = super::Db::connect(&settings, &url).unwrap();
        (dir, path, db)
    }

    /// A write is acknowledged only once the WAL holding its commit is
    /// synced: when the syncer cannot sync it (here the file is gone from
    /// the folder), the caller hears of a failure, not of success. After
    /// that, writes are refused even where a sync would now succeed (a
    /// file is back at the WAL's path): the disk lost what it lost.
    #[tokio::test]
    async fn a_write_is_acknowledged_only_after_its_wal_is_synced() {
        let (_dir, path, db) = sqlite_db("sync.db");
        let statement = |sql: &'static str| {
            move |conn: &mut super::DbConnection| {
                conn.batch_execute(sql)?;
                Ok(())
            }
        };
        db.write(statement("CREATE TABLE t (x INTEGER)"))
            .await
            .expect("a synced write succeeds");
        let wal = super::wal_of(&path);
        assert!(wal.exists(), "no WAL at {}", wal.display());
        std::fs::remove_file(&wal).unwrap();
        let unsynced = db.write(statement("INSERT INTO t VALUES (1)")).await;
        assert!(
            matches!(unsynced, Err(crate::error::ApiError::Unavailable(_))),
            "an unsynced write was acknowledged, or not refused as the later ones are: {unsynced:?}"
        );
        let fault = db.storage_fault().expect("the failed sync is recorded");
        assert!(fault.contains("restart"), "{fault}");

        std::fs::write(&wal, b"").unwrap();
        let after = db.write(statement("INSERT INTO t VALUES (2)")).await;
        assert!(
            matches!(after, Err(crate::error::ApiError::Unavailable(_))),
            "a write after a failed sync was not refused: {after:?}"
        );
    }

    /// A write's `on_commit` hooks run once it is committed and synced,
    /// before the write is answered; never for a write that fails, whether
    /// its own work fails or the sync of its commit; and none can be
    /// registered outside a write.
    #[tokio::test]
    async fn commit_hooks_run_only_for_a_durable_write() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;

        let (_dir, path, db) = sqlite_db("hooks.db");
        let ran = Arc::new(AtomicUsize::new(0));
        let counting = |ran: &Arc<AtomicUsize>| -> super::CommitHook {
            let ran = ran.clone();
            Box::new(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
        };
        let refused = || crate::error::ApiError::Internal(anyhow::anyhow!("hook refused"));
        assert!(!super::takes_commit_hooks());
        assert!(super::on_commit(counting(&ran)).is_err());

        let hooks = (counting(&ran), counting(&ran));
        db.write(move |conn| {
            assert!(super::takes_commit_hooks());
            conn.batch_execute("CREATE TABLE t (x INTEGER)")?;
            super::on_commit(hooks.0).map_err(|_| refused())?;
            super::on_commit(hooks.1).map_err(|_| refused())?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 2, "a committed write's hooks");

        let hook = counting(&ran);
        let failed = db
            .write(move |conn| {
                conn.batch_execute("INSERT INTO t VALUES (1)")?;
                super::on_commit(hook).map_err(|_| refused())?;
                Err::<(), _>(crate::error::ApiError::NotFound)
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(ran.load(Ordering::SeqCst), 2, "a failed write's hook ran");

        std::fs::remove_file(super::wal_of(&path)).unwrap();
        let hook = counting(&ran);
        let unsynced = db
            .write(move |conn| {
                conn.batch_execute("INSERT INTO t VALUES (2)")?;
                super::on_commit(hook).map_err(|_| refused())?;
                Ok(())
            })
            .await;
        assert!(unsynced.is_err());
        assert_eq!(
            ran.load(Ordering::SeqCst),
            2,
            "an unsynced write's hook ran"
        );
    }

    /// Under writes that never pause, the WAL still starts over: the
    /// checkpointer asks the writer to finish a checkpoint between two
    /// commits once the WAL is long (`WAL_RESTART_FRAMES`, 256 frames in
    /// tests). Without that the WAL only grew while the writes went on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_writes_that_never_pause() {
        let (_dir, path, db) = sqlite_db("busy.db");
        db.write(|conn| {
            conn.batch_execute("CREATE TABLE t (x BLOB)")?;
            Ok(())
        })
        .await
        .unwrap();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let writers: Vec<_> = (0..16)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut written = 0u64;
                    while std::time::Instant::now() < until {
                        db.write(|conn| {
                            conn.batch_execute("INSERT INTO t VALUES (zeroblob(3000))")?;
                            Ok(())
                        })
                        .await
                        .unwrap();
                        written += 1;
                    }
                    written
                })
            })
            .collect();
        let mut rows = 0;
        for writer in writers {
            rows += writer.await.unwrap();
        }
        // Each row takes a page of its own, so a WAL that never started
        // over holds at least one frame for every row (1.35 measured); the
        // file keeps the largest size it reached (0.25–0.5 measured).
        let wal_pages = std::fs::metadata(super::wal_of(&path)).unwrap().len() / 4096;
        assert!(
            rows > 8 * 256,
            "too few writes to tell ({rows} rows in 3 s)"
        );
        assert!(
            wal_pages < rows,
            "the WAL grew with every write: {wal_pages} pages for {rows} rows"
        );
    }

    /// A write wakes an idle mail delivery (or the next one to wait); the
    /// mail worker's own claims and records wake nobody.
    #[tokio::test]
    async fn only_announced_writes_wake_a_waiting_delivery() {
        let (_dir, _, db) = sqlite_db("wake.db");
        let woken = |db: &super::Db| {
            let db = db.clone();
            async move {
                tokio::time::timeout(std::time::Duration::from_millis(100), db.next_write())
                    .await
                    .is_ok()
            }
        };
        db.write_unannounced(|_| Ok(())).await.unwrap();
        assert!(!woken(&db).await, "a claim or record woke a delivery");
        db.write(|_| Ok(())).await.unwrap();
        assert!(woken(&db).await, "a write did not wake a delivery");
        assert!(!woken(&db).await, "one write woke two deliveries");
    }

    const CONTENTS: &str = "SELECT subject, body, ics FROM outbox_contents";
    const REVERTED: &str = "SELECT subject, body, ics FROM outbox";

    #[test]
    fn the_contents_migration_keeps_stored_messages_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut conn = super::sqlite_memory::establish(&path.display().to_string()).unwrap();
        carries_messages_over!(&mut conn, SQLITE_MIGRATIONS);
    }

    #[test]
    fn the_contents_migration_keeps_stored_messages_on_postgres() {
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
        carries_messages_over!(&mut conn, POSTGRES_MIGRATIONS);
        drop(conn);
        admin
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .unwrap();
    }
}
