//! Files only their owner can read. The session file holds a login token; the
//! history holds every message; the log names people. Directories the client
//! creates are 0700 and its files 0600, whatever the umask: the mode is given at
//! creation, never widened later. A history database that an older release left
//! readable by others is made private when it is opened: it is the client's own
//! file, in its own directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Creates `dir` and its missing parents, owner-only. Directories that already
/// exist keep their mode.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Options that create a missing file owner-only.
pub fn file_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// A SQLite database at `db`: its directory, and the database with its `-wal` and
/// `-shm` files, created owner-only where missing, before SQLite opens them (it
/// would create them with the umask's mode); existing ones made owner-only.
pub fn create_sqlite_files(db: &Path) -> io::Result<()> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir(dir)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        match file_options().write(true).create_new(true).open(&path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => tighten(&path)?,
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Takes away what group and others may do with `path`.
fn tighten(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_owner_only_and_existing_files_made_private() {
        let base = tempfile::tempdir().unwrap();
        let db = base.path().join("a/b/h.db");
        create_sqlite_files(&db).unwrap();
        assert_eq!((mode(&base.path().join("a")), mode(&base.path().join("a/b"))), (0o700, 0o700));
        for f in ["h.db", "h.db-wal", "h.db-shm"] {
            assert_eq!(mode(&base.path().join("a/b").join(f)), 0o600, "{f}");
        }
        fs::write(&db, b"kept").unwrap();
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        create_sqlite_files(&db).unwrap();
        assert_eq!((mode(&db), fs::read(&db).unwrap()), (0o600, b"kept".to_vec()));
    }
}
