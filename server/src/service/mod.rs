//! The ops, one module per family of the contract.

pub mod error;
pub mod friends;
pub mod groups;
pub mod messages;
pub mod paging;
pub mod presence;
pub mod session;

use chat_proto::{ErrorCode, validate};

pub use error::OpError;

use crate::state::AppState;
use crate::store::UserRef;

/// The user a request names: `bad_request` for an invalid name, `not_found` for an
/// unknown one.
pub async fn find_user(state: &AppState, username: &str) -> Result<UserRef, OpError> {
    validate::username(username).map_err(OpError::bad_request)?;
    match state.store.user_by_name(username).await? {
        Some(u) => Ok(UserRef { id: u.id, username: u.username }),
        None => Err(OpError::new(ErrorCode::NotFound, format!("no user named {username}"))),
    }
}
