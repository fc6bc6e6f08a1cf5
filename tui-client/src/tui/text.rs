//! How the TUI compares names and finds text: usernames are case-insensitive, and
//! so are mentions and searches.

use chat_proto::model::Target;

/// Same user? Usernames are case-insensitive.
pub fn same_user(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// Same conversation? User names compare case-insensitively.
pub fn same_target(a: &Target, b: &Target) -> bool {
    match (a, b) {
        (Target::User(x), Target::User(y)) => same_user(x, y),
        (Target::Group(x), Target::Group(y)) => x == y,
        _ => false,
    }
}

/// Does `body` mention `@me` (case-insensitively, as a whole name)?
pub fn mentions(body: &str, me: &str) -> bool {
    let body = body.to_lowercase();
    let needle = format!("@{}", me.to_lowercase());
    body.match_indices(&needle).any(|(i, _)| {
        let before_ok = body[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after_ok =
            body[i + needle.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        before_ok && after_ok
    })
}

/// Byte range of the first case-insensitive occurrence of `needle` in `text`.
pub fn find_ci(text: &str, needle: &str) -> Option<(usize, usize)> {
    let needle: Vec<char> = needle.chars().flat_map(char::to_lowercase).collect();
    if needle.is_empty() {
        return None;
    }
    for (start, _) in text.char_indices() {
        let mut got: Vec<char> = Vec::new();
        for (i, c) in text[start..].char_indices() {
            got.extend(c.to_lowercase());
            if !needle.starts_with(&got) {
                break;
            }
            if got.len() == needle.len() {
                return Some((start, start + i + c.len_utf8()));
            }
        }
    }
    None
}

/// How a conversation is named in notices: `bob`, or `#12`.
pub fn target_name(with: &Target) -> String {
    match with {
        Target::User(u) => u.clone(),
        Target::Group(g) => format!("#{g}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_case_insensitive_find() {
        assert!(mentions("hey @Alice, look", "alice"));
        assert!(mentions("@alice", "ALICE"));
        assert!(!mentions("@alicex hi", "alice"));
        assert!(!mentions("mail me at bob@alice", "alice"));
        assert!(!mentions("alice", "alice"));
        assert_eq!(find_ci("Hello World", "world"), Some((6, 11)));
        assert_eq!(find_ci("ÄBC", "äb"), Some((0, 3)));
        assert_eq!(find_ci("abc", "x"), None);
        assert_eq!(find_ci("abc", ""), None);
        assert!(same_target(&Target::User("Bob".into()), &Target::User("bob".into())));
        assert!(!same_target(&Target::User("7".into()), &Target::Group(7)));
    }
}
