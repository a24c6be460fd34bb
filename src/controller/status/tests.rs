use super::*;
use crate::api::UserSpec;
use crate::rules::{PlanSettings, UserInput, plan_user};

fn now() -> Time {
    Time(jiff::Timestamp::from_second(1_800_000_000).unwrap())
}

fn plan(groups: &[(&str, &str)], user_groups: &[&str], active: bool) -> UserPlan {
    let infos: std::collections::HashMap<String, GroupInfo> = groups
        .iter()
        .map(|(id, dn)| (id.to_string(), GroupInfo::new(dn)))
        .collect();
    let spec = UserSpec {
        user_name: "alice@example.com".into(),
        active: Some(active),
        groups: user_groups.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    plan_user(
        &UserInput::from_spec("u1", &spec),
        |id| infos.get(id),
        Some(&PlanSettings::default()),
    )
}

#[test]
fn user_status_is_stable_across_resyncs() {
    let p = plan(
        &[("g1", "ws-Sales-role-admin"), ("g2", "ws-Sales-role-member")],
        &["g1", "g2"],
        true,
    );
    let first = user_status(None, &p, ConflictPolicy::LeastPrivilege, Some(1), &now());
    let later = Time(jiff::Timestamp::from_second(1_900_000_000).unwrap());
    let second = user_status(Some(&first), &p, ConflictPolicy::LeastPrivilege, Some(1), &later);
    assert_eq!(first, second, "an unchanged plan must give an identical status");
    let conflict = first
        .conditions
        .iter()
        .find(|c| c.type_ == condition::CONFLICT)
        .unwrap();
    assert_eq!(conflict.status, "True");
    assert!(conflict.message.contains("ws-Sales-role-admin"), "{}", conflict.message);
    assert_eq!(first.workspaces[0].role, Some(Role::Member));
}

#[test]
fn suspended_user_has_no_role_and_says_why() {
    let p = plan(&[("g1", "ws-Sales-role-admin")], &["g1"], false);
    let status = user_status(None, &p, ConflictPolicy::LeastPrivilege, Some(2), &now());
    assert_eq!(status.org_role, None);
    assert_eq!(status.workspace_count, 0);
    let ready = status.conditions.iter().find(|c| c.type_ == condition::READY).unwrap();
    assert_eq!(ready.reason, reason::SUSPENDED);
}

#[test]
fn plain_group_reason_and_member_count() {
    let status = group_status(None, &GroupInfo::new("Engineering"), 3, &[], Some(1), &now());
    assert_eq!(status.workspace, None);
    assert_eq!(status.member_count, 3);
    let ready = status.conditions.iter().find(|c| c.type_ == condition::READY).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", reason::PLAIN_GROUP)
    );
}

#[test]
fn duplicate_directory_is_not_ready_and_names_the_older_one() {
    let status = directory_status(
        None,
        "",
        "ns",
        "second",
        Standing::Duplicate { older: "first" },
        &DirectoryCounts {
            users: 5,
            ..Default::default()
        },
        Some(1),
        &now(),
    );
    let ready = &status.conditions[0];
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", reason::DUPLICATE_DIRECTORY)
    );
    assert!(ready.message.contains("\"first\""));
    assert_eq!(status.users, 0);
    assert_eq!(status.scim_base_url, None);
}

#[test]
fn orphaned_workspace_status() {
    let status = workspace_status(None, None, None, None, Some(1), &now());
    assert!(status.orphaned);
    assert_eq!(
        status
            .conditions
            .iter()
            .find(|c| c.type_ == condition::READY)
            .unwrap()
            .reason,
        reason::ORPHANED
    );
}

#[test]
fn a_group_sharing_its_workspace_role_is_in_conflict() {
    let rivals = vec!["ws-sales-role-admin".to_string()];
    let status = group_status(
        None,
        &GroupInfo::new("ws-Sales-role-admin"),
        0,
        &rivals,
        Some(1),
        &now(),
    );
    let conflict = status
        .conditions
        .iter()
        .find(|c| c.type_ == condition::CONFLICT)
        .unwrap();
    assert_eq!(conflict.status, "True");
    assert!(conflict.message.contains("ws-sales-role-admin"), "{}", conflict.message);
}

#[test]
fn a_refused_namespace_makes_the_workspace_not_ready() {
    let summary = WorkspaceSummary::default();
    let why = "namespace \"ws-payments\" was not created by scim-operator";
    let status = workspace_status(None, Some(&summary), None, Some(why), Some(1), &now());
    let ready = status.conditions.iter().find(|c| c.type_ == condition::READY).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", reason::NAMESPACE_NOT_OWNED)
    );
    assert!(ready.message.starts_with(why), "{}", ready.message);
}

