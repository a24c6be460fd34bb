//! The chart's alerts and dashboard: they render where enabled, every alert has a runbook and a
//! promtool test, and every metric they name is served by the real binary's `/metrics`.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::binary::{ChartServe, serve_as_the_chart};
use super::chart::*;
use super::support::{self, scim};

const RULES: &str = "files/prometheus-rules.yaml";
const DASHBOARD: &str = "files/dashboard.json";
const DEFAULT_RUNBOOKS: &str = "https://github.com/scim-operator/scim-operator/blob/main/docs/runbooks.md";

fn chart_file(path: &str) -> String {
    std::fs::read_to_string(chart_dir().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every alert of the rule file: (name, runbook_url).
fn alerts(rules: &serde_json::Value) -> Vec<(String, String)> {
    let groups = rules["groups"].as_array().expect("groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules"))
        .filter_map(|r| {
            let name = r["alert"].as_str()?;
            let runbook = r["annotations"]["runbook_url"].as_str().unwrap_or("");
            Some((name.to_string(), runbook.to_string()))
        })
        .collect()
}

/// Every `scim_operator_…` name in the rules' `expr`s.
fn rule_metrics() -> BTreeSet<String> {
    let rules: serde_json::Value = serde_saphyr::from_str(&chart_file(RULES)).unwrap();
    let groups = rules["groups"].as_array().expect("groups");
    let exprs = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules"))
        .map(|r| r["expr"].as_str().expect("expr"));
    exprs.flat_map(metric_names).collect()
}

/// Every `scim_operator_…` name in the dashboard's queries (panel targets and variables).
fn dashboard_metrics() -> BTreeSet<String> {
    let dashboard: serde_json::Value = serde_json::from_str(&chart_file(DASHBOARD)).unwrap();
    let mut names = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            names.extend(metric_names(target["expr"].as_str().expect("expr")));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().expect("variables") {
        names.extend(metric_names(variable["definition"].as_str().unwrap_or("")));
    }
    names
}

/// Every `scim_operator_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("scim_operator_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// The names of the samples of an exposition.
fn sampled(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn alerts_and_dashboard_render_only_when_enabled() {
    let none = render(&[]);
    assert!(of_kind(&none, "PrometheusRule").is_empty());
    assert!(of_kind(&none, "ConfigMap").is_empty());

    let objects = render(&[
        "metrics.prometheusRule.enabled=true",
        "metrics.prometheusRule.labels.release=kube-prometheus-stack",
        "metrics.prometheusRule.runbookBaseUrl=https://wiki.example.org/scim",
        "metrics.dashboard.enabled=true",
        "metrics.dashboard.namespace=monitoring",
    ]);
    let rule = find(&objects, "PrometheusRule", "rel-scim-operator");
    assert_eq!(
        rule["metadata"]["labels"]["release"].as_str(),
        Some("kube-prometheus-stack")
    );
    let source: serde_json::Value = serde_saphyr::from_str(&chart_file(RULES)).unwrap();
    let (shipped, expected) = (alerts(&rule["spec"]), alerts(&source));
    assert_eq!(shipped.len(), expected.len(), "the PrometheusRule ships every alert");
    for ((name, url), (source_name, source_url)) in shipped.iter().zip(&expected) {
        assert_eq!(name, source_name);
        let anchor = format!("#{}", name.to_lowercase());
        assert_eq!(source_url, &format!("{DEFAULT_RUNBOOKS}{anchor}"), "{name}");
        assert_eq!(url, &format!("https://wiki.example.org/scim{anchor}"), "{name}");
    }
    assert_eq!(
        rule["spec"]["groups"][0]["rules"][0]["expr"],
        source["groups"][0]["rules"][0]["expr"]
    );

    let dashboard = find(&objects, "ConfigMap", "rel-scim-operator-dashboard");
    assert_eq!(dashboard["metadata"]["namespace"].as_str(), Some("monitoring"));
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"].as_str(), Some("1"));
    let json: serde_json::Value = serde_json::from_str(
        dashboard["data"]["scim-operator.json"]
            .as_str()
            .expect("dashboard data"),
    )
    .unwrap();
    let file: serde_json::Value = serde_json::from_str(&chart_file(DASHBOARD)).unwrap();
    assert_eq!(json, file, "the ConfigMap carries files/dashboard.json unchanged");
    assert!(json["panels"].as_array().is_some_and(|p| p.len() > 10));
}

#[test]
fn every_alert_has_a_runbook_section_and_a_promtool_test() {
    let rules: serde_json::Value = serde_saphyr::from_str(&chart_file(RULES)).unwrap();
    let runbooks = repo_file("docs/runbooks.md");
    let tests = repo_file("tests/prometheus/rules_test.yaml");
    let names: Vec<String> = alerts(&rules).into_iter().map(|(n, _)| n).collect();
    assert!(names.len() >= 6, "{names:?}");
    for name in names {
        assert!(
            runbooks.contains(&format!("\n## {name}\n")),
            "docs/runbooks.md has no section {name}"
        );
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "tests/prometheus/rules_test.yaml does not test {name}"
        );
    }
}

#[tokio::test]
async fn every_metric_the_alerts_and_dashboard_name_is_served() {
    let (rules, dashboard) = (rule_metrics(), dashboard_metrics());
    assert!(rules.len() >= 6 && dashboard.len() >= 12, "{rules:?} {dashboard:?}");
    let referenced: BTreeSet<String> = rules.union(&dashboard).cloned().collect();

    // The real binary, with the chart's environment and ServiceAccount.
    let ChartServe {
        admin: _,
        dir_ns,
        token,
        mut child,
        scim_port,
        probe_port,
    } = serve_as_the_chart("helm-mon", Stdio::null).await;
    let http = reqwest::Client::new();
    let metrics_url = format!("http://127.0.0.1:{probe_port}/metrics");

    // Provisioning that touches every panel: a user in two role groups of one workspace (a
    // conflict), and a request with a wrong token to an existing directory.
    let addr = format!("127.0.0.1:{scim_port}").parse().unwrap();
    let client = scim::Scim::connect(addr, &dir_ns, "entra", &token).await;
    let alice = client.create_user("alice@example.com").await;
    for role in ["admin", "member"] {
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": format!("ws-Sales-role-{role}"),
            "members": [{"value": alice}],
        });
        let reply = client.post("/Groups", &group).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    }
    let wrong = client.with_token("not-the-token-0123456789abcdef0123456789");
    assert_eq!(wrong.get("/Users").await.status, StatusCode::UNAUTHORIZED);

    let deadline = tokio::time::Instant::now() + support::WAIT;
    let missing = loop {
        let exposition = http.get(&metrics_url).send().await.unwrap().text().await.unwrap();
        // Every name has samples: counters of errors are served at 0 from the start.
        let served = sampled(&exposition);
        let unsampled: Vec<String> = referenced.iter().filter(|n| !served.contains(*n)).cloned().collect();
        let conflict = exposition
            .lines()
            .any(|l| l.starts_with("scim_operator_workspace_conflicts{") && l.contains(&dir_ns) && l.ends_with(" 1"));
        let per_directory_401 = exposition.lines().any(|l| {
            l.starts_with("scim_operator_scim_directory_requests_total{")
                && l.contains(&dir_ns)
                && l.contains("status=\"401\"")
        });
        if unsampled.is_empty() && conflict && per_directory_401 {
            break None;
        }
        if tokio::time::Instant::now() > deadline {
            break Some((unsampled, conflict, per_directory_401));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        missing, None,
        "(names without samples, the workspace conflict, the per-directory 401) after provisioning"
    );
    child.kill().await.unwrap();
}
