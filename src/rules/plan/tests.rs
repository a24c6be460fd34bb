use super::*;
use crate::api::GroupSpec;
use crate::rules::GroupIndex;

/// Groups of the Sales example plus a plain group and a second spelling of Sales.
fn index() -> GroupIndex {
    let specs = [
        ("g-admin", "ws-Sales-role-admin"),
        ("g-manager", "ws-Sales-role-manager"),
        ("g-member", "ws-Sales-role-member"),
        ("g-admin-2", "ws-sales-role-admin"),
        ("g-eu-member", "ws-Sales-EU-role-member"),
        ("g-all", "Everyone"),
    ]
    .map(|(id, name)| {
        (
            id,
            GroupSpec {
                display_name: name.into(),
                external_id: None,
            },
        )
    });
    GroupIndex::new(specs.iter().map(|(id, spec)| (*id, spec)))
}

/// A fluent User fixture.
struct TestUser {
    id: &'static str,
    spec: UserSpec,
}

impl TestUser {
    fn new(id: &'static str, user_name: &str) -> Self {
        TestUser {
            id,
            spec: UserSpec {
                user_name: user_name.into(),
                active: Some(true),
                ..UserSpec::default()
            },
        }
    }
    fn groups(mut self, ids: &[&str]) -> Self {
        self.spec.groups = ids.iter().map(|id| id.to_string()).collect();
        self
    }
    fn roles(mut self, values: &[&str]) -> Self {
        self.spec.roles = values
            .iter()
            .map(|v| MultiValue {
                value: Some(v.to_string()),
                ..MultiValue::default()
            })
            .collect();
        self
    }
    fn email(mut self, address: &str) -> Self {
        self.spec.emails.push(MultiValue {
            value: Some(address.into()),
            type_: Some("work".into()),
            primary: Some(true),
            ..MultiValue::default()
        });
        self
    }
    fn inactive(mut self) -> Self {
        self.spec.active = Some(false);
        self
    }
    fn plan_with(&self, settings: &PlanSettings) -> UserPlan {
        self.plan_under(Some(settings))
    }
    fn plan_under(&self, settings: Option<&PlanSettings>) -> UserPlan {
        let index = index();
        plan_user(&UserInput::from_spec(self.id, &self.spec), |id| index.get(id), settings)
    }
    fn plan(&self) -> UserPlan {
        self.plan_with(&PlanSettings::default())
    }
}

fn with_policy(policy: ConflictPolicy) -> PlanSettings {
    PlanSettings {
        conflict_policy: policy,
        ..PlanSettings::default()
    }
}

fn only_workspace(plan: &UserPlan) -> &WorkspaceBinding {
    assert_eq!(plan.workspaces.len(), 1, "{plan:#?}");
    &plan.workspaces[0]
}

#[test]
fn sales_example_one_user_per_role_group() {
    for (user, group, role) in [
        ("alice", "g-admin", Role::Admin),
        ("bob", "g-manager", Role::Manager),
        ("carol", "g-member", Role::Member),
    ] {
        let plan = TestUser::new("u1", user).groups(&[group]).plan();
        assert_eq!(plan.state, UserState::Active);
        let ws = only_workspace(&plan);
        assert_eq!(ws.workspace, "sales");
        assert_eq!(ws.role, Some(role), "{user}");
        assert!(!ws.conflict);
        assert!(!plan.has_conflict());
    }
}

#[test]
fn user_in_two_sales_groups_under_each_policy() {
    let user = TestUser::new("u1", "dave").groups(&["g-member", "g-admin"]);
    for (policy, expected) in [
        (ConflictPolicy::LeastPrivilege, Some(Role::Member)),
        (ConflictPolicy::HighestPrivilege, Some(Role::Admin)),
        (ConflictPolicy::Deny, None),
    ] {
        let plan = user.plan_with(&with_policy(policy));
        let ws = only_workspace(&plan);
        assert!(ws.conflict, "{policy:?}");
        assert_eq!(ws.role, expected, "{policy:?}");
        assert_eq!(ws.source_groups, ["ws-Sales-role-admin", "ws-Sales-role-member"]);
        assert_eq!(plan.conflicts().count(), 1);
        // The conflict is always reported, whatever the policy.
        let reported = ws.workspace_conflict("dave").unwrap();
        assert_eq!(reported.user_name.as_deref(), Some("dave"));
        assert_eq!(reported.applied_role, expected);
    }
    let deny = user.plan_with(&with_policy(ConflictPolicy::Deny));
    // Deny: only the organisation binding.
    assert_eq!(deny.bindings().len(), 1);
    assert_eq!(
        deny.workspaces[0].conflict_message(ConflictPolicy::Deny),
        "in 2 role groups of workspace \"sales\" (ws-Sales-role-admin, ws-Sales-role-member); \
         nothing bound under Deny"
    );
    assert_eq!(
        deny.workspace_roles(),
        [UserWorkspaceRole {
            workspace: "sales".into(),
            role: None,
            conflict: true
        }]
    );
}

