//! SQLite's three threads: the writer (one connection, group commits), the
//! syncer (fsyncs the WAL before anyone hears back) and the checkpointer
//! (copies the WAL into the database file off the writer's path).

use std::path::PathBuf;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2;
use diesel::RunQueryDsl;

use super::{ConnectionOpener, DbConnection};

/// Why SQLite's writer refuses every write from now on: its WAL could not
/// be synced to the disk. After a failed fsync the kernel may have dropped
/// the pages it could not write, and a later fsync can succeed without
/// them (Linux reports a write-back error once), so no later commit could
/// be trusted to be on disk. Like PostgreSQL, which stops on a failed
/// fsync, the writer stops writing; readiness reports it, and a restart
/// (after the disk is looked at) recovers from what reached the disk.
pub(super) type StorageFault = Arc<OnceLock<String>>;

/// One unit of work for the SQLite writer: it runs in its own savepoint and
/// returns what to do once the batch's commit is known (`true`: committed
/// and on disk).
pub(super) type WriteJob =
    Box<dyn FnOnce(&mut DbConnection) -> Box<dyn FnOnce(bool) + Send> + Send>;

/// What to do once a commit is known: the answers to a batch's callers.
type Finishers = Vec<Box<dyn FnOnce(bool) + Send>>;

/// Units of work that share one commit at most.
const MAX_GROUP_COMMIT: usize = 128;

/// SQLite's writer: one thread owning one connection. What arrives while a
/// batch runs goes into the next batch, and a batch shares one transaction
/// (group commit). Each unit runs in its own savepoint, so one that fails
/// is rolled back alone.
///
/// Nobody hears back before the commit that holds their change is durable,
/// but the writer does not wait for the disk itself: its connection commits
/// without syncing (`synchronous = NORMAL`) and hands the batch's answers to
/// the syncer thread, which syncs the WAL file and only then answers. So
/// one batch's fsync runs while the next batch is written, and one fsync
/// covers every commit made while the previous one ran. What reaches
/// callers is what `synchronous = FULL` gives: an acknowledged write
/// survives a power cut. (Other connections may read a batch a few
/// milliseconds before its sync finishes; nobody is told it succeeded
/// before then, and mail is sent only after the claim that follows it, in
/// a later commit, is synced.)
///
/// Once a sync has failed (see `StorageFault`), nothing more is committed:
/// every write is answered with an error.
pub(super) fn run_sqlite_writer(
    opener: ConnectionOpener,
    wal: PathBuf,
    jobs: mpsc::Receiver<WriteJob>,
    fault: StorageFault,
    restart: WalRestart,
) {
    let (to_sync, commits) = mpsc::channel::<Finishers>();
    let syncer_fault = fault.clone();
    let syncer = std::thread::Builder::new()
        .name("sqlite-sync".into())
        .spawn(move || run_sqlite_syncer(wal, commits, syncer_fault));
    if let Err(error) = syncer {
        // Every caller's answer is dropped: each gets an error.
        tracing::error!(%error, "cannot start the SQLite syncer");
        return;
    }
    let mut conn: Option<DbConnection> = None;
    while let Ok(first) = jobs.recv() {
        if fault.get().is_some() {
            // Dropping the job answers its caller with an error.
            drop(first);
            continue;
        }
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP_COMMIT {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let open = match conn.take() {
            Some(open) => Ok(open),
            // The checkpointer thread moves the WAL into the database file,
            // so commits here do not stop to do it; the syncer syncs.
            None => opener.open().and_then(|mut open| {
                open.batch_execute("PRAGMA wal_autocheckpoint = 0; PRAGMA synchronous = NORMAL;")
                    .map_err(r2d2::Error::QueryError)?;
                Ok(open)
            }),
        };
        let mut open = match open {
            Ok(open) => open,
            Err(error) => {
                // Dropping the batch answers every caller with an error.
                tracing::error!(%error, "the SQLite writer cannot open its connection");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut finishers = Vec::with_capacity(batch.len());
            let committed = immediate_transaction(&mut open, |conn| {
                for job in batch {
                    finishers.push(job(conn));
                }
            });
            if let Err(error) = &committed {
                tracing::error!(%error, "a group commit failed");
            }
            (finishers, committed.is_ok())
        }));
        match ran {
            Ok((finishers, committed)) => {
                if !committed {
                    finish_all(finishers, false);
                } else if let Err(unsent) = to_sync.send(finishers) {
                    // The syncer is gone (it panicked): nobody can be told
                    // their write is durable.
                    tracing::error!("the SQLite syncer has stopped");
                    finish_all(unsent.0, false);
                }
                if restart.swap(false, std::sync::atomic::Ordering::AcqRel) {
                    finish_checkpoint(&mut open);
                }
                conn = Some(open);
            }
            // The connection (and its open transaction) is dropped, which
            // rolls the batch back; its callers get an error.
            Err(_) => tracing::error!("a database write panicked; its batch was rolled back"),
        }
    }
}

