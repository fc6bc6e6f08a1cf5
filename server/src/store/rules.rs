//! Rules the store applies inside the transaction that acts: who may act on a
//! group's members and requests, judged on the roles read (and locked) there, so a
//! role lost a moment earlier is never honoured; and the caps on pending requests.
//! Plain decisions, the same for every backend.

use chat_proto::model::Role;

/// Why the store refused a group op. `NotMember` is about the one acting,
/// `TargetNotMember` about the one acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRefusal {
    NoGroup,
    NoRequest,
    NotMember,
    TargetNotMember,
    /// Accepting would exceed the group's size limit; nothing changed.
    Full,
    Forbidden(&'static str),
}

/// The owner and admins answer join requests; anyone else (members and outsiders
/// alike) is refused the same way.
pub fn may_answer_requests(actor: Option<Role>) -> Result<(), GroupRefusal> {
    match actor {
        Some(Role::Owner | Role::Admin) => Ok(()),
        _ => Err(GroupRefusal::Forbidden("only the owner and admins answer join requests")),
    }
}

/// The owner may kick anyone else, an admin only members.
pub fn may_kick(actor: Option<Role>, target: Option<Role>) -> Result<(), GroupRefusal> {
    let actor = actor.ok_or(GroupRefusal::NotMember)?;
    let target = target.ok_or(GroupRefusal::TargetNotMember)?;
    let allowed = match actor {
        Role::Owner => target != Role::Owner,
        Role::Admin => target == Role::Member,
        Role::Member => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(GroupRefusal::Forbidden("the owner may kick anyone else, an admin only members"))
    }
}

/// Only the owner sets roles, never its own, and never to owner. `Ok(false)` when
/// the member already has the role (nothing to change, nobody to tell).
pub fn role_change(actor: Option<Role>, target: Option<Role>, new: Role) -> Result<bool, GroupRefusal> {
    if actor.ok_or(GroupRefusal::NotMember)? != Role::Owner {
        return Err(GroupRefusal::Forbidden("only the owner sets roles"));
    }
    if new == Role::Owner {
        return Err(GroupRefusal::Forbidden("ownership cannot be transferred"));
    }
    match target.ok_or(GroupRefusal::TargetNotMember)? {
        Role::Owner => Err(GroupRefusal::Forbidden("the owner's role cannot change")),
        current => Ok(current != new),
    }
}

/// Whether one more pending request fits under `cap`.
pub fn room_for_pending(pending: u64, cap: u64) -> bool {
    pending < cap
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    fn forbidden<T: std::fmt::Debug>(r: Result<T, GroupRefusal>) -> bool {
        matches!(r, Err(GroupRefusal::Forbidden(_)))
    }

    #[test]
    fn answering_requests() {
        assert!(may_answer_requests(Some(Owner)).is_ok());
        assert!(may_answer_requests(Some(Admin)).is_ok());
        assert!(forbidden(may_answer_requests(Some(Member))));
        assert!(forbidden(may_answer_requests(None)));
    }

    #[test]
    fn kicking() {
        assert!(may_kick(Some(Owner), Some(Admin)).is_ok());
        assert!(may_kick(Some(Owner), Some(Member)).is_ok());
        assert!(forbidden(may_kick(Some(Owner), Some(Owner))));
        assert!(may_kick(Some(Admin), Some(Member)).is_ok());
        assert!(forbidden(may_kick(Some(Admin), Some(Admin))));
        assert!(forbidden(may_kick(Some(Admin), Some(Owner))));
        assert!(forbidden(may_kick(Some(Member), Some(Member))));
        assert_eq!(may_kick(None, Some(Member)), Err(GroupRefusal::NotMember));
        assert_eq!(may_kick(Some(Owner), None), Err(GroupRefusal::TargetNotMember));
    }

    #[test]
    fn setting_roles() {
        assert_eq!(role_change(Some(Owner), Some(Member), Admin), Ok(true));
        assert_eq!(role_change(Some(Owner), Some(Admin), Admin), Ok(false));
        assert!(forbidden(role_change(Some(Admin), Some(Member), Admin)), "an admin who was the owner's");
        assert!(forbidden(role_change(Some(Member), None, Admin)), "the actor is judged first");
        assert!(forbidden(role_change(Some(Owner), Some(Owner), Member)));
        assert!(forbidden(role_change(Some(Owner), Some(Member), Owner)));
        assert_eq!(role_change(None, Some(Member), Admin), Err(GroupRefusal::NotMember));
        assert_eq!(role_change(Some(Owner), None, Admin), Err(GroupRefusal::TargetNotMember));
    }

    #[test]
    fn pending_caps() {
        assert!(room_for_pending(0, 1));
        assert!(room_for_pending(999, 1000));
        assert!(!room_for_pending(1000, 1000));
    }
}
