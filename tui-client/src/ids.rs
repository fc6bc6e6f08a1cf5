//! Ids for composed messages (`client_msg_id`). The server answers a send whose id
//! it has seen with the first message stored under it, so an id that repeats makes
//! a message vanish silently: every id comes from here, and none repeats.

use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh `client_msg_id`: 128 random bits as hex.
pub fn client_msg_id() -> String {
    client_msg_id_from(|raw| getrandom::fill(raw).is_ok())
}

/// Where randomness cannot be had, the id is made of this process's start-unique
/// parts instead: the wall clock in nanoseconds, the process id and a counter, so
/// it still never repeats within the process, nor across runs.
fn client_msg_id_from(fill: impl FnOnce(&mut [u8; 16]) -> bool) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut raw = [0u8; 16];
    if fill(&mut raw) {
        return hex::encode(raw);
    }
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("t{nanos:x}-{:x}-{n:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_never_repeat_even_without_randomness() {
        let random: HashSet<String> = (0..1000).map(|_| client_msg_id()).collect();
        assert_eq!(random.len(), 1000);
        let fallback: HashSet<String> = (0..1000).map(|_| client_msg_id_from(|_| false)).collect();
        assert_eq!(fallback.len(), 1000, "a failed random source must not repeat an id");
        assert!(
            fallback.iter().all(|id| (1..=64).contains(&id.len())),
            "within the protocol's 64 characters"
        );
    }
}