/// Runs `work` in one transaction that holds SQLite's write lock from its
/// start (`BEGIN IMMEDIATE`) and commits it. A deferred transaction whose
/// first statement reads fails at once with `SQLITE_BUSY` (no waiting)
/// when another process (the command line's `purge`, `erase` or
/// `staff-token`, beside a running service) commits between that read and
/// its first write; an immediate one waits its turn under `busy_timeout`.
/// The units of work keep their own savepoints inside it.
fn immediate_transaction(
    open: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection),
) -> diesel::QueryResult<()> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConnection::Sqlite(sqlite) = open else {
        return Err(diesel::result::Error::QueryBuilderError(
            "the SQLite writer was given another database".into(),
        ));
    };
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    work(open);
    <DbConnection as diesel::Connection>::TransactionManager::commit_transaction(open)
}

fn finish_all(finishers: Finishers, committed: bool) {
    for finish in finishers {
        finish(committed);
    }
}

/// SQLite's syncer: syncs the WAL file after the writer's commits, one
/// fsync for every commit that arrived while the last one ran, then answers
/// their callers (see `run_sqlite_writer`). It stops with the writer.
/// After its first failed sync it syncs no more: it records the fault, and
/// every commit still reaching it is answered as failed.
fn run_sqlite_syncer(wal: PathBuf, commits: mpsc::Receiver<Finishers>, fault: StorageFault) {
    while let Ok(first) = commits.recv() {
        let mut synced = vec![first];
        while let Ok(more) = commits.try_recv() {
            synced.push(more);
        }
        let durable = fault.get().is_none()
            && match sync_file(&wal) {
                Ok(()) => true,
                Err(error) => {
                    // The commits stand, but whether they reached the disk
                    // is unknown: their callers are told the write failed,
                    // and nothing more is written.
                    tracing::error!(
                        %error,
                        "cannot sync the SQLite WAL: writes are refused until a restart"
                    );
                    let _ = fault.set(format!(
                        "the database file's log could not be synced to the disk ({error}); \
                         writes are refused until the service is restarted"
                    ));
                    false
                }
            };
        for finishers in synced {
            finish_all(finishers, durable);
        }
    }
}

/// Flushes a file's data and metadata to the disk, as SQLite does for its
/// WAL at a commit with `synchronous = FULL` (an fsync reaches the file's
/// data whichever descriptor asks; opening it afresh each time follows the
/// WAL should SQLite ever recreate it).
fn sync_file(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .sync_all()
}

