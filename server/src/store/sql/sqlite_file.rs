//! A `sqlite:` URL made ready to open: the file is created when missing (no need for
//! `?mode=rwc`), and everything created for it is private to the server's user.
//!
//! The database holds password hashes, session tokens and every message, so its
//! directory is created 0700 and its files 0600 whatever the umask. SQLite gives a
//! new `-wal` or `-shm` file the main file's permissions; they are created here too,
//! 0600, so that holds even beside an older, looser database file. A file that
//! already exists is never changed (it is the operator's): if other users can read
//! it, a warning says so and how to fix it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;

use crate::store::{StoreError, StoreResult};

/// What a `sqlite:` URL asks for on disk.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// The URL to open: the given one, with `mode=rwc` added when it had no mode.
    pub url: String,
    /// The database file to create if missing; `None` for an in-memory database, or
    /// when an explicit mode (`ro`, `rw`) says not to create it.
    pub create: Option<PathBuf>,
}

/// The plan for `url` (a `sqlite:` URL), without touching the disk.
pub fn plan(url: &str) -> StoreResult<Plan> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    let mode = params.split('&').filter_map(|p| p.strip_prefix("mode=")).next_back();
    let in_memory = database.is_empty() || database == ":memory:" || mode == Some("memory");
    let url = match mode {
        None if !in_memory => format!("{url}{}mode=rwc", if params.is_empty() { '?' } else { '&' }),
        _ => url.to_owned(),
    };
    let create = match mode {
        None | Some("rwc") if !in_memory => {
            // sqlx's own reading of the path (percent-decoding and all).
            Some(SqliteConnectOptions::from_str(&url)?.get_filename().to_path_buf())
        }
        _ => None,
    };
    Ok(Plan { url, create })
}

/// Prepares `url` as [`plan`] says, and returns the URL to open.
pub fn prepare(url: &str) -> StoreResult<String> {
    let plan = plan(url)?;
    if let Some(db) = &plan.create {
        create_private(db)?;
    }
    Ok(plan.url)
}

/// The database's directory (0700) and its main, `-wal` and `-shm` files (0600),
/// each created if missing.
fn create_private(db: &Path) -> StoreResult<()> {
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::File { path, source }
    };
    let dir = db.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.exists() {
        private_dir(dir).map_err(err(dir))?;
    }
    for file in [db.to_owned(), beside(db, "-wal"), beside(db, "-shm")] {
        match private_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => warn_if_shared(&file),
            Err(e) => return Err(err(&file)(e)),
        }
    }
    Ok(())
}

/// `db` with `suffix` appended to its file name, as SQLite names its side files.
fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Creates `dir` and its missing parents, owner-only.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the empty file `path`, owner-only; `AlreadyExists` if it is there.
fn private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

/// Warns when other users may read an existing database file.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "the database file is readable by other users; make it private with `chmod 600`"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(url: &str) -> Option<PathBuf> {
        plan(url).unwrap().create
    }

    #[test]
    fn files_are_created_without_asking() {
        for (url, path) in [
            ("sqlite:///var/lib/chat/chat.db", "/var/lib/chat/chat.db"),
            ("sqlite:/abs/path.db", "/abs/path.db"),
            ("sqlite:relative.db", "relative.db"),
            ("sqlite://relative.db", "relative.db"),
            ("sqlite:/with%20space.db", "/with space.db"),
        ] {
            assert_eq!(
                plan(url).unwrap(),
                Plan { url: format!("{url}?mode=rwc"), create: Some(path.into()) }
            );
        }
        assert_eq!(plan("sqlite:/a.db?cache=shared").unwrap().url, "sqlite:/a.db?cache=shared&mode=rwc");
        assert_eq!(created("sqlite:/a.db?mode=rwc"), Some("/a.db".into()));
    }

    #[test]
    fn an_explicit_mode_or_memory_is_kept_as_given() {
        for url in
            ["sqlite:/a.db?mode=ro", "sqlite:/a.db?mode=rw", "sqlite::memory:", "sqlite://?mode=memory"]
        {
            assert_eq!(plan(url).unwrap(), Plan { url: url.to_owned(), create: None }, "{url}");
        }
        assert!(plan("sqlite:/a.db?mode=nonsense").is_ok(), "sqlx refuses it when it opens");
    }

    #[cfg(unix)]
    #[test]
    fn created_files_and_directories_are_private_and_existing_ones_untouched() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let db = base.path().join("a/b/chat.db");
        prepare(&format!("sqlite://{}", db.display())).unwrap();
        for dir in [base.path().join("a"), base.path().join("a/b")] {
            assert_eq!(mode(&dir), 0o700, "{dir:?}");
        }
        for file in ["chat.db", "chat.db-wal", "chat.db-shm"] {
            assert_eq!(mode(&base.path().join("a/b").join(file)), 0o600, "{file}");
        }
        let loose = base.path().join("loose.db");
        std::fs::write(&loose, b"").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        prepare(&format!("sqlite:{}", loose.display())).unwrap();
        assert_eq!(mode(&loose), 0o644, "the operator's file is not changed");
        assert_eq!(mode(&base.path().join("loose.db-wal")), 0o600);
    }
}
