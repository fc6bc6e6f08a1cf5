//! register, login, logout, whoami.

use std::io::BufRead;

use chat_proto::request::{ChangePassword, DeleteAccount, Login, Logout, Register};
use chat_tui::config::SavedSession;
use serde_json::json;

use super::{Context, EXIT_CONNECTION, EXIT_LOCAL, EXIT_NOT_LOGGED_IN, EXIT_USAGE, Failure};

#[derive(Debug, clap::Args)]
pub struct Credentials {
    /// The account's username.
    pub username: String,
    /// Read the password from the first line of standard input instead of a prompt.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, clap::Args)]
pub struct PasswordArgs {
    /// Read the old and the new password from the first two lines of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// Confirm: without it nothing is deleted.
    #[arg(long)]
    pub yes: bool,
    /// Read the password from the first line of standard input instead of a prompt.
    #[arg(long)]
    pub password_stdin: bool,
}

/// A secret from the next line of stdin, or from a prompt that does not echo.
fn secret(from_stdin: bool, prompt: &str) -> Result<String, Failure> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::new(EXIT_LOCAL, format!("cannot read the password: {e}")))?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    rpassword::prompt_password(prompt).map_err(|e| {
        Failure::new(EXIT_USAGE, format!("cannot prompt for a password ({e}); use --password-stdin"))
    })
}

/// The password, from stdin or a prompt that does not echo.
fn password(c: &Credentials) -> Result<String, Failure> {
    secret(c.password_stdin, &format!("password for {}: ", c.username))
}

pub async fn register(ctx: &Context, c: Credentials) -> Result<(), Failure> {
    let password = password(&c)?;
    let client = ctx.connect().await?;
    let reply = client.call(Register { username: c.username.clone(), password: password.clone() }).await?;
    let saved = log_in(ctx, &client, &c.username, password).await?;
    ctx.out.print(&json!({"user_id": reply.user_id, "username": saved.username}), || {
        format!("registered and logged in as {} (user {})", saved.username, reply.user_id)
    });
    Ok(())
}

pub async fn login(ctx: &Context, c: Credentials) -> Result<(), Failure> {
    let password = password(&c)?;
    let client = ctx.connect().await?;
    let saved = log_in(ctx, &client, &c.username, password).await?;
    ctx.out.print(
        &json!({"user_id": saved.user_id, "username": saved.username, "server": saved.server}),
        || format!("logged in as {} (user {}) at {}", saved.username, saved.user_id, saved.server),
    );
    Ok(())
}

async fn log_in(
    ctx: &Context,
    client: &chat_tui::Client,
    username: &str,
    password: String,
) -> Result<SavedSession, Failure> {
    let device = Some("chat-tui".to_owned());
    let me = client.call(Login { username: username.to_owned(), password, device }).await?;
    let saved = SavedSession {
        server: ctx.server()?,
        username: me.username,
        user_id: me.user_id,
        token: me.token,
        tls: ctx.tls()?,
    };
    ctx.profile.save_session(&saved)?;
    Ok(saved)
}

/// Forgets the local session whether or not the server can be reached (logging out
/// must work offline), and revokes its token on the server when it can.
pub async fn logout(ctx: &Context) -> Result<(), Failure> {
    let saved = ctx.saved()?;
    let revoked = match ctx.resume(&saved).await {
        Ok(client) => client.call(Logout {}).await.map(|_| true).unwrap_or(false),
        // The server refused the token: it is dead already.
        Err(f) if f.exit == EXIT_NOT_LOGGED_IN => true,
        Err(_) => false,
    };
    ctx.profile.forget_session()?;
    let name = &saved.username;
    ctx.out.print(&json!({"logged_out": name, "revoked": revoked}), || {
        if revoked {
            format!("logged out {name}")
        } else {
            format!(
                "logged out {name} here; the server could not be reached, so the session stays valid \
                 there until it expires (change the password to end it everywhere)"
            )
        }
    });
    Ok(())
}

/// Who the saved session is; said also when the server cannot be reached (then
/// unchecked), refused only when the server says the session is gone.
pub async fn whoami(ctx: &Context) -> Result<(), Failure> {
    let saved = ctx.saved()?;
    let checked = match ctx.resume(&saved).await {
        Ok(_) => true,
        Err(f) if f.exit == EXIT_CONNECTION => false,
        Err(f) => return Err(f),
    };
    ctx.out.print(
        &json!({"user_id": saved.user_id, "username": saved.username, "server": saved.server, "checked": checked}),
        || {
            let note = if checked { "" } else { " (server unreachable: not checked)" };
            format!("{} (user {}) at {}{note}", saved.username, saved.user_id, saved.server)
        },
    );
    Ok(())
}

pub async fn passwd(ctx: &Context, a: PasswordArgs) -> Result<(), Failure> {
    let old_password = secret(a.password_stdin, "current password: ")?;
    let new_password = secret(a.password_stdin, "new password: ")?;
    let (client, saved) = ctx.logged_in().await?;
    let reply = client.call(ChangePassword { old_password, new_password }).await?;
    // The old token was revoked with every other session: keep the new one.
    ctx.profile.save_session(&SavedSession { token: reply.token, ..saved.clone() })?;
    ctx.out.print(&json!({"changed": saved.username}), || {
        format!("password changed for {}; your other sessions are logged out", saved.username)
    });
    Ok(())
}

pub async fn delete_account(ctx: &Context, a: DeleteArgs) -> Result<(), Failure> {
    if !a.yes {
        return Err(Failure::new(EXIT_USAGE, "this deletes the account for good; add --yes to confirm"));
    }
    let password = secret(a.password_stdin, "password: ")?;
    let (client, saved) = ctx.logged_in().await?;
    client.call(DeleteAccount { password }).await?;
    ctx.profile.forget_session()?;
    ctx.out.print(&json!({"deleted": saved.username}), || format!("deleted the account {}", saved.username));
    Ok(())
}
