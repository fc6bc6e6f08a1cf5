//! The numeric range of every id and count field of a request, checked on the JSON
//! before the typed fields are read, so that an out-of-range value is a
//! `bad_request` naming its field and never reaches a database (where a value above
//! 2^63 does not fit a signed column and fails a whole statement).

use serde_json::{Map, Value};

use crate::MAX_ID;

/// Fields that name an entity: 1 ..= 2^53-1. `group` is a conversation target's
/// group id (`{"group": 12}`).
const ID_FIELDS: &[&str] = &["msg_id", "group_id", "request_id", "file_id", "cursor", "group"];

/// Fields that count or position: 0 ..= 2^53-1.
const COUNT_FIELDS: &[&str] = &["seq", "after", "before", "limit", "offset", "length", "size"];

/// Checks the id and count fields of a request object and of the objects directly
/// inside it (a target under `to` or `with`). A field of another type is left to the
/// typed decoding, which names it in its own error.
pub fn check(map: &Map<String, Value>) -> Result<(), String> {
    check_level(map)?;
    for value in map.values() {
        if let Value::Object(inner) = value {
            check_level(inner)?;
        }
    }
    Ok(())
}

fn check_level(map: &Map<String, Value>) -> Result<(), String> {
    for (key, value) in map {
        let Value::Number(n) = value else { continue };
        let min = if ID_FIELDS.contains(&key.as_str()) {
            1
        } else if COUNT_FIELDS.contains(&key.as_str()) {
            0
        } else {
            continue;
        };
        if !n.as_u64().is_some_and(|v| (min..=MAX_ID).contains(&v)) {
            return Err(format!("`{key}` must be an integer from {min} to 2^53-1"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check_json(v: Value) -> Result<(), String> {
        check(v.as_object().expect("an object"))
    }

    #[test]
    fn ids_are_one_to_max() {
        assert!(check_json(json!({"msg_id": 1})).is_ok());
        assert!(check_json(json!({"msg_id": MAX_ID})).is_ok());
        for bad in [json!(0), json!(MAX_ID + 1), json!(u64::MAX), json!(-1), json!(1.5)] {
            let err = check_json(json!({"msg_id": bad})).unwrap_err();
            assert!(err.contains("`msg_id`"), "{err}");
        }
    }

    #[test]
    fn counts_may_be_zero() {
        assert!(check_json(json!({"after": 0, "limit": 0})).is_ok());
        assert!(check_json(json!({"before": u64::MAX})).unwrap_err().contains("`before`"));
    }

    #[test]
    fn a_target_group_is_an_id() {
        assert!(check_json(json!({"to": {"group": 3}})).is_ok());
        assert!(check_json(json!({"with": {"group": 0}})).unwrap_err().contains("`group`"));
        assert!(check_json(json!({"to": {"user": "bob"}})).is_ok());
    }

    #[test]
    fn other_fields_and_types_are_left_alone() {
        assert!(check_json(json!({"ts": u64::MAX, "msg_id": "x", "accept": true})).is_ok());
    }
}
