//! Parsing group display names: `ws-{group}-role-{role}` makes a workspace group.
//!
//! Decisions beyond SPEC §3.2:
//! - The whole display name, `{group}` and `{role}` are trimmed of surrounding whitespace, so
//!   `" ws-Sales -role- admin "` feeds workspace `Sales` as admin. Whitespace an identity-provider
//!   admin typed by accident must not create a second workspace.
//! - `ws-` and `-role-` and the role are matched ASCII case-insensitively (`WS-sales-ROLE-Admin`).
//! - `-role-` is searched only after `ws-`, so `ws-role-admin` has no separator (the `-` of `ws-`
//!   is not reused); `ws--role-admin` has an empty workspace name.
//! - An empty name is reported before an unknown role (`ws--role-owner` → empty workspace name).

use std::fmt;

use crate::api::Role;

use super::roles::workspace_role;
use crate::api::reason;

/// The prefix of a workspace group's display name (ASCII case-insensitive).
pub const WORKSPACE_PREFIX: &str = "ws-";
/// The separator between `{group}` and `{role}`; the last occurrence counts.
pub const ROLE_SEPARATOR: &str = "-role-";

/// What a group's display name makes of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupKind {
    /// Feeds workspace `group` (spelled as in the display name, trimmed) with `role`.
    Workspace { group: String, role: Role },
    /// Kept, but produces no bindings.
    Plain { reason: NotWorkspaceGroup },
}

/// Why a display name is not `ws-{group}-role-{role}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotWorkspaceGroup {
    /// Does not start with `ws-`.
    MissingPrefix,
    /// No `-role-` after `ws-`.
    MissingRoleSeparator,
    /// Nothing (or only whitespace) between `ws-` and `-role-`.
    EmptyWorkspaceName,
    /// The text after the last `-role-` is not admin, manager or member (as typed, trimmed).
    UnknownRole(String),
}

impl NotWorkspaceGroup {
    /// The condition reason (CamelCase) for this case.
    pub fn reason(&self) -> &'static str {
        match self {
            NotWorkspaceGroup::MissingPrefix => reason::NO_WORKSPACE_PREFIX,
            NotWorkspaceGroup::MissingRoleSeparator => reason::NO_ROLE_SEPARATOR,
            NotWorkspaceGroup::EmptyWorkspaceName => reason::EMPTY_WORKSPACE_NAME,
            NotWorkspaceGroup::UnknownRole(_) => reason::UNKNOWN_WORKSPACE_ROLE,
        }
    }
}

impl fmt::Display for NotWorkspaceGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotWorkspaceGroup::MissingPrefix => {
                write!(f, "does not start with \"{WORKSPACE_PREFIX}\"")
            }
            NotWorkspaceGroup::MissingRoleSeparator => {
                write!(f, "no \"{ROLE_SEPARATOR}\" separator after \"{WORKSPACE_PREFIX}\"")
            }
            NotWorkspaceGroup::EmptyWorkspaceName => write!(
                f,
                "empty workspace name between \"{WORKSPACE_PREFIX}\" and \"{ROLE_SEPARATOR}\""
            ),
            NotWorkspaceGroup::UnknownRole(role) => {
                write!(f, "unknown role {role:?}; expected admin, manager or member")
            }
        }
    }
}

