//! friends and groups.

use chat_proto::model::Role;
use chat_proto::request::{
    Block, FriendList, FriendRemove, FriendRequest, FriendRespond, GroupCreate, GroupDissolve, GroupInfo,
    GroupJoin, GroupKick, GroupLeave, GroupList, GroupMembers, GroupRespond, GroupSearch, GroupSetRole,
    Unblock,
};
use chat_tui::display::escape_line as esc;
use serde_json::json;

use super::{Context, EXIT_REFUSED, Failure};

#[derive(Debug, clap::Subcommand)]
pub enum FriendsAction {
    /// Your friends, with presence.
    List,
    /// Ask USER to be friends.
    Add {
        user: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Accept USER's pending request.
    Accept {
        user: String,
    },
    /// Reject USER's pending request.
    Reject {
        user: String,
    },
    /// End a friendship.
    Remove {
        user: String,
    },
    /// Block USER: no messages, requests or presence between you.
    Block {
        user: String,
    },
    Unblock {
        user: String,
    },
    /// Pending requests, to you and from you.
    Requests,
}

#[derive(Debug, clap::Subcommand)]
pub enum GroupsAction {
    /// Your groups and your role in each.
    List,
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    Info {
        group_id: u64,
    },
    /// Groups whose name contains QUERY.
    Search {
        query: String,
    },
    /// Ask to join (the owner or an admin approves).
    Join {
        group_id: u64,
        #[arg(long)]
        note: Option<String>,
    },
    /// Pending join requests (owner and admins).
    Requests {
        group_id: u64,
    },
    /// Accept USER's pending request to join the group (as `friends accept` takes
    /// a name, so does this).
    Accept {
        group_id: u64,
        user: String,
    },
    /// Reject USER's pending request to join the group.
    Reject {
        group_id: u64,
        user: String,
    },
    Members {
        group_id: u64,
    },
    Leave {
        group_id: u64,
    },
    Kick {
        group_id: u64,
        user: String,
    },
    /// Make a member an admin (owner only).
    Promote {
        group_id: u64,
        user: String,
    },
    /// Make an admin a member again (owner only).
    Demote {
        group_id: u64,
        user: String,
    },
    Dissolve {
        group_id: u64,
    },
}

fn done(ctx: &Context, what: String) {
    ctx.out.print(&json!({"ok": true}), || what);
}

pub async fn friends(ctx: &Context, action: FriendsAction) -> Result<(), Failure> {
    let (c, _) = ctx.logged_in().await?;
    match action {
        FriendsAction::List => {
            ctx.out.list(&c.call(FriendList {}).await?.friends, "no friends yet", |f| {
                let state = if f.online { "online" } else { "offline" };
                format!("{}\t{state}{}", esc(&f.username), if f.blocked { "\tblocked" } else { "" })
            });
        }
        FriendsAction::Add { user, note } => {
            let r = c.call(FriendRequest { user: user.clone(), note }).await?;
            let text =
                if r.accepted { format!("you and {user} are now friends") } else { format!("asked {user}") };
            ctx.out.print(&r, || text);
        }
        FriendsAction::Accept { user } => answer(ctx, &c, &user, true).await?,
        FriendsAction::Reject { user } => answer(ctx, &c, &user, false).await?,
        FriendsAction::Remove { user } => {
            c.call(FriendRemove { user: user.clone() }).await?;
            done(ctx, format!("removed {user}"));
        }
        FriendsAction::Block { user } => {
            c.call(Block { user: user.clone() }).await?;
            done(ctx, format!("blocked {user}"));
        }
        FriendsAction::Unblock { user } => {
            c.call(Unblock { user: user.clone() }).await?;
            done(ctx, format!("unblocked {user}"));
        }
        FriendsAction::Requests => {
            let r = chat_tui::pages::friend_requests(&c).await?;
            ctx.out.print(&r, || {
                if r.incoming.is_empty() && r.outgoing.is_empty() {
                    return "no pending friend requests".to_owned();
                }
                let incoming = r.incoming.iter().map(|i| format!("from {}\t{}", esc(&i.from), esc(&i.note)));
                let outgoing = r.outgoing.iter().map(|o| format!("to {}\t{}", esc(&o.to), esc(&o.note)));
                incoming.chain(outgoing).collect::<Vec<_>>().join("\n")
            });
        }
    }
    Ok(())
}

/// Answers `user`'s pending request to join `group_id`, found by name.
async fn answer_join(
    ctx: &Context,
    c: &chat_tui::Client,
    group_id: u64,
    user: &str,
    accept: bool,
) -> Result<(), Failure> {
    let pending = chat_tui::pages::group_requests(c, group_id).await?;
    let Some(request) = pending.iter().find(|r| r.user.eq_ignore_ascii_case(user)) else {
        return Err(Failure::new(
            EXIT_REFUSED,
            format!("no pending request from {user} to join group {group_id}"),
        ));
    };
    c.call(GroupRespond { request_id: request.request_id, accept }).await?;
    let verb = if accept { "accepted" } else { "rejected" };
    done(ctx, format!("{verb} {}'s request to join group {group_id}", esc(&request.user)));
    Ok(())
}

/// Answers the pending request from `user`, found by name.
async fn answer(ctx: &Context, c: &chat_tui::Client, user: &str, accept: bool) -> Result<(), Failure> {
    let pending = chat_tui::pages::friend_requests(c).await?.incoming;
    let Some(request) = pending.iter().find(|r| r.from.eq_ignore_ascii_case(user)) else {
        return Err(Failure::new(EXIT_REFUSED, format!("no pending friend request from {user}")));
    };
    c.call(FriendRespond { request_id: request.request_id, accept }).await?;
    done(ctx, format!("{} {}'s request", if accept { "accepted" } else { "rejected" }, esc(&request.from)));
    Ok(())
}

pub async fn groups(ctx: &Context, action: GroupsAction) -> Result<(), Failure> {
    let (c, _) = ctx.logged_in().await?;
    match action {
        GroupsAction::List => {
            ctx.out.list(&c.call(GroupList {}).await?.groups, "no groups yet", |g| {
                format!("{}\t{}\t{}", g.group_id, esc(&g.name), g.role.as_str())
            });
        }
        GroupsAction::Create { name, description } => {
            let r = c.call(GroupCreate { name: name.clone(), description }).await?;
            ctx.out.print(&r, || format!("created group {} ({})", r.group_id, esc(&name)));
        }
        GroupsAction::Info { group_id } => {
            let g = c.call(GroupInfo { group_id }).await?;
            ctx.out.print(&g, || {
                format!(
                    "{}\t{}\towner {}\t{} members\t{}",
                    g.group_id,
                    esc(&g.name),
                    esc(&g.owner),
                    g.member_count,
                    esc(&g.description)
                )
            });
        }
        GroupsAction::Search { query } => {
            ctx.out.list(&c.call(GroupSearch { query }).await?.groups, "no group matches", |g| {
                format!("{}\t{}\t{} members", g.group_id, esc(&g.name), g.member_count)
            });
        }
        GroupsAction::Join { group_id, note } => {
            let r = c.call(GroupJoin { group_id, note }).await?;
            ctx.out.print(&r, || format!("asked to join group {group_id} (request {})", r.request_id));
        }
        GroupsAction::Requests { group_id } => {
            ctx.out.list(
                &chat_tui::pages::group_requests(&c, group_id).await?,
                "no pending join requests",
                |r| format!("{}\t{}\t{}", r.request_id, esc(&r.user), esc(&r.note)),
            );
        }
        GroupsAction::Accept { group_id, user } => answer_join(ctx, &c, group_id, &user, true).await?,
        GroupsAction::Reject { group_id, user } => answer_join(ctx, &c, group_id, &user, false).await?,
        GroupsAction::Members { group_id } => {
            for m in c.call(GroupMembers { group_id }).await?.members {
                ctx.out.print(&m, || {
                    format!(
                        "{}\t{}\t{}",
                        esc(&m.username),
                        m.role.as_str(),
                        if m.online { "online" } else { "offline" }
                    )
                });
            }
        }
        GroupsAction::Leave { group_id } => {
            c.call(GroupLeave { group_id }).await?;
            done(ctx, format!("left group {group_id}"));
        }
        GroupsAction::Kick { group_id, user } => {
            c.call(GroupKick { group_id, user: user.clone() }).await?;
            done(ctx, format!("kicked {user}"));
        }
        GroupsAction::Promote { group_id, user } => {
            c.call(GroupSetRole { group_id, user: user.clone(), role: Role::Admin }).await?;
            done(ctx, format!("{user} is now an admin"));
        }
        GroupsAction::Demote { group_id, user } => {
            c.call(GroupSetRole { group_id, user: user.clone(), role: Role::Member }).await?;
            done(ctx, format!("{user} is now a member"));
        }
        GroupsAction::Dissolve { group_id } => {
            c.call(GroupDissolve { group_id }).await?;
            done(ctx, format!("dissolved group {group_id}"));
        }
    }
    Ok(())
}
