//! Pages of lists: how many entries one asks for and what fits in one reply frame.

use serde::Serialize;

use crate::state::AppState;

/// Entries in a page unless the request asks for fewer or more.
const DEFAULT_PAGE: u64 = 100;
/// Room kept in a reply frame for everything besides its entries.
const FRAME_HEADROOM: usize = 1024;

pub fn page_limit(state: &AppState, asked: Option<u64>) -> u64 {
    asked.unwrap_or(DEFAULT_PAGE).clamp(1, state.config.page_limit)
}

/// Cuts `items` to what fits in one reply frame; true when some had to wait for
/// the next page.
pub fn trim_to_frame<T: Serialize>(items: &mut Vec<T>, max_frame: usize) -> bool {
    let fit = fitting(items, max_frame);
    let cut = fit < items.len();
    items.truncate(fit);
    cut
}

/// How many of `items` fit in one reply frame; the rest wait for the next page.
fn fitting<T: Serialize>(items: &[T], max_frame: usize) -> usize {
    let budget = max_frame.saturating_sub(FRAME_HEADROOM);
    let mut used: usize = 0;
    for (n, item) in items.iter().enumerate() {
        used = used.saturating_add(serde_json::to_vec(item).map_or(usize::MAX, |v| v.len() + 1));
        if used > budget {
            // Always at least one, so that a page always makes progress.
            return n.max(1);
        }
    }
    items.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_cut_to_fit_the_frame() {
        let items: Vec<String> = (0..10).map(|_| "x".repeat(1000)).collect();
        assert_eq!(fitting(&items, 1_000_000), 10);
        assert_eq!(fitting(&items, 1024 + 3 * 1003), 3);
        assert_eq!(fitting(&items, 10), 1, "one entry always goes");
    }
}
