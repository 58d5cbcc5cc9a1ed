//! How SQLite allocates memory and which locks it takes, set once per
//! process before its first connection.
//!
//! The bundled SQLite is built with memory statistics on and its own calls
//! to the C library's `malloc`: every allocation took one process-wide
//! mutex, and then one of glibc's arena locks. Under the booking load the
//! SQLite writer waited on those locks while the mail worker read on other
//! connections. Here SQLite keeps no statistics (nothing reads them),
//! allocates from mimalloc (per-thread heaps, the allocator of the rest of
//! the service) and skips the per-connection mutexes (`MULTITHREAD`: a
//! connection is used by one thread at a time, as r2d2 and the writer
//! thread already guarantee).
//!
//! `sqlite3_config` must not run while another thread uses SQLite: every
//! place here that opens SQLite does so through `establish` (or calls
//! `configure` first), and `configure` makes callers wait until it has run
//! once.

use std::os::raw::{c_int, c_void};
use std::sync::OnceLock;

use diesel::{Connection, ConnectionResult, SqliteConnection};
use libsqlite3_sys as ffi;

unsafe extern "C" fn allocate(size: c_int) -> *mut c_void {
    // SQLite never asks for a negative size; a zero-sized request still
    // gets a unique pointer from mimalloc, as from malloc.
    unsafe { libmimalloc_sys::mi_malloc(usize::try_from(size).unwrap_or(0)) }
}

unsafe extern "C" fn free(block: *mut c_void) {
    unsafe { libmimalloc_sys::mi_free(block) }
}

unsafe extern "C" fn reallocate(block: *mut c_void, size: c_int) -> *mut c_void {
    unsafe { libmimalloc_sys::mi_realloc(block, usize::try_from(size).unwrap_or(0)) }
}

unsafe extern "C" fn size_of(block: *mut c_void) -> c_int {
    let size = unsafe { libmimalloc_sys::mi_usable_size(block) };
    c_int::try_from(size).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn round_up(size: c_int) -> c_int {
    let rounded = unsafe { libmimalloc_sys::mi_good_size(usize::try_from(size).unwrap_or(0)) };
    c_int::try_from(rounded).unwrap_or(size)
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

static CONFIGURED: OnceLock<bool> = OnceLock::new();

/// Sets SQLite up as described above, once; later calls only repeat the
/// answer: whether SQLite took the settings. Must run before the process
/// opens its first SQLite connection: SQLite refuses afterwards
/// (`SQLITE_MISUSE`), and then keeps its defaults, which are correct, only
/// slower; that is logged.
pub fn configure() -> bool {
    *CONFIGURED.get_or_init(|| {
        let methods = ffi::sqlite3_mem_methods {
            xMalloc: Some(allocate),
            xFree: Some(free),
            xRealloc: Some(reallocate),
            xSize: Some(size_of),
            xRoundup: Some(round_up),
            xInit: Some(init),
            xShutdown: Some(shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: no other thread is inside SQLite (see the module's doc);
        // sqlite3_config is called before SQLite is initialised (or refuses
        // with SQLITE_MISUSE and changes nothing); SQLite copies `methods`,
        // whose functions live as long as the program.
        let results = unsafe {
            [
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_MULTITHREAD),
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int),
                ffi::sqlite3_config(
                    ffi::SQLITE_CONFIG_MALLOC,
                    &methods as *const ffi::sqlite3_mem_methods,
                ),
            ]
        };
        let taken = results.iter().all(|&rc| rc == ffi::SQLITE_OK);
        if !taken {
            tracing::warn!(
                ?results,
                "SQLite was already in use: it keeps its default allocator and locks"
            );
        }
        taken
    })
}

/// Opens a SQLite connection (`url`: a path or a `file:` URI), SQLite set
/// up first.
pub fn establish(url: &str) -> ConnectionResult<SqliteConnection> {
    configure();
    SqliteConnection::establish(url)
}