#[test]
fn a_directory_being_deleted_or_with_a_bad_prefix_is_not_ready() {
    let counts = DirectoryCounts::default();
    for (standing, why) in [
        (Standing::Deleting, reason::DELETING),
        (
            Standing::InCharge {
                prefix_problem: Some("prefix reaches kube-"),
            },
            reason::INVALID_NAMESPACE_PREFIX,
        ),
    ] {
        let status = directory_status(None, "", "ns", "entra", standing, &counts, Some(1), &now());
        let ready = &status.conditions[0];
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", why));
        assert_eq!(status.scim_base_url.as_deref(), Some("/scim/v2/ns/entra"));
    }
}

#[test]
fn directory_base_url_is_absolute_with_an_external_url() {
    let standing = Standing::InCharge { prefix_problem: None };
    let counts = DirectoryCounts::default();
    let status = directory_status(
        None,
        "https://scim.example.com",
        "ns",
        "entra",
        standing,
        &counts,
        Some(1),
        &now(),
    );
    let url = "https://scim.example.com/scim/v2/ns/entra";
    assert_eq!(status.scim_base_url.as_deref(), Some(url));
    assert_eq!(status.conditions[0].message, format!("serving SCIM at {url}"));
}

/// `(type, reason, observedGeneration)` of the kstatus conditions `Stalled` and `Reconciling`.
fn kstatus_conditions(conditions: &[Condition]) -> Vec<(String, String, Option<i64>)> {
    conditions
        .iter()
        .filter(|c| c.type_ == condition::STALLED || c.type_ == condition::RECONCILING)
        .inspect(|c| assert_eq!(c.status, "True", "abnormal-true polarity: present only when true"))
        .map(|c| (c.type_.clone(), c.reason.clone(), c.observed_generation))
        .collect()
}

fn kstatus_condition(type_: &str, reason: &str) -> Vec<(String, String, Option<i64>)> {
    vec![(type_.to_string(), reason.to_string(), Some(3))]
}

#[test]
fn workspaces_that_need_a_change_elsewhere_are_stalled() {
    let summary = WorkspaceSummary::default();
    let keys = vec!["Sales".to_string(), "sales!".to_string()];
    let collision = workspace_status(None, Some(&summary), Some(&keys), None, Some(3), &now());
    assert_eq!(
        kstatus_conditions(&collision.conditions),
        kstatus_condition(condition::STALLED, reason::NAME_COLLISION)
    );
    let not_owned = workspace_status(None, Some(&summary), None, Some("not ours"), Some(3), &now());
    assert_eq!(
        kstatus_conditions(&not_owned.conditions),
        kstatus_condition(condition::STALLED, reason::NAMESPACE_NOT_OWNED)
    );
    // Provisioned, or orphaned on purpose (Retain): neither stalled nor reconciling.
    let ready = workspace_status(None, Some(&summary), None, None, Some(3), &now());
    assert_eq!(kstatus_conditions(&ready.conditions), []);
    let orphaned = workspace_status(None, None, None, None, Some(3), &now());
    assert_eq!(kstatus_conditions(&orphaned.conditions), []);
}

#[test]
fn directories_are_stalled_when_the_admin_must_act_and_reconciling_while_deleted() {
    let counts = DirectoryCounts::default();
    for (standing, expected) in [
        (
            Standing::Duplicate { older: "first" },
            kstatus_condition(condition::STALLED, reason::DUPLICATE_DIRECTORY),
        ),
        (
            Standing::InCharge {
                prefix_problem: Some("prefix reaches kube-"),
            },
            kstatus_condition(condition::STALLED, reason::INVALID_NAMESPACE_PREFIX),
        ),
        (
            Standing::Deleting,
            kstatus_condition(condition::RECONCILING, reason::DELETING),
        ),
        (Standing::InCharge { prefix_problem: None }, vec![]),
    ] {
        let status = directory_status(None, "", "ns", "entra", standing, &counts, Some(3), &now());
        assert_eq!(kstatus_conditions(&status.conditions), expected);
        // Resynced unchanged, the status is identical (no write).
        let again = directory_status(Some(&status), "", "ns", "entra", standing, &counts, Some(3), &now());
        assert_eq!(again, status);
    }
}
