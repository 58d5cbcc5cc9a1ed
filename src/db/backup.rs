//! `clinic-booking backup PATH`: a consistent copy of the SQLite database
//! taken while the service keeps running, readable by its owner only.
//! (For PostgreSQL, use `pg_dump`; see docs/DEPLOYMENT.md.)
//!
//! The copy is written by `VACUUM INTO` inside one read transaction: in WAL
//! mode writers go on beside it and it sees the database as it was when it
//! began, so it finishes however busy the service is. (SQLite's online
//! backup API, copying a few pages per step, starts over whenever another
//! connection writes between two steps: under a steady stream of bookings
//! it never ended.)

use std::ffi::{CStr, CString};
use std::path::Path;
use std::ptr;

use anyhow::{bail, Context};
use libsqlite3_sys as ffi;

use crate::db::Location;
use crate::private_files;

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
/// exist yet: a new file of mode 0600, synced with its folder before this
/// returns. A failed copy leaves no file behind.
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
    // Made here, empty and private, so that SQLite writes into a file no one
    // else may read (VACUUM INTO takes an empty file as a new one).
    private_files::create_new(target).map_err(|error| match error.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("{} exists already; choose a new file", target.display())
        }
        _ => anyhow::Error::new(error).context(format!("cannot create {}", target.display())),
    })?;
    let copied = copy_into(&source, target);
    if copied.is_err() {
        let _ = std::fs::remove_file(target);
    }
    copied
}

fn copy_into(source: &Path, target: &Path) -> anyhow::Result<()> {
    let from = Handle::open(source, ffi::SQLITE_OPEN_READONLY)?;
    let quoted = target.to_string_lossy().replace('\'', "''");
    let sql = CString::new(format!("VACUUM INTO '{quoted}'")).context("backup path")?;
    let mut error = ptr::null_mut();
    // SAFETY: `from` is open, `sql` a valid C string, `error` a valid
    // out-pointer whose message is freed below.
    let rc = unsafe { ffi::sqlite3_exec(from.0, sql.as_ptr(), None, ptr::null_mut(), &mut error) };
    if rc != ffi::SQLITE_OK {
        let message = if error.is_null() {
            from.message()
        } else {
            // SAFETY: SQLite set `error` to a C string it allocated.
            let text = unsafe { CStr::from_ptr(error) }
                .to_string_lossy()
                .into_owned();
            // SAFETY: freeing SQLite's own allocation once.
            unsafe { ffi::sqlite3_free(error.cast()) };
            text
        };
        bail!("backup failed (SQLite error {rc}): {message}");
    }
    drop(from);
    // VACUUM INTO does not sync what it wrote.
    std::fs::File::open(target)
        .and_then(|file| file.sync_all())
        .and_then(|()| private_files::sync_parent(target))
        .with_context(|| format!("cannot sync {}", target.display()))
}
