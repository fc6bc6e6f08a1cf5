//! Requests waiting for our answer: friend requests to us, and requests to join the
//! groups we manage.

use chat_proto::reply::{IncomingFriendRequest, JoinRequest};

use super::text::same_user;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingRequest {
    Friend { request_id: u64, from: String, note: String },
    Group { group_id: u64, request_id: u64, user: String, note: String },
}

impl PendingRequest {
    pub fn request_id(&self) -> u64 {
        match self {
            PendingRequest::Friend { request_id, .. } | PendingRequest::Group { request_id, .. } => {
                *request_id
            }
        }
    }

    pub fn is_group(&self) -> bool {
        matches!(self, PendingRequest::Group { .. })
    }
}

/// Friend requests first, each kind oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requests {
    pub items: Vec<PendingRequest>,
}

impl Requests {
    pub fn add(&mut self, request: PendingRequest) {
        if !self
            .items
            .iter()
            .any(|r| r.request_id() == request.request_id() && r.is_group() == request.is_group())
        {
            self.items.push(request);
            self.items.sort_by_key(PendingRequest::is_group);
        }
    }

    /// The server's list of friend requests to us replaces ours.
    pub fn set_friend_requests(&mut self, incoming: Vec<IncomingFriendRequest>) {
        self.items.retain(PendingRequest::is_group);
        let friends = incoming.into_iter().map(|r| PendingRequest::Friend {
            request_id: r.request_id,
            from: r.from,
            note: r.note,
        });
        self.items.splice(0..0, friends);
    }

    /// The server's list of requests to join `group_id` replaces ours.
    pub fn set_group_requests(&mut self, group_id: u64, requests: Vec<JoinRequest>) {
        self.drop_group(group_id);
        self.items.extend(requests.into_iter().map(|r| PendingRequest::Group {
            group_id,
            request_id: r.request_id,
            user: r.user,
            note: r.note,
        }));
    }

    pub fn drop_group(&mut self, group_id: u64) {
        self.items.retain(|r| !matches!(r, PendingRequest::Group { group_id: g, .. } if *g == group_id));
    }

    pub fn answered(&mut self, request_id: u64, group: bool) {
        self.items.retain(|r| !(r.request_id() == request_id && r.is_group() == group));
    }

    pub fn friend_from(&self, user: &str) -> Option<(u64, String)> {
        self.items.iter().find_map(|r| match r {
            PendingRequest::Friend { request_id, from, .. } if same_user(from, user) => {
                Some((*request_id, from.clone()))
            }
            _ => None,
        })
    }

    pub fn has_join(&self, user: &str, group_id: u64) -> bool {
        self.items.iter().any(
            |r| matches!(r, PendingRequest::Group { user: u, group_id: g, .. } if *g == group_id && same_user(u, user)),
        )
    }

    pub fn friends(&self) -> usize {
        self.items.iter().filter(|r| !r.is_group()).count()
    }

    pub fn groups(&self) -> usize {
        self.items.iter().filter(|r| r.is_group()).count()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
