//! Lists the server hands out in pages, fetched whole: each page's `next` is the
//! following page's `cursor`. Bounded, so that a server that never ends a list
//! (or hands back a cursor that does not move forward) cannot keep a client
//! fetching forever.

use std::future::Future;

use chat_proto::reply::{Conversation, FriendRequestsReply, JoinRequest};
use chat_proto::request::{Conversations, FriendRequests, GroupRequests};
use chat_proto::validate;

use crate::{Client, ClientError};

/// Most pages fetched for one list: at the server's default caps (1000 pending
/// requests) and pages (100), a tenth of this is enough.
pub const MAX_PAGES: usize = 100;

/// Every page of a list, following `next` from the first page on, at most
/// [`MAX_PAGES`] of them. A `next` that is not a valid cursor or does not move
/// forward ends the list.
pub async fn follow<P, F, Fut>(mut fetch: F, next: impl Fn(&P) -> Option<u64>) -> Result<Vec<P>, ClientError>
where
    F: FnMut(Option<u64>) -> Fut,
    Fut: Future<Output = Result<P, ClientError>>,
{
    let mut pages = Vec::new();
    let mut cursor = None;
    while pages.len() < MAX_PAGES {
        let page = fetch(cursor).await?;
        let after = next(&page);
        pages.push(page);
        match after {
            Some(n) if validate::cursor(Some(n)).is_ok() && cursor.is_none_or(|c| n > c) => cursor = Some(n),
            _ => break,
        }
    }
    Ok(pages)
}

/// Every pending friend request, to and from the caller, oldest first.
pub async fn friend_requests(c: &Client) -> Result<FriendRequestsReply, ClientError> {
    let pages =
        follow(|cursor| c.call(FriendRequests { cursor, limit: None }), |p: &FriendRequestsReply| p.next)
            .await?;
    let mut all = FriendRequestsReply { incoming: Vec::new(), outgoing: Vec::new(), next: None };
    for page in pages {
        all.incoming.extend(page.incoming);
        all.outgoing.extend(page.outgoing);
    }
    Ok(all)
}

/// Most pages of conversations fetched for one listing: 200,000 conversations at
/// the server's default page.
pub const MAX_CONVERSATION_PAGES: usize = 2_000;

/// Every conversation the caller can read, newest activity first, following
/// `next` (which, unlike an activity, never skips one of many with the same
/// timestamp). A `next` that repeats ends the listing.
pub async fn conversations(c: &Client) -> Result<Vec<Conversation>, ClientError> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_CONVERSATION_PAGES {
        let page = c.call(Conversations { limit: None, before: None, cursor: cursor.clone() }).await?;
        all.extend(page.conversations);
        match page.next {
            Some(next) if page.more && cursor.as_ref() != Some(&next) => cursor = Some(next),
            _ => break,
        }
    }
    Ok(all)
}

/// Every pending join request to a group, oldest first.
pub async fn group_requests(c: &Client, group_id: u64) -> Result<Vec<JoinRequest>, ClientError> {
    let pages = follow(|cursor| c.call(GroupRequests { group_id, cursor, limit: None }), |p| p.next).await?;
    Ok(pages.into_iter().flat_map(|p| p.requests).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake server's list of `pages`, each page the cursor that follows it.
    async fn fetched(nexts: Vec<Option<u64>>) -> Vec<Option<u64>> {
        let asked = std::sync::Mutex::new(Vec::new());
        let pages = follow(
            |cursor| {
                asked.lock().unwrap().push(cursor);
                let n = asked.lock().unwrap().len();
                let page = nexts.get(n - 1).copied().flatten();
                async move { Ok::<_, ClientError>(page) }
            },
            |p: &Option<u64>| *p,
        )
        .await
        .unwrap();
        assert_eq!(pages.len(), asked.lock().unwrap().len());
        asked.into_inner().unwrap()
    }

    #[tokio::test]
    async fn follows_next_until_the_last_page() {
        assert_eq!(fetched(vec![Some(3), Some(7), None]).await, [None, Some(3), Some(7)]);
        assert_eq!(fetched(vec![None]).await, [None]);
    }

    #[tokio::test]
    async fn stops_on_a_cursor_that_does_not_advance_or_is_invalid() {
        assert_eq!(fetched(vec![Some(5), Some(5), Some(9)]).await, [None, Some(5)]);
        assert_eq!(fetched(vec![Some(5), Some(2)]).await, [None, Some(5)]);
        assert_eq!(fetched(vec![Some(0)]).await, [None]);
        assert_eq!(fetched(vec![Some(u64::MAX)]).await, [None]);
    }

    #[tokio::test]
    async fn stops_after_max_pages() {
        let endless = (1..=MAX_PAGES as u64 * 2).map(Some).collect();
        assert_eq!(fetched(endless).await.len(), MAX_PAGES);
    }
}
