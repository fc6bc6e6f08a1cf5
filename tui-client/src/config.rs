//! Where the client keeps things: a config file in the platform config directory,
//! the saved session (with its token, readable by the owner only) and the local
//! history in the platform data directory, each under a profile so that several
//! accounts can live on one machine.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::session::TokenSource;
use crate::tls::TlsOptions;

/// The server used when neither a flag, `CHAT_SERVER`, nor the config names one.
pub const DEFAULT_SERVER: &str = "127.0.0.1:7878";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no home directory to keep the client's files in")]
    NoHome,
    #[error("profile names may hold only letters, digits and _ . - (got `{0}`)")]
    BadProfile(String),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
}

/// Settings read from `config.toml`. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// `host:port` of the server.
    pub server: Option<String>,
    /// Connect with TLS, verifying the server against the platform's trust store.
    pub tls: Option<bool>,
    /// PEM file of a private CA to trust instead (implies `tls`).
    pub ca_file: Option<PathBuf>,
    /// Ring the terminal bell on a direct message or a mention (the TUI).
    pub bell: Option<bool>,
    /// Count mentions of your name as unread badges (the TUI).
    pub mention_badges: Option<bool>,
    /// The last server logged in to from the TUI's login screen.
    pub last_server: Option<String>,
    /// The last username logged in with (prefills the TUI's login screen).
    pub last_username: Option<String>,
    /// Key bindings of the TUI: action name to key (`"ctrl+n"`) or keys.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub keys: std::collections::BTreeMap<String, KeyList>,
}

impl ClientConfig {
    /// The TLS settings this file asks for.
    pub fn tls_options(&self) -> TlsOptions {
        TlsOptions { enabled: self.tls.unwrap_or(false), ca_file: self.ca_file.clone() }
    }
}

/// One key or several, in the `[keys]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn as_slice(&self) -> &[String] {
        match self {
            KeyList::One(k) => std::slice::from_ref(k),
            KeyList::Many(ks) => ks,
        }
    }
}

/// A logged-in session as saved between runs.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSession {
    pub server: String,
    pub username: String,
    pub user_id: u64,
    pub token: String,
    /// How the session was reached, so later runs reach it the same way.
    #[serde(default)]
    pub tls: TlsOptions,
}

impl std::fmt::Debug for SavedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedSession")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("user_id", &self.user_id)
            .field("token", &"<redacted>")
            .field("tls", &self.tls)
            .finish()
    }
}

/// One profile's directories.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    config_dir: PathBuf,
    data_dir: PathBuf,
}

impl Profile {
    /// The profile `name` in the platform directories (on Linux
    /// `~/.config/chat-tui/<name>` and `~/.local/share/chat-tui/<name>`).
    pub fn locate(name: &str) -> Result<Self, ConfigError> {
        let dirs = directories::ProjectDirs::from("", "", "chat-tui").ok_or(ConfigError::NoHome)?;
        Self::under(dirs.config_dir(), dirs.data_dir(), name)
    }

    /// The profile `name` under explicit base directories.
    pub fn under(config_base: &Path, data_base: &Path, name: &str) -> Result<Self, ConfigError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with('.')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(ConfigError::BadProfile(name.to_owned()));
        }
        Ok(Self { name: name.to_owned(), config_dir: config_base.join(name), data_dir: data_base.join(name) })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    pub fn session_file(&self) -> PathBuf {
        self.data_dir.join("session.toml")
    }

    /// The local history of `username` (one database per account).
    pub fn history_file(&self, username: &str) -> PathBuf {
        self.data_dir.join(format!("history-{}.db", username.to_ascii_lowercase()))
    }

    /// The log file of the TUI (it never logs to the terminal it draws on).
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("chat-tui.log")
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The config file's settings, or the defaults when there is none.
    /// A `config.toml` where a user might expect it but where it is not read (beside
    /// the profiles instead of inside this one), while this profile has none.
    pub fn misplaced_config(&self) -> Option<PathBuf> {
        let beside = self.config_dir.parent()?.join("config.toml");
        (beside.is_file() && !self.config_file().exists()).then_some(beside)
    }

    pub fn load_config(&self) -> Result<ClientConfig, ConfigError> {
        read_toml(&self.config_file()).map(Option::unwrap_or_default)
    }

    pub fn save_config(&self, config: &ClientConfig) -> Result<(), ConfigError> {
        write_toml(&self.config_file(), config)
    }

    pub fn load_session(&self) -> Result<Option<SavedSession>, ConfigError> {
        read_toml(&self.session_file())
    }

    /// The token of the session saved for `username`, read again each time it is
    /// asked for (a password change on this machine saves a new one).
    pub fn saved_token(&self, username: &str) -> TokenSource {
        let (profile, username) = (self.clone(), username.to_owned());
        std::sync::Arc::new(move || {
            let saved = profile.load_session().ok().flatten()?;
            saved.username.eq_ignore_ascii_case(&username).then_some(saved.token)
        })
    }

    /// Saves the session where only its owner can read it, replacing any earlier one
    /// atomically.
    pub fn save_session(&self, session: &SavedSession) -> Result<(), ConfigError> {
        write_toml(&self.session_file(), session)
    }

    pub fn forget_session(&self) -> Result<(), ConfigError> {
        let path = self.session_file();
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ConfigError::Write { path, source: e }),
            _ => Ok(()),
        }
    }
}

