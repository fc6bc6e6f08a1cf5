//! Presence: friends learn when a user's first connection arrives and its last
//! one leaves, unless a block stands between them.

use chat_proto::event::Presence;
use tracing::warn;

use crate::state::AppState;

/// Tells the user's friends (those with no block between them) that it is online
/// or offline. Best effort: a failure to look them up is logged, not fatal.
pub async fn announce(state: &AppState, user_id: u64, username: &str, online: bool) {
    match state.store.presence_audience(user_id).await {
        Ok(friends) => state.notify(friends, Presence { user: username.to_owned(), user_id, online }),
        Err(e) => warn!(error = %e, user_id, "presence not announced"),
    }
}

/// Two users just became friends: each learns whether the other is online.
pub async fn introduce(state: &AppState, a: (u64, &str), b: (u64, &str)) {
    let online = state.bus.online_among(&[a.0, b.0]).await;
    for ((to, _), (about, name)) in [(a, b), (b, a)] {
        let online = online.contains(&about);
        state.notify([to], Presence { user: name.to_owned(), user_id: about, online });
    }
}

/// Whether one user sees another online: never across a block, in either
/// direction. `online` is only asked when it can matter.
pub fn shown(blocked_either_way: bool, online: impl FnOnce() -> bool) -> bool {
    !blocked_either_way && online()
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn a_block_hides_presence() {
        assert!(shown(false, || true));
        assert!(!shown(false, || false));
        assert!(!shown(true, || true));
    }
}
