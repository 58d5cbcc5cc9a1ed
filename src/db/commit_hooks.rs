//! Work that runs only once a write's transaction is committed (and, on
//! SQLite, synced): the mail handed to this instance's worker, and the
//! count of the schedule changes it made.

use super::schedule_versions::{self, Versions};
use super::DbConnection;
use crate::error::ApiError;
use diesel::Connection;

/// Something to do once a write's transaction is committed (see
/// `on_commit`).
pub type CommitHook = Box<dyn FnOnce() + Send>;

thread_local! {
    /// The hooks of the write transaction running on this thread; `None`
    /// when none is.
    static COMMIT_HOOKS: std::cell::RefCell<Option<Vec<CommitHook>>> =
        const { std::cell::RefCell::new(None) };
}

/// Asks for `hook` to run once the write transaction running on this thread
/// (inside `Db::write`) is committed, on SQLite once its commit is on disk;
/// it never runs if the write fails. Gives `hook` back when no write is
/// running here (a command-line tool's own connection, say).
///
/// A hook registered inside a nested transaction that is rolled back while
/// the write goes on would still run: register hooks from the write's own
/// level (as the outbox does, last).
pub fn on_commit(hook: CommitHook) -> Result<(), CommitHook> {
    COMMIT_HOOKS.with(|hooks| match hooks.borrow_mut().as_mut() {
        Some(hooks) => {
            hooks.push(hook);
            Ok(())
        }
        None => Err(hook),
    })
}

/// Whether a write transaction that takes `on_commit` hooks is running on
/// this thread.
pub fn takes_commit_hooks() -> bool {
    COMMIT_HOOKS.with(|hooks| hooks.borrow().is_some())
}

/// Runs `work` as one transaction and returns the hooks it registered (to
/// run only if it succeeded and, on SQLite, its group commit is synced),
/// the first of them counting its schedule changes in `versions`.
pub(super) fn transaction_with_hooks<T, F>(
    conn: &mut DbConnection,
    versions: &Versions,
    work: F,
) -> (Result<T, ApiError>, Vec<CommitHook>)
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError>,
{
    /// Ends the thread's hook list also when `work` panics, so that no
    /// later use of this thread (a pooled one) seems to be inside a write.
    struct Scope;
    impl Drop for Scope {
        fn drop(&mut self) {
            COMMIT_HOOKS.with(|hooks| hooks.borrow_mut().take());
        }
    }
    COMMIT_HOOKS.with(|hooks| *hooks.borrow_mut() = Some(Vec::new()));
    let scope = Scope;
    // What a failed transaction left noted on this thread is forgotten.
    schedule_versions::take();
    let result = DbConnection::transaction(conn, work);
    let changes = schedule_versions::take();
    let mut hooks = COMMIT_HOOKS
        .with(|hooks| hooks.borrow_mut().take())
        .unwrap_or_default();
    drop(scope);
    if !changes.is_empty() {
        let versions = versions.clone();
        hooks.insert(0, Box::new(move || versions.count(&changes)));
    }
    (result, hooks)
}
