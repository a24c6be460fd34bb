//! Groups parsed once per pass: what each feeds, looked up by id while planning users.

use std::collections::BTreeMap;

use crate::api::{GroupSpec, Role};

use super::group_name::{GroupKind, parse_group_name};
use super::names::workspace_object_name;
use crate::api::reason;

/// A Group as the rules see it: its display name, parsed, with the workspace object name computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// The display name as received.
    pub display_name: String,
    /// Workspace group or plain group, and why.
    pub kind: GroupKind,
    /// The Workspace object name, for a workspace group.
    pub workspace_name: Option<String>,
}

impl GroupInfo {
    /// Parses `display_name`.
    pub fn new(display_name: &str) -> Self {
        let kind = parse_group_name(display_name);
        let workspace_name = match &kind {
            GroupKind::Workspace { group, .. } => Some(workspace_object_name(group)),
            GroupKind::Plain { .. } => None,
        };
        GroupInfo {
            display_name: display_name.to_string(),
            kind,
            workspace_name,
        }
    }

    /// The Workspace object name and role this group grants; `None` for a plain group.
    pub fn workspace(&self) -> Option<(&str, Role)> {
        match (&self.kind, &self.workspace_name) {
            (GroupKind::Workspace { role, .. }, Some(name)) => Some((name, *role)),
            _ => None,
        }
    }

    /// The condition reason for the Group status: [`reason::WORKSPACE_GROUP`] or why it is plain.
    pub fn reason(&self) -> &'static str {
        match &self.kind {
            GroupKind::Workspace { .. } => reason::WORKSPACE_GROUP,
            GroupKind::Plain { reason } => reason.reason(),
        }
    }

    /// A human message for the Group status.
    pub fn message(&self) -> String {
        match (&self.kind, &self.workspace_name) {
            (GroupKind::Workspace { group, role }, Some(name)) => {
                format!("feeds workspace {group:?} ({name}) as {role}")
            }
            (GroupKind::Plain { reason }, _) => {
                format!("plain group, no bindings: {reason}")
            }
            // Never built: a workspace group always has its object name.
            (GroupKind::Workspace { .. }, None) => String::new(),
        }
    }
}

impl From<&GroupSpec> for GroupInfo {
    fn from(spec: &GroupSpec) -> Self {
        GroupInfo::new(&spec.display_name)
    }
}

/// All groups of a directory by id (object name). Build it once per pass, then plan every user
/// with `|id| index.get(id)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupIndex(BTreeMap<String, GroupInfo>);

impl GroupIndex {
    /// From `(id, spec)` pairs, e.g. a reflector store.
    pub fn new<'a>(groups: impl IntoIterator<Item = (&'a str, &'a GroupSpec)>) -> Self {
        GroupIndex(
            groups
                .into_iter()
                .map(|(id, spec)| (id.to_string(), GroupInfo::from(spec)))
                .collect(),
        )
    }

    /// The group with this id.
    pub fn get(&self, id: &str) -> Option<&GroupInfo> {
        self.0.get(id)
    }

    /// All groups, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &GroupInfo)> {
        self.0.iter().map(|(id, info)| (id.as_str(), info))
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::group_name::NotWorkspaceGroup;

    fn spec(display_name: &str) -> GroupSpec {
        GroupSpec {
            display_name: display_name.into(),
            external_id: None,
        }
    }

    #[test]
    fn workspace_and_plain_groups() {
        let admin = GroupInfo::new("ws-Sales & Marketing-role-admin");
        let (name, role) = admin.workspace().unwrap();
        assert!(name.starts_with("sales-marketing--"), "{name}");
        assert_eq!(role, Role::Admin);
        assert_eq!(admin.reason(), reason::WORKSPACE_GROUP);
        assert_eq!(
            admin.message(),
            format!("feeds workspace \"Sales & Marketing\" ({name}) as admin")
        );
        let plain = GroupInfo::new("Everyone");
        assert_eq!(plain.workspace(), None);
        assert_eq!(plain.reason(), reason::NO_WORKSPACE_PREFIX);
        assert_eq!(plain.message(), "plain group, no bindings: does not start with \"ws-\"");
        assert_eq!(
            plain.kind,
            GroupKind::Plain {
                reason: NotWorkspaceGroup::MissingPrefix
            }
        );
    }

    #[test]
    fn index_looks_up_by_id() {
        let (a, b) = (spec("ws-Sales-role-admin"), spec("Everyone"));
        let index = GroupIndex::new([("g1", &a), ("g2", &b)]);
        assert_eq!(index.len(), 2);
        assert_eq!(
            index.get("g1").and_then(GroupInfo::workspace),
            Some(("sales", Role::Admin))
        );
        assert_eq!(index.get("g2").unwrap().display_name, "Everyone");
        assert!(index.get("g3").is_none());
        let ids: Vec<_> = index.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["g1", "g2"]);
    }
}