/// Parses a group display name (see the module doc for the edge cases).
pub fn parse_group_name(display_name: &str) -> GroupKind {
    let plain = |reason| GroupKind::Plain { reason };
    let name = display_name.trim();
    // `get` instead of slicing: the third byte may be inside a multi-byte character.
    let rest = match name.get(..WORKSPACE_PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(WORKSPACE_PREFIX) => &name[WORKSPACE_PREFIX.len()..],
        _ => return plain(NotWorkspaceGroup::MissingPrefix),
    };
    // ASCII lowercasing keeps byte offsets, so the index is valid in `rest`.
    let Some(at) = rest.to_ascii_lowercase().rfind(ROLE_SEPARATOR) else {
        return plain(NotWorkspaceGroup::MissingRoleSeparator);
    };
    let group = rest[..at].trim();
    let role = rest[at + ROLE_SEPARATOR.len()..].trim();
    if group.is_empty() {
        return plain(NotWorkspaceGroup::EmptyWorkspaceName);
    }
    match workspace_role(role) {
        Some(role) => GroupKind::Workspace {
            group: group.to_string(),
            role,
        },
        None => plain(NotWorkspaceGroup::UnknownRole(role.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ws(group: &str, role: Role) -> GroupKind {
        GroupKind::Workspace {
            group: group.into(),
            role,
        }
    }

    fn plain(display_name: &str) -> NotWorkspaceGroup {
        match parse_group_name(display_name) {
            GroupKind::Plain { reason } => reason,
            other => panic!("{display_name:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn sales_groups() {
        assert_eq!(parse_group_name("ws-Sales-role-admin"), ws("Sales", Role::Admin));
        assert_eq!(parse_group_name("ws-Sales-role-manager"), ws("Sales", Role::Manager));
        assert_eq!(parse_group_name("ws-Sales-role-member"), ws("Sales", Role::Member));
    }

    #[test]
    fn hyphens_belong_to_the_group_up_to_the_last_separator() {
        assert_eq!(parse_group_name("ws-Sales-EU-role-admin"), ws("Sales-EU", Role::Admin));
        assert_eq!(
            parse_group_name("ws-a-role-b-role-member"),
            ws("a-role-b", Role::Member)
        );
    }

    #[test]
    fn prefix_separator_and_role_are_case_insensitive() {
        assert_eq!(parse_group_name("WS-sales-ROLE-Admin"), ws("sales", Role::Admin));
        assert_eq!(parse_group_name("Ws-X-Role-MEMBER"), ws("X", Role::Member));
    }

    #[test]
    fn odd_names_from_the_issue() {
        assert_eq!(
            parse_group_name("ws-Sales & Marketing-role-admin"),
            ws("Sales & Marketing", Role::Admin)
        );
        assert_eq!(
            parse_group_name("ws-Ventes-Équipe-role-member"),
            ws("Ventes-Équipe", Role::Member)
        );
        assert_eq!(plain("ws--role-admin"), NotWorkspaceGroup::EmptyWorkspaceName);
        let owner = plain("ws-A-role-owner");
        assert_eq!(owner, NotWorkspaceGroup::UnknownRole("owner".into()));
        assert_eq!(
            owner.to_string(),
            "unknown role \"owner\"; expected admin, manager or member"
        );
        assert_eq!(owner.reason(), reason::UNKNOWN_WORKSPACE_ROLE);
    }

    #[test]
    fn plain_groups_say_why() {
        assert_eq!(plain("Engineering"), NotWorkspaceGroup::MissingPrefix);
        assert_eq!(plain("Engineering").to_string(), "does not start with \"ws-\"");
        assert_eq!(plain("ws-Sales"), NotWorkspaceGroup::MissingRoleSeparator);
        assert_eq!(plain("ws-Sales").to_string(), "no \"-role-\" separator after \"ws-\"");
        assert_eq!(plain("ws-role-admin"), NotWorkspaceGroup::MissingRoleSeparator);
        assert_eq!(plain("ws-   -role-admin"), NotWorkspaceGroup::EmptyWorkspaceName);
        assert_eq!(plain("ws--role-owner"), NotWorkspaceGroup::EmptyWorkspaceName);
        assert_eq!(plain("ws-A-role-"), NotWorkspaceGroup::UnknownRole(String::new()));
        assert_eq!(
            plain("ws-A-role-admins"),
            NotWorkspaceGroup::UnknownRole("admins".into())
        );
        assert_eq!(plain(""), NotWorkspaceGroup::MissingPrefix);
        assert_eq!(plain("wsé-A-role-admin"), NotWorkspaceGroup::MissingPrefix);
        assert_eq!(plain("é"), NotWorkspaceGroup::MissingPrefix);
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(parse_group_name("  ws-Sales-role-admin\t"), ws("Sales", Role::Admin));
        assert_eq!(
            parse_group_name("ws- Sales -role- manager "),
            ws("Sales", Role::Manager)
        );
        // Inner whitespace is part of the name.
        assert_eq!(
            parse_group_name("ws-Sales  EU-role-member"),
            ws("Sales  EU", Role::Member)
        );
    }

    fn roles() -> impl Strategy<Value = Role> {
        prop_oneof![Just(Role::Admin), Just(Role::Manager), Just(Role::Member)]
    }

    /// Flips the ASCII case of each character of `s` per `mask`.
    fn recase(s: &str, mask: &[bool]) -> String {
        s.chars()
            .zip(mask.iter().cycle())
            .map(|(c, up)| {
                if *up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn never_panics(name in any::<String>()) {
            let _ = parse_group_name(&name);
        }

        #[test]
        fn never_panics_near_the_syntax(name in "(?i)(ws-)?[a-z é&-]{0,8}(-role-)?[a-z é-]{0,8}") {
            let _ = parse_group_name(&name);
        }

        #[test]
        fn round_trips(
            group in "\\PC{1,40}".prop_filter("trimmed, non-empty", |g| !g.is_empty() && g.trim() == g),
            role in roles(),
            mask in proptest::collection::vec(any::<bool>(), 1..8),
        ) {
            let name = format!(
                "{}{group}{}{}",
                recase(WORKSPACE_PREFIX, &mask),
                recase(ROLE_SEPARATOR, &mask),
                recase(role.as_str(), &mask),
            );
            prop_assert_eq!(parse_group_name(&name), ws(&group, role));
        }
    }
}
