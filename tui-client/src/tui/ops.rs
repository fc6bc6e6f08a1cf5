//! Running a slash command: the server operations it starts, and the pop-ups and
//! notices their results become.

use chat_proto::model::Role;
use chat_proto::request as op;

use super::commands::Command;
use super::state::{self, App, OpResult, PendingRequest, Popup};
use super::{Ctx, run_search, spawn_op};
use crate::client::ClientError;
use crate::config::SavedSession;

/// Runs a slash command.
pub(crate) fn run_command(app: &mut App, ctx: &Ctx, command: Command) {
    let done = |text: String| Ok::<_, ClientError>(OpResult::Notice(text));
    let changed = |text: String| Ok::<_, ClientError>(OpResult::Changed(text));
    match command {
        Command::Quit => app.quit = true,
        Command::Passwd { old, new } => {
            let (profile, saved) = (ctx.profile.clone(), ctx.saved.clone());
            spawn_op(app, ctx, move |c| async move {
                let reply = c.call(op::ChangePassword { old_password: old, new_password: new }).await?;
                // Every older token is revoked: keep the new one for the next start.
                let _ = profile.save_session(&SavedSession { token: reply.token, ..saved });
                done("password changed; your other sessions are logged out".into())
            })
        }
        Command::DeleteAccount { password } => {
            let profile = ctx.profile.clone();
            spawn_op(app, ctx, move |c| async move {
                c.call(op::DeleteAccount { password }).await?;
                let _ = profile.forget_session();
                Ok(OpResult::SessionEnded)
            })
        }
        Command::Logout => {
            let profile = ctx.profile.clone();
            spawn_op(app, ctx, move |c| async move {
                c.call(op::Logout {}).await?;
                let _ = profile.forget_session();
                Ok(OpResult::SessionEnded)
            })
        }
        Command::Help => app.open_popup(Popup::Help),
        Command::Requests => app.open_popup(Popup::Requests { selected: 0 }),
        Command::Search { text } => {
            app.open_popup(Popup::Search { query: text, results: Vec::new(), selected: 0 });
            run_search(app, ctx);
        }
        Command::Add { user, note } => spawn_op(app, ctx, move |c| async move {
            let r = c.call(op::FriendRequest { user: user.clone(), note }).await?;
            if r.accepted {
                changed(format!("you and {user} are now friends"))
            } else {
                done(format!("asked {user}"))
            }
        }),
        Command::Accept { ref user } | Command::Reject { ref user } => {
            let user = user.clone();
            let accept = matches!(command, Command::Accept { .. });
            let known = app.requests.iter().find_map(|r| match r {
                PendingRequest::Friend { request_id, from, .. } if state::same_user(from, &user) => {
                    Some((*request_id, from.clone()))
                }
                _ => None,
            });
            let verb = if accept { "accepted" } else { "rejected" };
            spawn_op(app, ctx, move |c| async move {
                let found = match known {
                    Some(found) => Some(found),
                    None => crate::pages::friend_requests(&c)
                        .await?
                        .incoming
                        .into_iter()
                        .find(|r| state::same_user(&r.from, &user))
                        .map(|r| (r.request_id, r.from)),
                };
                let Some((request_id, from)) = found else {
                    return Ok(OpResult::Failed(format!("no pending friend request from {user}")));
                };
                c.call(op::FriendRespond { request_id, accept }).await?;
                Ok(OpResult::Answered {
                    request_id,
                    group: false,
                    notice: format!("{verb} {from}'s friend request"),
                })
            });
        }
        Command::Remove { user } => spawn_op(app, ctx, move |c| async move {
            c.call(op::FriendRemove { user: user.clone() }).await?;
            changed(format!("removed {user}"))
        }),
        Command::Block { user } => spawn_op(app, ctx, move |c| async move {
            c.call(op::Block { user: user.clone() }).await?;
            changed(format!("blocked {user}"))
        }),
        Command::Unblock { user } => spawn_op(app, ctx, move |c| async move {
            c.call(op::Unblock { user: user.clone() }).await?;
            changed(format!("unblocked {user}"))
        }),
        Command::GroupCreate { name } => spawn_op(app, ctx, move |c| async move {
            let r = c.call(op::GroupCreate { name: name.clone(), description: None }).await?;
            changed(format!("created group #{} {name}", r.group_id))
        }),
        Command::GroupJoin { group_id } => spawn_op(app, ctx, move |c| async move {
            c.call(op::GroupJoin { group_id, note: None }).await?;
            done(format!("asked to join #{group_id}"))
        }),
        Command::GroupSearch { query } => spawn_op(app, ctx, move |c| async move {
            let groups = c.call(op::GroupSearch { query: query.clone() }).await?.groups;
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
            Ok(OpResult::Info { title: format!("Groups matching \"{query}\" (/group join ID)"), lines })
        }),
        Command::GroupInfo { group_id } => {
            let group_id = match app.resolve_group(group_id) {
                Ok(id) => id,
                Err(e) => return app.set_notice(e),
            };
            spawn_op(app, ctx, move |c| async move {
                let g = c.call(op::GroupInfo { group_id }).await?;
                let lines = vec![
                    format!("name: {}", g.name),
                    format!("description: {}", g.description),
                    format!("owner: {}", g.owner),
                    format!("members: {}", g.member_count),
                ];
                Ok(OpResult::Info { title: format!("Group #{}", g.group_id), lines })
            })
        }
        Command::Recall => match app.last_own_message() {
            Some(msg_id) => spawn_op(app, ctx, move |c| async move {
                c.call(op::Recall { msg_id }).await?;
                Ok(OpResult::Recalled { msg_id })
            }),
            None => app.set_notice("nothing of yours to recall here"),
        },
        Command::GroupLeave { group_id }
        | Command::GroupMembers { group_id }
        | Command::GroupRequests { group_id } => {
            let group_id = match app.resolve_group(group_id) {
                Ok(id) => id,
                Err(e) => return app.set_notice(e),
            };
            match command {
                Command::GroupLeave { .. } => spawn_op(app, ctx, move |c| async move {
                    c.call(op::GroupLeave { group_id }).await?;
                    Ok(OpResult::LeftGroup { group_id, notice: format!("left #{group_id}") })
                }),
                Command::GroupMembers { .. } => spawn_op(app, ctx, move |c| async move {
                    let members = c.call(op::GroupMembers { group_id }).await?.members;
                    Ok(OpResult::Members { group_id, members })
                }),
                _ => spawn_op(app, ctx, move |c| async move {
                    let requests = crate::pages::group_requests(&c, group_id).await?;
                    Ok(OpResult::GroupRequests { group_id, requests, show: true })
                }),
            }
        }
        Command::GroupKick { ref user }
        | Command::GroupPromote { ref user }
        | Command::GroupDemote { ref user } => {
            let user = user.clone();
            let group_id = match app.resolve_group(None) {
                Ok(id) => id,
                Err(e) => return app.set_notice(e),
            };
            match command {
                Command::GroupKick { .. } => spawn_op(app, ctx, move |c| async move {
                    c.call(op::GroupKick { group_id, user: user.clone() }).await?;
                    done(format!("kicked {user} from #{group_id}"))
                }),
                Command::GroupPromote { .. } => spawn_op(app, ctx, move |c| async move {
                    c.call(op::GroupSetRole { group_id, user: user.clone(), role: Role::Admin }).await?;
                    done(format!("{user} is now an admin of #{group_id}"))
                }),
                _ => spawn_op(app, ctx, move |c| async move {
                    c.call(op::GroupSetRole { group_id, user: user.clone(), role: Role::Member }).await?;
                    done(format!("{user} is now a member of #{group_id}"))
                }),
            }
        }
        Command::GroupAnswer { user, accept } => {
            let group_id = match app.resolve_group(None) {
                Ok(id) => id,
                Err(e) => return app.set_notice(e),
            };
            spawn_op(app, ctx, move |c| async move {
                let pending = crate::pages::group_requests(&c, group_id).await?;
                let Some(r) = pending.into_iter().find(|r| state::same_user(&r.user, &user)) else {
                    return Ok(OpResult::Failed(format!(
                        "no pending request from {user} to join #{group_id}"
                    )));
                };
                c.call(op::GroupRespond { request_id: r.request_id, accept }).await?;
                let verb = if accept { "let" } else { "turned down" };
                let notice = if accept {
                    format!("{verb} {} join #{group_id}", r.user)
                } else {
                    format!("{verb} {}'s request to join #{group_id}", r.user)
                };
                Ok(OpResult::Answered { request_id: r.request_id, group: true, notice })
            });
        }
        Command::Read => {
            let (Some(with), Some(seq)) = (app.selected.clone(), app.messages.last().map(|m| m.seq)) else {
                return app.set_notice("nothing to mark read here");
            };
            // Also when the local marker is there already: the server may not be.
            let _ = ctx.handle.history().lock().unwrap_or_else(|p| p.into_inner()).mark_read(&with, seq);
            spawn_op(app, ctx, move |c| async move {
                c.call(op::Read { with: with.clone(), seq }).await?;
                let name = match &with {
                    chat_proto::model::Target::User(u) => u.clone(),
                    chat_proto::model::Target::Group(g) => format!("#{g}"),
                };
                done(format!("marked {name} read"))
            });
        }
        Command::GroupDissolve => {
            let group_id = match app.resolve_group(None) {
                Ok(id) => id,
                Err(e) => return app.set_notice(e),
            };
            spawn_op(app, ctx, move |c| async move {
                c.call(op::GroupDissolve { group_id }).await?;
                Ok(OpResult::LeftGroup { group_id, notice: format!("dissolved #{group_id}") })
            });
        }
    }
}
