//! The scriptable subcommands.

mod account;
mod conversations;
mod output;
mod social;

use chat_tui::client::DEFAULT_TIMEOUT;
use chat_tui::config::{ConfigError, DEFAULT_SERVER, Profile, SavedSession};
use chat_tui::tls::{Endpoint, TlsOptions};
use chat_tui::{Client, ClientError};
use clap::{Parser, Subcommand};

pub use output::Output;

/// The server refused the request (the message names its error code).
pub const EXIT_REFUSED: u8 = 1;
/// The command line was wrong (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;
/// The server could not be reached, or the connection was lost.
pub const EXIT_CONNECTION: u8 = 3;
/// No saved session, or it expired: `chat-tui login` first.
pub const EXIT_NOT_LOGGED_IN: u8 = 4;
/// A local file could not be read or written.
pub const EXIT_LOCAL: u8 = 5;

/// chat-tui: a terminal chat client.
///
/// Exit codes: 0 done, 1 the server refused (error code on stderr), 2 bad usage,
/// 3 cannot reach the server, 4 not logged in, 5 local files unreadable.
#[derive(Debug, Parser)]
#[command(name = "chat-tui", version, about, long_about = None)]
pub struct Cli {
    /// Server `host:port` (default: the config file's, else 127.0.0.1:7878).
    #[arg(long, env = "CHAT_SERVER", global = true)]
    pub server: Option<String>,
    /// Profile: a separate account, session and history on this machine.
    #[arg(long, env = "CHAT_PROFILE", default_value = "default", global = true)]
    pub profile: String,
    /// Print machine-readable JSON (one object per line) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Connect with TLS, trusting the platform's certificate store (also `tls =
    /// true` in config.toml; a session logged in with TLS keeps using it).
    #[arg(long, env = "CHAT_TLS", global = true)]
    pub tls: bool,
    /// Trust this PEM CA file instead of the platform's store (implies --tls; also
    /// `ca_file` in config.toml).
    #[arg(long, env = "CHAT_CA_FILE", global = true, value_name = "PATH")]
    pub ca_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account and log in to it.
    Register(account::Credentials),
    /// Log in and save the session for the other subcommands.
    Login(account::Credentials),
    /// Log out and forget the saved session.
    Logout,
    /// Show who is logged in, and where.
    Whoami,
    /// Change your password; every other session is logged out.
    Passwd(account::PasswordArgs),
    /// Delete your account for good: friendships, memberships and owned groups go too.
    DeleteAccount(account::DeleteArgs),
    /// Send a message to a friend or a group.
    Send(conversations::SendArgs),
    /// Show a conversation's messages, oldest first.
    History(conversations::HistoryArgs),
    /// Print incoming events until interrupted, reconnecting as needed.
    Tail,
    /// Mark a conversation read, up to SEQ (default: all of it).
    Read(conversations::ReadArgs),
    /// Withdraw a message you sent (within the server's recall window).
    Recall {
        /// The message's msg_id (`send` prints it).
        msg_id: u64,
    },
    /// List conversations with unread counts, newest first.
    Conversations(conversations::ListArgs),
    /// Friends: list (default), add, accept, reject, remove, block, unblock, requests.
    Friends {
        #[command(subcommand)]
        action: Option<social::FriendsAction>,
    },
    /// Groups: list (default), create, info, search, join, requests, accept, reject,
    /// members, leave, kick, promote, demote, dissolve.
    Groups {
        #[command(subcommand)]
        action: Option<social::GroupsAction>,
    },
}

/// Why a subcommand failed, and the exit code that says so.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub exit: u8,
}

impl Failure {
    pub fn new(exit: u8, message: impl Into<String>) -> Self {
        Self { message: message.into(), exit }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let exit = match &e {
            ClientError::Server { error, .. } if error.code == chat_proto::ErrorCode::Unauthenticated => {
                EXIT_NOT_LOGGED_IN
            }
            ClientError::Server { .. } => EXIT_REFUSED,
            _ => EXIT_CONNECTION,
        };
        Self::new(exit, e.to_string())
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Self::new(EXIT_LOCAL, e.to_string())
    }
}

impl From<chat_tui::history::HistoryError> for Failure {
    fn from(e: chat_tui::history::HistoryError) -> Self {
        Self::new(EXIT_LOCAL, e.to_string())
    }
}

/// What every subcommand starts from.
#[derive(Debug)]
pub struct Context {
    pub profile: Profile,
    pub server_flag: Option<String>,
    /// What the flags say of TLS.
    pub tls_flags: TlsOptions,
    pub out: Output,
}

impl Context {
    /// The server to talk to: the flag (or `CHAT_SERVER`), the config file's, the
    /// default.
    pub fn server(&self) -> Result<String, Failure> {
        if let Some(s) = &self.server_flag {
            return Ok(s.clone());
        }
        Ok(self.profile.load_config()?.server.unwrap_or_else(|| DEFAULT_SERVER.to_owned()))
    }

    /// TLS as the flags, else the config file, say.
    pub fn tls(&self) -> Result<TlsOptions, Failure> {
        Ok(self.tls_flags.clone().or(&self.profile.load_config()?.tls_options()))
    }

    pub async fn connect(&self) -> Result<Client, Failure> {
        let endpoint = self.endpoint(self.server()?, &self.tls()?)?;
        self.open(&endpoint).await
    }

