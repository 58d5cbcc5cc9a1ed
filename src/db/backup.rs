//! `clinic-booking backup PATH`: a consistent copy of the SQLite database
//! taken with SQLite's online backup API while the service keeps running.
//! (For PostgreSQL, use `pg_dump`; see docs/DEPLOYMENT.md.)

use std::ffi::{CStr, CString};
use std::path::Path;
use std::ptr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use libsqlite3_sys as ffi;

use crate::db::Location;

/// Pages copied per step; between steps the service's writers may proceed.
const PAGES_PER_STEP: i32 = 256;

struct Handle(*mut ffi::sqlite3);

impl Handle {
    fn open(path: &Path, flags: i32) -> anyhow::Result<Handle> {
        let name = CString::new(path.to_string_lossy().as_bytes()).context("database path")?;
        let mut db = ptr::null_mut();
        crate::db::sqlite_memory::configure();
        // SAFETY: `name` is a valid C string and `db` a valid out-pointer;
        // the handle is closed in Drop even when opening fails.
        let rc = unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &mut db, flags, ptr::null()) };
        let handle = Handle(db);
        if rc != ffi::SQLITE_OK {
            bail!("cannot open {}: {}", path.display(), handle.message());
        }
        // SAFETY: `db` is an open connection.
        unsafe { ffi::sqlite3_busy_timeout(db, 5000) };
        Ok(handle)
    }

    fn message(&self) -> String {
        if self.0.is_null() {
            return "out of memory".into();
        }
        // SAFETY: sqlite3_errmsg returns a valid C string owned by the connection.
        unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.0)) }
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: closing a null or open handle is allowed exactly once.
        unsafe { ffi::sqlite3_close(self.0) };
    }
}

/// Copies the SQLite database at `database_url` to `target`, which must not
/// exist yet.
pub fn backup(database_url: &str, target: &Path) -> anyhow::Result<()> {
    let source = match Location::parse(database_url)? {
        Location::Sqlite(path) => path,
        Location::Postgres(_) => bail!(
            "backup copies SQLite databases; for PostgreSQL use pg_dump (see docs/DEPLOYMENT.md)"
        ),
    };
    if !source.exists() {
        bail!("no database at {}", source.display());
    }
    if target.exists() {
        bail!("{} exists already; choose a new file", target.display());
    }
    let from = Handle::open(&source, ffi::SQLITE_OPEN_READONLY)?;
    let to = Handle::open(target, ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE)?;
    let main = c"main";
    // SAFETY: both handles are open; the backup object is finished below.
    let job = unsafe { ffi::sqlite3_backup_init(to.0, main.as_ptr(), from.0, main.as_ptr()) };
    if job.is_null() {
        bail!("cannot start the backup: {}", to.message());
    }
    let outcome = loop {
        // SAFETY: `job` is a live backup object until sqlite3_backup_finish.
        match unsafe { ffi::sqlite3_backup_step(job, PAGES_PER_STEP) } {
            ffi::SQLITE_DONE => break Ok(()),
            ffi::SQLITE_OK => continue,
            ffi::SQLITE_BUSY | ffi::SQLITE_LOCKED => std::thread::sleep(Duration::from_millis(50)),
            code => {
                break Err(anyhow!(
                    "backup failed (SQLite error {code}): {}",
                    to.message()
                ))
            }
        }
    };
    // SAFETY: finishing the live backup object once.
    let finished = unsafe { ffi::sqlite3_backup_finish(job) };
    outcome?;
    if finished != ffi::SQLITE_OK {
        bail!("backup failed: {}", to.message());
    }
    Ok(())
}
