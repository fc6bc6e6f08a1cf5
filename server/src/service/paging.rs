//! Pages of lists: how many entries one asks for, what fits in one reply frame,
//! and where the next page of a keyset listing starts.

use serde::Serialize;

use crate::state::AppState;
use crate::store::{ConvKey, ConvPosition};

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

/// One page of a listing ordered by a key that only grows (a request id): `rows`
/// are the store's rows after the cursor, in key order, at most `limit + 1` of them
/// (an extra row means more exist). Keeps what fits in `limit` and in one frame, and
/// returns the cursor of the next page: the last key kept, so an entry present
/// throughout is never skipped, whatever is added or removed between pages.
pub fn keyset_page<T: Serialize>(
    mut rows: Vec<T>,
    limit: u64,
    max_frame: usize,
    key: impl Fn(&T) -> u64,
) -> (Vec<T>, Option<u64>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut more = rows.len() > limit;
    rows.truncate(limit);
    more |= trim_to_frame(&mut rows, max_frame);
    let next = if more { rows.last().map(key) } else { None };
    (rows, next)
}

/// The `next` of a `conversations` page whose last conversation has `activity` and
/// `key`: opaque to clients, `<activity>|<key>`.
pub fn conversations_cursor(activity: i64, key: &ConvKey) -> String {
    format!("{activity}|{}", key.0)
}

/// Where a `conversations` cursor says to go on; `None` for anything this server
/// did not hand out (a key is `d:<id>:<id>` or `g:<id>`).
pub fn conversations_from(cursor: &str) -> Option<ConvPosition> {
    let (activity, key) = cursor.split_once('|')?;
    let activity = activity.parse().ok()?;
    let well_formed = match key.split(':').collect::<Vec<_>>()[..] {
        ["d", a, b] => [a, b].iter().all(|n| is_id(n)),
        ["g", g] => is_id(g),
        _ => false,
    };
    well_formed.then(|| ConvPosition { activity, key: ConvKey(key.to_owned()) })
}

fn is_id(s: &str) -> bool {
    (1..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_cursors_round_trip_and_refuse_anything_else() {
        for key in ["d:3:17", "g:42"] {
            let cursor = conversations_cursor(1_765_000_000_000, &ConvKey(key.into()));
            let from = conversations_from(&cursor).unwrap();
            assert_eq!((from.activity, from.key.0.as_str()), (1_765_000_000_000, key));
        }
        for bad in
            ["", "12", "x|g:1", "5|g:", "5|g:1:2", "5|d:1", "5|q:1", "5|g:1'--", "5|g:99999999999999999"]
        {
            assert!(conversations_from(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn pages_are_cut_to_fit_the_frame() {
        let items: Vec<String> = (0..10).map(|_| "x".repeat(1000)).collect();
        assert_eq!(fitting(&items, 1_000_000), 10);
        assert_eq!(fitting(&items, 1024 + 3 * 1003), 3);
        assert_eq!(fitting(&items, 10), 1, "one entry always goes");
    }

    #[test]
    fn keyset_pages_say_where_the_next_starts() {
        let ids = |n: std::ops::RangeInclusive<u64>| n.collect::<Vec<u64>>();
        // The store's extra row means more: the next page starts after the last kept.
        assert_eq!(keyset_page(ids(1..=4), 3, 1 << 20, |&k| k), (ids(1..=3), Some(3)));
        // Exactly `limit` rows: the last page.
        assert_eq!(keyset_page(ids(5..=7), 3, 1 << 20, |&k| k), (ids(5..=7), None));
        assert_eq!(keyset_page(Vec::<u64>::new(), 3, 1 << 20, |&k| k), (vec![], None));
        // Cut by the frame: the next page starts after the last one that fit.
        let big: Vec<(u64, String)> = (1..=3).map(|k| (k, "x".repeat(2000))).collect();
        let (page, next) = keyset_page(big, 10, 4096, |r| r.0);
        assert_eq!((page.len(), next), (1, Some(1)));
    }
}
