//! Files and folders the service writes (the SQLite database and its WAL,
//! `.eml` mail, backups, the server key): readable by their owner only,
//! mode 0600 in folders of mode 0700, whatever the process's umask.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every file the service writes.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every folder the service creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents with mode 0700. Folders that
/// exist already keep their mode: they may be shared (`/data`, the working
/// directory), and what the service puts in them is private anyway.
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = DirBuilder::new();
    builder.recursive(true).mode(DIR_MODE);
    builder.create(dir)
}

/// Creates `path` (which must not exist) with mode 0600, for writing.
pub fn create_new(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Writes `bytes` to the new file `path` (mode 0600), syncs it and its
/// folder, so that it is on disk whole once this returns.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = create_new(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    sync_parent(path)
}

/// Syncs the folder holding `path`, so that the file's name survives a
/// power cut as well as its content.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// Takes the group's and others' permissions away from `path`, when it
/// exists (a database file created by an earlier version, say).
pub fn restrict(path: &Path) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.permissions().mode() & 0o077 != 0 => {
            let mode = metadata.permissions().mode() & 0o700;
            std::fs::set_permissions(path, Permissions::from_mode(mode))
        }
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_folders_and_files_are_private_whatever_they_are_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_dir_all(&nested).unwrap();
        assert_eq!(mode(&dir.path().join("a")), DIR_MODE);
        assert_eq!(mode(&nested), DIR_MODE);
        let file = nested.join("f");
        write_new(&file, b"x").unwrap();
        assert_eq!(mode(&file), FILE_MODE);
        assert!(write_new(&file, b"y").is_err(), "never overwrites");
        let open = dir.path().join("open");
        std::fs::write(&open, b"").unwrap();
        std::fs::set_permissions(&open, Permissions::from_mode(0o644)).unwrap();
        restrict(&open).unwrap();
        assert_eq!(mode(&open), 0o600);
        restrict(&dir.path().join("missing")).unwrap();
    }
}