/// The WAL file SQLite keeps beside the database file `path`.
pub(super) fn wal_of(path: &std::path::Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// How often the checkpointer copies committed pages from the WAL into the
/// database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Set by the checkpointer when the WAL holds more than
/// `WAL_RESTART_FRAMES` frames, for the writer to finish the checkpoint
/// between two commits (see `finish_checkpoint`).
pub(super) type WalRestart = Arc<std::sync::atomic::AtomicBool>;

/// Frames (pages) in the WAL beyond which the writer finishes a checkpoint
/// so that the WAL starts over: 512 MiB with 4 KiB pages. Each such
/// checkpoint stops the writer for a moment (it syncs the database file),
/// so it should be rare; and the longer a WAL lives, the more commits'
/// changes to one page (an index leaf) reach the database file as one
/// write. The choice of this size is measured in BENCHMARKS.md.
const WAL_RESTART_FRAMES: i64 = if cfg!(test) { 256 } else { 131_072 };

/// What `PRAGMA wal_checkpoint` answers.
#[derive(diesel::QueryableByName)]
struct Checkpointed {
    /// Frames in the WAL.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    /// Of these, frames copied into the database file.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

/// Checkpoints without waiting for anyone (`PASSIVE`); `None` where the
/// database has no WAL (PostgreSQL).
fn checkpoint(conn: &mut DbConnection) -> Result<Option<Checkpointed>, diesel::result::Error> {
    let DbConnection::Sqlite(sqlite) = conn else {
        return Ok(None);
    };
    diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
        .get_result(sqlite)
        .map(Some)
}

/// Run by the writer between two commits, when the checkpointer asked:
/// SQLite starts the WAL over at a write only once every frame in it has
/// been copied into the database file, and under a steady stream of
/// commits the checkpointer never catches up (new frames arrive while it
/// copies), so the WAL would grow without end, and the writer slows down as
/// it grows (SQLite looks pages up in the WAL's index, one hash table per
/// 4,096 frames). Here no commit
/// can arrive meanwhile, and what is left to copy is what came since the
/// checkpointer's last pass, which `catch_up` keeps short; the rest of the
/// stop is two fsyncs (the WAL before copying, the database file after).
/// (A reader still on an older snapshot can hold it back; the checkpointer
/// asks again.)
fn finish_checkpoint(conn: &mut DbConnection) {
    if let Err(error) = checkpoint(conn) {
        tracing::warn!(%error, "SQLite checkpoint in the writer failed");
    }
}

/// A checkpoint pass this short (while commits go on) ...
const SHORT_PASS: Duration = Duration::from_millis(10);
/// ... that left at most this many frames uncopied leaves little for the
/// writer to finish (`catch_up`).
const FEW_FRAMES: i64 = 256;

/// Checkpoints again and again (at most 8 passes) until a pass was short
/// and copied nearly everything: each pass copies what was committed during
/// the one before, so what the writer copies and syncs when it finishes the
/// checkpoint, while no commit can go on, shrinks with each pass. (A pass
/// that a reader's older snapshot held back copies little, and fast: the
/// frames it left count.)
fn catch_up(conn: &mut DbConnection) {
    for _ in 0..8 {
        let started = std::time::Instant::now();
        match checkpoint(conn) {
            Ok(Some(pass))
                if started.elapsed() >= SHORT_PASS
                    || i64::from(pass.log - pass.checkpointed) > FEW_FRAMES => {}
            _ => return,
        }
    }
}

/// SQLite's checkpointer: a thread with its own connection that copies the
/// WAL into the database file (a passive checkpoint never blocks the writer
/// or readers), so that the writer thread does not do it inside a commit.
/// It stops once every `Db` handle is gone.
pub(super) fn run_sqlite_checkpointer(
    opener: ConnectionOpener,
    alive: std::sync::Weak<()>,
    restart: WalRestart,
) {
    let mut conn: Option<DbConnection> = None;
    let mut pause = CHECKPOINT_EVERY;
    loop {
        std::thread::sleep(pause);
        pause = CHECKPOINT_EVERY;
        if alive.upgrade().is_none() {
            return;
        }
        let open = match conn.take() {
            Some(open) => open,
            None => match opener.open() {
                Ok(open) => open,
                Err(error) => {
                    tracing::warn!(%error, "the SQLite checkpointer cannot open its connection");
                    continue;
                }
            },
        };
        let mut open = open;
        match checkpoint(&mut open) {
            Ok(pass) => {
                if pass.is_some_and(|pass| i64::from(pass.log) > WAL_RESTART_FRAMES) {
                    catch_up(&mut open);
                    restart.store(true, std::sync::atomic::Ordering::Release);
                    // Writes are streaming in: look again soon, so that
                    // the WAL does not grow for a whole pause.
                    pause = CHECKPOINT_EVERY / 10;
                }
                conn = Some(open);
            }
            Err(error) => tracing::warn!(%error, "SQLite checkpoint failed"),
        }
    }
}
