//! The server operations commands ask for: each [`Call`] made with the connected
//! client, its outcome turned into what the screen shows ([`Done`]).

use chat_proto::model::Role;
use chat_proto::request as op;

use super::effect::{Call, Done};
use super::popup::SecretRequest;
use super::requests::PendingRequest;
use super::text::same_user;
use crate::client::{Client, ClientError};
use crate::config::{Profile, SavedSession};
use crate::local_history::LocalHistory;

/// What a call may need besides the client.
#[derive(Debug, Clone)]
pub struct CallCtx {
    pub profile: Profile,
    pub saved: SavedSession,
    pub history: LocalHistory,
}

pub async fn perform(client: Client, ctx: CallCtx, call: Call) -> Result<Done, ClientError> {
    let done = |text: String| Ok(Done::Outcome(text));
    let changed = |text: String| Ok(Done::Changed(text));
    match call {
        Call::Secret(SecretRequest::ChangePassword { old, new }) => {
            let reply = client.call(op::ChangePassword { old_password: old, new_password: new }).await?;
            // Every older token is revoked: the new one is saved, and the running
            // session picks it up when the server closes the old one.
            let saved = SavedSession { token: reply.token, ..ctx.saved };
            if let Err(e) = ctx.profile.save_session(&saved) {
                return Ok(Done::Failed(format!("password changed, but the new session was not saved: {e}")));
            }
            done("password changed; your other sessions are logged out".into())
        }
        Call::Secret(SecretRequest::DeleteAccount { password }) => {
            client.call(op::DeleteAccount { password }).await?;
            let _ = ctx.profile.forget_session();
            Ok(Done::SessionEnded)
        }
        Call::Logout => {
            client.call(op::Logout {}).await?;
            let _ = ctx.profile.forget_session();
            Ok(Done::SessionEnded)
        }
        Call::AddFriend { user, note } => {
            let r = client.call(op::FriendRequest { user: user.clone(), note }).await?;
            if r.accepted {
                changed(format!("you and {user} are now friends"))
            } else {
                done(format!("asked {user}"))
            }
        }
        Call::AnswerFriend { user, known, accept } => {
            let found = match known {
                Some(found) => Some(found),
                None => crate::pages::friend_requests(&client)
                    .await?
                    .incoming
                    .into_iter()
                    .find(|r| same_user(&r.from, &user))
                    .map(|r| (r.request_id, r.from)),
            };
            let Some((request_id, from)) = found else {
                return Ok(Done::Failed(format!("no pending friend request from {user}")));
            };
            answer(&client, PendingRequest::Friend { request_id, from, note: String::new() }, accept).await
        }
        Call::Answer { request, accept } => answer(&client, request, accept).await,
        Call::AnswerJoin { group_id, user, accept } => {
            let pending = crate::pages::group_requests(&client, group_id).await?;
            let Some(r) = pending.into_iter().find(|r| same_user(&r.user, &user)) else {
                return Ok(Done::Failed(format!("no pending request from {user} to join #{group_id}")));
            };
            let request =
                PendingRequest::Group { group_id, request_id: r.request_id, user: r.user, note: r.note };
            answer(&client, request, accept).await
        }
        Call::RemoveFriend { user } => {
            client.call(op::FriendRemove { user: user.clone() }).await?;
            changed(format!("removed {user}"))
        }
        Call::Block { user } => {
            client.call(op::Block { user: user.clone() }).await?;
            changed(format!("blocked {user}"))
        }
        Call::Unblock { user } => {
            client.call(op::Unblock { user: user.clone() }).await?;
            changed(format!("unblocked {user}"))
        }
        Call::GroupCreate { name } => {
            let r = client.call(op::GroupCreate { name: name.clone(), description: None }).await?;
            changed(format!("created group #{} {name}", r.group_id))
        }
        Call::GroupJoin { group_id } => {
            client.call(op::GroupJoin { group_id, note: None }).await?;
            done(format!("asked to join #{group_id}"))
        }
        Call::GroupLeave { group_id } => {
            client.call(op::GroupLeave { group_id }).await?;
            forget_group(&ctx.history, group_id).await;
            Ok(Done::LeftGroup { group_id, notice: format!("left #{group_id}") })
        }
        Call::GroupDissolve { group_id } => {
            client.call(op::GroupDissolve { group_id }).await?;
            forget_group(&ctx.history, group_id).await;
            Ok(Done::LeftGroup { group_id, notice: format!("dissolved #{group_id}") })
        }
        Call::GroupMembers { group_id } => {
            let members = client.call(op::GroupMembers { group_id }).await?.members;
            Ok(Done::Members { group_id, members })
        }
        Call::GroupRequests { group_id } => {
            let requests = crate::pages::group_requests(&client, group_id).await?;
            Ok(Done::GroupRequests { group_id, requests, show: true })
        }
        Call::GroupKick { group_id, user } => {
            client.call(op::GroupKick { group_id, user: user.clone() }).await?;
            done(format!("kicked {user} from #{group_id}"))
        }
        Call::GroupSetRole { group_id, user, role } => {
            client.call(op::GroupSetRole { group_id, user: user.clone(), role }).await?;
            let what = if role == Role::Admin { "an admin" } else { "a member" };
            done(format!("{user} is now {what} of #{group_id}"))
        }
        Call::GroupSearch { query } => {
            let groups = client.call(op::GroupSearch { query: query.clone() }).await?.groups;
            let lines = if groups.is_empty() {
                vec!["(no group matches)".to_owned()]
            } else {
                groups
                    .iter()
                    .map(|g| {
                        format!("#{} {} ({} members) {}", g.group_id, g.name, g.member_count, g.description)
                    })
                    .collect()
            };
            Ok(Done::Info { title: format!("Groups matching \"{query}\" (/group join ID)"), lines })
        }
        Call::GroupInfo { group_id } => {
            let g = client.call(op::GroupInfo { group_id }).await?;
            let lines = vec![
                format!("name: {}", g.name),
                format!("description: {}", g.description),
                format!("owner: {}", g.owner),
                format!("members: {}", g.member_count),
            ];
            Ok(Done::Info { title: format!("Group #{}", g.group_id), lines })
        }
        Call::Recall { with, msg_id } => {
            client.call(op::Recall { msg_id }).await?;
            // Our own connection is not sent the recall: fetch it, so that the local
            // history (and every view drawn from it) drops the text now.
            let target = with.clone();
            let have = ctx.history.call(move |h| h.highest_seq(&target)).await;
            if let Ok(have) = have
                && let Err(e) = crate::session::sync_conversation(&client, &ctx.history, &with, have).await
            {
                tracing::warn!(error = %e, "the recall was not stored locally");
            }
            Ok(Done::Recalled { with, msg_id })
        }
        Call::Read { with, seq } => {
            client.call(op::Read { with: with.clone(), seq }).await?;
            let target = with.clone();
            if let Err(e) = ctx.history.call(move |h| h.mark_read(&target, seq)).await {
                tracing::warn!(error = %e, "read marker not stored locally");
            }
            Ok(Done::Read { with, seq })
        }
    }
}

/// Our own connection is not told we left: the group is marked gone here, so that
/// it stays out of the list after a restart.
async fn forget_group(history: &LocalHistory, group_id: u64) {
    let gone = chat_proto::model::Target::Group(group_id);
    if let Err(e) = history.call(move |h| h.set_gone(&gone)).await {
        tracing::warn!(error = %e, "left group not marked locally");
    }
}

async fn answer(client: &Client, request: PendingRequest, accept: bool) -> Result<Done, ClientError> {
    let request_id = request.request_id();
    let group = request.is_group();
    let notice = match request {
        PendingRequest::Friend { request_id, from, .. } => {
            client.call(op::FriendRespond { request_id, accept }).await?;
            let verb = if accept { "accepted" } else { "rejected" };
            format!("{verb} {from}'s friend request")
        }
        PendingRequest::Group { group_id, request_id, user, .. } => {
            client.call(op::GroupRespond { request_id, accept }).await?;
            if accept {
                format!("let {user} join #{group_id}")
            } else {
                format!("turned down {user}'s request to join #{group_id}")
            }
        }
    };
    Ok(Done::Answered { request_id, group, notice })
}
