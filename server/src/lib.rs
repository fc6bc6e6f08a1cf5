//! chat-server: the daemon of the chat system.
//!
//! A request travels: socket -> [`conn`] reader (frame codec, max_frame) ->
//! [`dispatch`] -> an op in [`service`] -> [`store`] -> reply into the connection's
//! bounded outbox -> [`conn`] writer. Events to other users go through the [`hub`].

pub mod addr_key;
pub mod admission;
pub mod auth;
pub mod bus;
pub mod config;
pub mod conn;
mod dispatch;
pub mod frames;
pub mod hash_queue;
pub mod hub;
pub mod limits;
pub mod log_limit;
pub mod outbox;
pub mod proxy;
pub mod redis_bus;
pub mod server;
pub mod service;
pub mod state;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod writer;

pub use config::Config;
pub use server::{Server, ServerError};
