//! Group membership changes, for the caller of [`super::apply_patch`] to act on.

use std::collections::BTreeSet;

use serde_json::Value;

/// The member ids (`members[*].value`) gained and lost between two versions of a group.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MemberChanges {
    /// Ids in `after` but not in `before`, sorted.
    pub added: Vec<String>,
    /// Ids in `before` but not in `after`, sorted.
    pub removed: Vec<String>,
}

impl MemberChanges {
    /// Whether membership is unchanged.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Diffs `members` of two group representations (an absent `members` is no members).
/// Member ids are `caseExact`, so they are compared exactly.
pub fn member_changes(before: &Value, after: &Value) -> MemberChanges {
    let (before, after) = (ids(before), ids(after));
    MemberChanges {
        added: after.difference(&before).map(|s| s.to_string()).collect(),
        removed: before.difference(&after).map(|s| s.to_string()).collect(),
    }
}

fn ids(group: &Value) -> BTreeSet<&str> {
    group
        .get("members")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(|v| v.get("value")?.as_str()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn diff_reports_added_and_removed_ids_exactly() {
        let before = json!({"members":[{"value":"u1"},{"value":"u2"}]});
        let after = json!({"members":[{"value":"u2"},{"value":"U1"},{"value":"u3"}]});
        let c = member_changes(&before, &after);
        assert_eq!(c.added, ["U1", "u3"]);
        assert_eq!(c.removed, ["u1"]);
        assert!(!c.is_empty());
        assert!(member_changes(&before, &before).is_empty());
        assert_eq!(member_changes(&before, &json!({})).removed, ["u1", "u2"]);
    }
}
