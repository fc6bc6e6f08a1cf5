//! chat-tui's library: the connection to the server ([`client`]), the session that
//! stays connected and caught up ([`session`]), the local history ([`history`]) and
//! where the client keeps its files ([`config`]), lists fetched whole across pages
//! ([`pages`]), and server text made safe to show ([`display`]). The terminal UI,
//! the scriptable subcommands and the end-to-end tests all build on it.

pub mod catalogue;
pub mod client;
pub mod config;
pub mod display;
pub mod history;
pub mod ids;
mod incoming;
pub mod local_history;
pub mod pages;
mod private;
pub mod session;
pub mod tls;
pub mod tui;

pub use client::{Client, ClientError, Connected, Incoming};