    /// `server` reached as `tls` says.
    pub fn endpoint(&self, server: String, tls: &TlsOptions) -> Result<Endpoint, Failure> {
        Endpoint::new(server, tls).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))
    }

    async fn open(&self, endpoint: &Endpoint) -> Result<Client, Failure> {
        let connected = Client::open(endpoint, DEFAULT_TIMEOUT).await.map_err(|e| {
            Failure::new(EXIT_CONNECTION, format!("cannot reach the server at {endpoint}: {e}"))
        })?;
        Ok(connected.client)
    }

    /// Where the saved session lives: its server and TLS unless the flags say
    /// otherwise.
    pub fn saved_endpoint(&self, saved: &SavedSession) -> Result<Endpoint, Failure> {
        let server = self.server_flag.clone().unwrap_or_else(|| saved.server.clone());
        self.endpoint(server, &self.tls()?.or(&saved.tls))
    }

    /// The saved session, or exit code 4.
    pub fn saved(&self) -> Result<SavedSession, Failure> {
        self.profile.load_session()?.ok_or_else(|| {
            Failure::new(EXIT_NOT_LOGGED_IN, "not logged in: run `chat-tui login USERNAME` first")
        })
    }

    /// A connection authenticated with the saved session.
    pub async fn logged_in(&self) -> Result<(Client, SavedSession), Failure> {
        let saved = self.saved()?;
        Ok((self.resume(&saved).await?, saved))
    }

    /// A connection authenticated with `saved`.
    pub async fn resume(&self, saved: &SavedSession) -> Result<Client, Failure> {
        let client = self.open(&self.saved_endpoint(saved)?).await?;
        let resume =
            chat_proto::request::Resume { token: saved.token.clone(), device: Some("chat-tui".into()) };
        match client.call(resume).await {
            Ok(_) => Ok(client),
            Err(e) if e.code() == Some(chat_proto::ErrorCode::InvalidCredentials) => Err(Failure::new(
                EXIT_NOT_LOGGED_IN,
                "the saved session expired or was revoked: run `chat-tui login` again",
            )),
            Err(e) => Err(e.into()),
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let profile = Profile::locate(&cli.profile)?;
    if let Some(misplaced) = profile.misplaced_config() {
        eprintln!(
            "warning: {} is not read; profile `{}` reads {}: move it there",
            misplaced.display(),
            cli.profile,
            profile.config_file().display()
        );
    }
    let tls_flags = TlsOptions { enabled: cli.tls, ca_file: cli.ca_file };
    let ctx = Context { profile, server_flag: cli.server, tls_flags, out: Output { json: cli.json } };
    let Some(command) = cli.command else {
        // The full-screen interface, after the login screen when no session is saved.
        let to_failure = |e: chat_tui::tui::TuiError| match e {
            chat_tui::tui::TuiError::LoggedOut => Failure::new(EXIT_NOT_LOGGED_IN, e.to_string()),
            chat_tui::tui::TuiError::History(_) => Failure::new(EXIT_LOCAL, e.to_string()),
            chat_tui::tui::TuiError::Terminal(_) => Failure::new(EXIT_USAGE, e.to_string()),
        };
        let saved = match ctx.profile.load_session()? {
            Some(saved) => saved,
            None => {
                let config = ctx.profile.load_config()?;
                let tls = ctx.tls_flags.clone().or(&config.tls_options());
                let server = ctx
                    .server_flag
                    .clone()
                    .or(config.server)
                    .or(config.last_server)
                    .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
                let username = config.last_username.clone().unwrap_or_default();
                match chat_tui::tui::login::run(&ctx.profile, server, tls, username)
                    .await
                    .map_err(to_failure)?
                {
                    Some(saved) => saved,
                    None => return Ok(()),
                }
            }
        };
        let server = ctx.saved_endpoint(&saved)?;
        return chat_tui::tui::run(&ctx.profile, server, saved).await.map_err(to_failure);
    };
    match command {
        Command::Register(c) => account::register(&ctx, c).await,
        Command::Login(c) => account::login(&ctx, c).await,
        Command::Logout => account::logout(&ctx).await,
        Command::Whoami => account::whoami(&ctx).await,
        Command::Passwd(a) => account::passwd(&ctx, a).await,
        Command::DeleteAccount(a) => account::delete_account(&ctx, a).await,
        Command::Send(a) => conversations::send(&ctx, a).await,
        Command::History(a) => conversations::history(&ctx, a).await,
        Command::Tail => conversations::tail(&ctx).await,
        Command::Read(a) => conversations::read(&ctx, a).await,
        Command::Recall { msg_id } => conversations::recall(&ctx, msg_id).await,
        Command::Conversations(a) => conversations::list(&ctx, a).await,
        Command::Friends { action } => {
            social::friends(&ctx, action.unwrap_or(social::FriendsAction::List)).await
        }
        Command::Groups { action } => {
            social::groups(&ctx, action.unwrap_or(social::GroupsAction::List)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand is in the one catalogue of commands, where its slash
    /// command is, or why there is none; a subcommand added without it fails here.
    #[test]
    fn every_subcommand_is_in_the_catalogue() {
        let listed: Vec<&str> = chat_tui::catalogue::COMMANDS.iter().filter_map(|e| e.cli).collect();
        let mut paths = Vec::new();
        for command in super::Cli::command().get_subcommands() {
            let nested: Vec<_> = command.get_subcommands().filter(|s| s.get_name() != "help").collect();
            if nested.is_empty() {
                paths.push(command.get_name().to_owned());
            }
            paths.extend(nested.iter().map(|s| format!("{} {}", command.get_name(), s.get_name())));
        }
        paths.retain(|p| p != "help");
        for path in &paths {
            assert!(
                listed.iter().any(|cli| *cli == path || cli.starts_with(&format!("{path} "))),
                "`chat-tui {path}` is not in the catalogue"
            );
        }
        for cli in listed {
            assert!(
                paths.iter().any(|p| cli == p || cli.starts_with(&format!("{p} "))),
                "the catalogue lists `chat-tui {cli}`, which does not exist"
            );
        }
    }
}