fn read_toml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, ConfigError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ConfigError::Read { path: path.to_owned(), source: e }),
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
}

/// Writes `value` to `path` (owner-only, in a directory only its owner may enter:
/// the session holds a token, and whoever edits the config picks the server).
fn write_toml<T: Serialize>(path: &Path, value: &T) -> Result<(), ConfigError> {
    let err = |source| ConfigError::Write { path: path.to_owned(), source };
    let text = toml::to_string(value).map_err(|e| err(std::io::Error::other(e.to_string())))?;
    let dir = path.parent().ok_or_else(|| err(std::io::Error::other("no parent directory")))?;
    crate::private::create_dir(dir).map_err(err)?;
    let tmp = path.with_extension("tmp");
    let mut file =
        crate::private::file_options().write(true).create(true).truncate(true).open(&tmp).map_err(err)?;
    // A temporary file left by a crash of an older release keeps its mode when opened.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    file.write_all(text.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_beside_the_profiles_is_reported_not_silently_ignored() {
        let base = tempfile::tempdir().unwrap();
        let p = Profile::under(&base.path().join("c"), &base.path().join("d"), "default").unwrap();
        assert_eq!(p.misplaced_config(), None);
        std::fs::create_dir_all(base.path().join("c")).unwrap();
        std::fs::write(base.path().join("c/config.toml"), "server = \"x:1\"\n").unwrap();
        assert_eq!(p.misplaced_config(), Some(base.path().join("c/config.toml")));
        p.save_config(&ClientConfig::default()).unwrap();
        assert_eq!(p.misplaced_config(), None, "the profile has its own");
    }

    #[test]
    fn sessions_are_saved_privately_and_configs_read_back() {
        let base = tempfile::tempdir().unwrap();
        let p = Profile::under(&base.path().join("c"), &base.path().join("d"), "work").unwrap();
        assert_eq!(p.load_config().unwrap(), ClientConfig::default());
        assert!(p.load_session().unwrap().is_none());
        let s = SavedSession {
            server: "h:1".into(),
            username: "ann".into(),
            user_id: 3,
            token: "f".repeat(64),
            tls: TlsOptions::default(),
        };
        p.save_session(&s).unwrap();
        assert_eq!(p.load_session().unwrap(), Some(s.clone()));
        assert!(!format!("{s:?}").contains("ffff"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(p.session_file()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        p.forget_session().unwrap();
        p.forget_session().unwrap();
        assert!(p.load_session().unwrap().is_none());
        let mut c = ClientConfig { server: Some("x:9".into()), bell: Some(false), ..Default::default() };
        c.last_username = Some("ann".into());
        c.keys.insert("quit".into(), KeyList::One("ctrl+q".into()));
        c.keys.insert("send".into(), KeyList::Many(vec!["enter".into(), "ctrl+s".into()]));
        p.save_config(&c).unwrap();
        assert_eq!(p.load_config().unwrap(), c);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&p.config_file()), 0o600, "whoever edits it picks the server");
            for dir in [base.path().join("c"), base.path().join("c/work"), base.path().join("d/work")] {
                assert_eq!(mode(&dir), 0o700, "{dir:?}");
            }
        }
        fs::write(p.config_file(), "[keys]\nquit = \"ctrl+q\"\nsend = [\"enter\"]\n").unwrap();
        assert_eq!(p.load_config().unwrap().keys.len(), 2);
        fs::write(p.config_file(), "nonsense = 1").unwrap();
        assert!(matches!(p.load_config(), Err(ConfigError::Parse { .. })));
        assert!(Profile::under(base.path(), base.path(), "../etc").is_err());
        assert!(Profile::under(base.path(), base.path(), "").is_err());
    }
}