#[test]
fn case_variant_groups_are_one_workspace_and_a_conflict() {
    // `ws-Sales-role-admin` and `ws-sales-role-admin`: same workspace, same role, two groups.
    let user = TestUser::new("u1", "erin").groups(&["g-admin", "g-admin-2"]);
    let least = user.plan();
    let ws = only_workspace(&least);
    assert!(ws.conflict);
    assert_eq!(ws.role, Some(Role::Admin));
    let deny = user.plan_with(&with_policy(ConflictPolicy::Deny));
    assert_eq!(only_workspace(&deny).role, None);
}

#[test]
fn different_workspaces_are_not_a_conflict() {
    let plan = TestUser::new("u1", "frank")
        .groups(&["g-eu-member", "g-admin", "g-all"])
        .plan();
    let names: Vec<_> = plan.workspaces.iter().map(|w| w.workspace.as_str()).collect();
    assert_eq!(names, ["sales", "sales-eu"]);
    assert!(!plan.has_conflict());
    assert_eq!(plan.unknown_groups, 0);
}

#[test]
fn org_role_from_roles() {
    let plan = |roles: &[&str]| TestUser::new("u1", "x").roles(roles).plan().org_role;
    assert_eq!(plan(&["admin", "member"]), Some(Role::Admin));
    assert_eq!(plan(&["owner"]), Some(Role::Owner));
    assert_eq!(plan(&["superuser"]), Some(Role::Member));
    assert_eq!(plan(&["group"]), Some(Role::Member));
    assert_eq!(plan(&[]), Some(Role::Member));
}

#[test]
fn bindings_are_named_and_sorted() {
    let plan = TestUser::new("u1", "alice@contoso.com")
        .roles(&["admin"])
        .groups(&["g-eu-member", "g-manager"])
        .plan();
    let bindings = plan.bindings();
    let names: Vec<_> = bindings.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["u1", "u1.sales", "u1.sales-eu"]);
    assert_eq!(
        bindings[0].spec,
        RoleBindingSpec {
            user: "u1".into(),
            user_name: "alice@contoso.com".into(),
            workspace: None,
            role: Role::Admin,
        }
    );
    assert_eq!(bindings[1].spec.workspace.as_deref(), Some("sales"));
    assert_eq!(bindings[1].spec.role, Role::Manager);
    assert_eq!(bindings[1].source_groups, ["ws-Sales-role-manager"]);
    assert!(!bindings[1].conflict);
}

#[test]
fn inactive_user_is_suspended_without_bindings() {
    let plan = TestUser::new("u1", "gina")
        .roles(&["owner"])
        .groups(&["g-admin"])
        .inactive()
        .plan();
    assert_eq!(plan.state, UserState::Suspended);
    assert_eq!(plan.state.reason(), reason::SUSPENDED);
    assert_eq!(plan.org_role, None);
    assert!(plan.workspaces.is_empty());
    assert!(plan.bindings().is_empty());
}

/// An absent `active` (never sent, or removed by a SCIM PATCH) counts as active.
#[test]
fn absent_active_counts_as_active() {
    let mut user = TestUser::new("u1", "gina").roles(&["owner"]).groups(&["g-admin"]);
    let active = user.plan();
    user.spec.active = None;
    let absent = user.plan();
    assert_ne!(absent.state, UserState::Suspended);
    assert_eq!(absent.bindings(), active.bindings());
    assert!(!absent.bindings().is_empty());
}

