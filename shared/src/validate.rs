//! Validation of the names and secrets the contract constrains.
//!
//! Each check returns a message fit to show the user; the server answers
//! `bad_request` with it (or `weak_password` for [`password`]).

/// Username length bounds, in characters.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
/// Fewest characters of a password.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Most bytes of a password; bounds the hashing work one request can cause.
pub const PASSWORD_MAX_BYTES: usize = 1024;
/// Group name length bounds, in characters.
pub const GROUP_NAME_CHARS: std::ops::RangeInclusive<usize> = 1..=64;
/// Most characters of a group description.
pub const DESCRIPTION_MAX_CHARS: usize = 256;
/// Most characters of a friend or join request's note.
pub const NOTE_MAX_CHARS: usize = 256;
/// Most characters of a device or client label.
pub const LABEL_MAX_CHARS: usize = 64;

/// 3 to 32 characters of `A-Z a-z 0-9 _ . -`.
pub fn username(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if !USERNAME_CHARS.contains(&n) {
        return Err(format!(
            "username must be {} to {} characters",
            USERNAME_CHARS.start(),
            USERNAME_CHARS.end()
        ));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err("username may hold only letters A-Z a-z, digits and _ . -".into());
    }
    Ok(())
}

/// The key under which usernames are unique: case-insensitive.
pub fn username_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Password strength, checked on `register` and `change_password`: the failure is
/// `weak_password`.
pub fn password_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(format!("password must be at least {PASSWORD_MIN_CHARS} characters"));
    }
    Ok(())
}

/// Password size, checked everywhere one is received: the failure is `bad_request`.
pub fn password_size(password: &str) -> Result<(), String> {
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(format!("password must be at most {PASSWORD_MAX_BYTES} bytes"));
    }
    Ok(())
}

/// 1 to 64 characters, not blank, no control characters.
pub fn group_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if !GROUP_NAME_CHARS.contains(&n) || name.trim().is_empty() {
        return Err(format!(
            "group name must be {} to {} characters and not blank",
            GROUP_NAME_CHARS.start(),
            GROUP_NAME_CHARS.end()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("group name may not hold control characters".into());
    }
    Ok(())
}

/// 0 to 256 characters, no control characters.
pub fn description(text: &str) -> Result<(), String> {
    bounded_text("description", text, DESCRIPTION_MAX_CHARS)?;
    no_controls("description", text)
}

/// 0 to 256 characters, no control characters: what a stranger can put in front of
/// someone else's eyes must not steer their terminal.
pub fn note(text: &str) -> Result<(), String> {
    bounded_text("note", text, NOTE_MAX_CHARS)?;
    no_controls("note", text)
}

/// A message body's characters: line breaks and tabs are text, every other control
/// character is refused (the size limit is the server's `max_body`).
pub fn body(text: &str) -> Result<(), String> {
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err("body may not hold control characters other than newline and tab".into());
    }
    Ok(())
}

/// A page cursor, when given: an id, so 1 to 2^53-1.
pub fn cursor(cursor: Option<u64>) -> Result<(), String> {
    match cursor {
        Some(c) if !(1..=crate::MAX_ID).contains(&c) => {
            Err(format!("cursor must be 1 to {} when given", crate::MAX_ID))
        }
        _ => Ok(()),
    }
}

/// 0 to 64 characters, no control characters: device and client labels.
pub fn label(what: &str, text: &str) -> Result<(), String> {
    bounded_text(what, text, LABEL_MAX_CHARS)?;
    no_controls(what, text)
}

fn no_controls(what: &str, text: &str) -> Result<(), String> {
    if text.chars().any(char::is_control) {
        return Err(format!("{what} may not hold control characters"));
    }
    Ok(())
}

fn bounded_text(what: &str, text: &str, max_chars: usize) -> Result<(), String> {
    if text.chars().count() > max_chars {
        return Err(format!("{what} must be at most {max_chars} characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["bob", "Alice_01", "a.b-c", &"x".repeat(32)] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ab", &"x".repeat(33), "bob smith", "bób", "a/b", "bob\n"] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
        assert_eq!(username_key("BoB"), "bob");
    }

    #[test]
    fn passwords() {
        assert!(password_strength("1234567").is_err());
        assert!(password_strength("12345678").is_ok());
        // characters, not bytes: 8 CJK characters are enough
        assert!(password_strength("密码密码密码密码").is_ok());
        assert!(password_size(&"p".repeat(PASSWORD_MAX_BYTES)).is_ok());
        assert!(password_size(&"p".repeat(PASSWORD_MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn group_names_and_texts() {
        assert!(group_name("rust").is_ok());
        assert!(group_name(&"群".repeat(64)).is_ok());
        assert!(group_name(&"群".repeat(65)).is_err());
        assert!(group_name("").is_err());
        assert!(group_name("   ").is_err());
        assert!(group_name("a\u{7}b").is_err());
        assert!(description(&"d".repeat(256)).is_ok());
        assert!(description(&"d".repeat(257)).is_err());
        assert!(note("").is_ok());
        assert!(label("device", "laptop").is_ok());
        assert!(label("device", "lap\ttop").is_err());
    }

    #[test]
    fn control_characters() {
        let esc = "\u{1b}".repeat(256);
        assert!(note(&esc).is_err(), "the attack's notes");
        assert!(note(&"群".repeat(256)).is_ok());
        assert!(note(&"群".repeat(257)).is_err());
        for bad in ["a\nb", "a\tb", "a\rb", "\u{7f}", "\u{9b}"] {
            assert!(note(bad).is_err(), "{bad:?}");
            assert!(description(bad).is_err(), "{bad:?}");
        }
        assert!(description("plain words, üñí and 群").is_ok());
        assert!(body("two\nlines\tand a tab").is_ok());
        for bad in ["\u{1b}[2J", "a\rb", "\u{0}", "\u{7f}", "\u{85}"] {
            assert!(body(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cursors() {
        assert!(cursor(None).is_ok());
        assert!(cursor(Some(1)).is_ok());
        assert!(cursor(Some(crate::MAX_ID)).is_ok());
        assert!(cursor(Some(0)).is_err());
        assert!(cursor(Some(crate::MAX_ID + 1)).is_err());
        assert!(cursor(Some(u64::MAX)).is_err());
    }
}
