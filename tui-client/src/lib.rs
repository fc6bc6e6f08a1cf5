//! chat-tui's library: the connection to the server ([`client`]), shared by the
//! terminal UI, the scriptable subcommands and the end-to-end tests.

pub mod client;

pub use client::{Client, ClientError, Connected};