#[test]
fn without_a_directory_nobody_is_bound() {
    // Not even an owner in admin groups: the defaults are never assumed (issue 11.3).
    for user in [
        TestUser::new("u1", "mallory@evil.test")
            .roles(&["owner"])
            .groups(&["g-admin"]),
        TestUser::new("u2", "gina").groups(&["g-admin"]).inactive(),
    ] {
        let plan = user.plan_under(None);
        assert_eq!(plan.state, UserState::DirectoryMissing);
        assert_eq!(plan.state.reason(), reason::DIRECTORY_MISSING);
        assert_eq!(plan.org_role, None);
        assert!(plan.workspaces.is_empty());
        assert!(plan.bindings().is_empty());
    }
}

#[test]
fn user_outside_allowed_domains_gets_no_bindings() {
    let settings = PlanSettings {
        allowed_domains: AllowedDomains::new(["contoso.com"]),
        ..PlanSettings::default()
    };
    let outsider = TestUser::new("u1", "mallory@evil.com")
        .email("mallory@evil.com")
        .groups(&["g-admin"])
        .plan_with(&settings);
    assert_eq!(
        outsider.state,
        UserState::DomainNotAllowed(DomainRejection::NotAllowed {
            domain: "evil.com".into()
        })
    );
    assert_eq!(outsider.state.reason(), reason::DOMAIN_NOT_ALLOWED);
    assert!(outsider.state.message().contains("\"evil.com\""));
    assert!(outsider.bindings().is_empty());
    assert!(outsider.workspaces.is_empty());

    let insider = TestUser::new("u2", "alice@CONTOSO.com")
        .groups(&["g-admin"])
        .plan_with(&settings);
    assert_eq!(insider.state, UserState::Active);
    assert_eq!(insider.bindings().len(), 2);

    // Suspension wins over the domain check.
    let both = TestUser::new("u3", "m@evil.com").inactive().plan_with(&settings);
    assert_eq!(both.state, UserState::Suspended);
}

#[test]
fn unknown_groups_are_counted_and_ignored() {
    let plan = TestUser::new("u1", "hank")
        .groups(&["g-admin", "g-gone", "g-new", "g-new"])
        .plan();
    assert_eq!(plan.unknown_groups, 2);
    assert_eq!(only_workspace(&plan).role, Some(Role::Admin));
}

#[test]
fn repeated_group_ids_are_not_a_conflict() {
    let plan = TestUser::new("u1", "ivy").groups(&["g-admin", "g-admin"]).plan();
    assert!(!only_workspace(&plan).conflict);
}

#[test]
fn group_order_does_not_matter() {
    let a = TestUser::new("u1", "jo")
        .groups(&["g-member", "g-eu-member", "g-admin"])
        .plan();
    let b = TestUser::new("u1", "jo")
        .groups(&["g-admin", "g-member", "g-eu-member"])
        .plan();
    assert_eq!(a, b);
}

#[test]
fn settings_from_directory() {
    let spec = DirectorySpec {
        conflict_policy: ConflictPolicy::Deny,
        allowed_domains: vec!["Contoso.com".into()],
        ..DirectorySpec::default()
    };
    let settings = PlanSettings::from_directory(&spec);
    assert_eq!(settings.conflict_policy, ConflictPolicy::Deny);
    assert_eq!(settings.allowed_domains, AllowedDomains::new(["contoso.com"]));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const WORKSPACE_GROUPS: [&str; 5] = ["g-admin", "g-manager", "g-member", "g-admin-2", "g-eu-member"];

    proptest! {
        #[test]
        fn least_privilege_binds_no_more_than_highest(
            picks in proptest::collection::vec(0..WORKSPACE_GROUPS.len(), 0..6),
        ) {
            let ids: Vec<&str> = picks.iter().map(|i| WORKSPACE_GROUPS[*i]).collect();
            let user = TestUser::new("u1", "p").groups(&ids);
            let least = user.plan_with(&with_policy(ConflictPolicy::LeastPrivilege));
            let highest = user.plan_with(&with_policy(ConflictPolicy::HighestPrivilege));
            let deny = user.plan_with(&with_policy(ConflictPolicy::Deny));
            prop_assert_eq!(least.workspaces.len(), highest.workspaces.len());
            for ((l, h), d) in least.workspaces.iter().zip(&highest.workspaces).zip(&deny.workspaces) {
                prop_assert_eq!(&l.workspace, &h.workspace);
                prop_assert!(l.role.is_some() && l.role <= h.role);
                prop_assert_eq!(l.conflict, h.conflict);
                prop_assert_eq!(d.role.is_none(), d.conflict);
                prop_assert!(!l.conflict || l.source_groups.len() > 1);
            }
        }
    }
}
