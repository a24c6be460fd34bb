//! The real `scim-operator serve` binary, configured with exactly the environment the chart's
//! Deployment sets and authenticated as the chart's ServiceAccount, becomes ready, serves SCIM
//! and exits cleanly on SIGTERM. With its controller, the SCIM store is fed by the controller's
//! watch caches, so a User written straight to the API server shows up in SCIM lookups.

use std::process::Stdio;
use std::time::Duration;

use kube::Api;
use kube::api::PostParams;
use reqwest::StatusCode;
use scim_operator::api::{User, UserSpec};

use super::chart::*;
use super::rbac::apply_chart;
use super::support::{self, scim};

/// A loopback port that was free a moment ago.
pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The literal `env` entries of the rendered container (downward-API ones get test values).
pub(super) fn chart_env(ns: &str) -> Vec<(String, String)> {
    let objects = objects(&template(ns, ns, &["crds.install=false"]).unwrap());
    let deployment = find(&objects, "Deployment", &format!("{ns}-scim-operator"));
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    env.iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_string();
            let value = match name.as_str() {
                "POD_NAMESPACE" => ns.to_string(),
                "POD_NAME" => "scim-operator-test-0".to_string(),
                _ => e["value"].as_str().expect("literal value").to_string(),
            };
            (name, value)
        })
        .collect()
}

/// `scim-operator serve` as the chart runs it: the chart's RBAC applied in a fresh namespace,
/// its ServiceAccount's credentials, its container's environment (loopback ports instead of the
/// chart's 0.0.0.0:8080/9090, which may be taken here), a Directory in a second namespace.
pub(super) struct ChartServe {
    pub admin: kube::Client,
    pub dir_ns: String,
    pub token: String,
    pub child: tokio::process::Child,
    pub scim_port: u16,
    pub probe_port: u16,
}

/// Starts [`ChartServe`] (namespaces named after `prefix`) and waits until `/readyz` answers 200.
pub(super) async fn serve_as_the_chart(prefix: &str, output: impl Fn() -> Stdio) -> ChartServe {
    let admin = support::client().await;
    let ns = support::fresh_namespace(&admin, prefix).await;
    let dir_ns = support::fresh_namespace(&admin, &format!("{prefix}dir")).await;
    apply_chart(&ns, &[&format!("rbac.secretNamespaces={{{dir_ns}}}")]).await;
    let token = scim::create_directory(&admin, &dir_ns, "entra").await;
    let sa = format!("system:serviceaccount:{ns}:{ns}-scim-operator");
    let kubeconfig = support::control_plane()
        .await
        .user_kubeconfig(
            &sa,
            &["system:serviceaccounts", &format!("system:serviceaccounts:{ns}")],
        )
        .unwrap();
    let (scim_port, probe_port) = (free_port(), free_port());
    let mut env = chart_env(&ns);
    for (name, value) in env.iter_mut() {
        match name.as_str() {
            "SCIM_LISTEN" => *value = format!("127.0.0.1:{scim_port}"),
            "SCIM_PROBE_LISTEN" => *value = format!("127.0.0.1:{probe_port}"),
            _ => {}
        }
    }
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scim-operator"))
        .arg("serve")
        .envs(env)
        .env("KUBECONFIG", &kubeconfig)
        .stdout(output())
        .stderr(output())
        .kill_on_drop(true)
        .spawn()
        .expect("scim-operator serve");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let ready = http.get(format!("http://127.0.0.1:{probe_port}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "scim-operator exited early");
        assert!(tokio::time::Instant::now() < deadline, "/readyz never answered 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ChartServe {
        admin,
        dir_ns,
        token,
        child,
        scim_port,
        probe_port,
    }
}

#[tokio::test]
async fn binary_serves_with_the_chart_environment_and_identity() {
    assert!(
        chart_env("helm-bin")
            .iter()
            .any(|(k, v)| k == "LOG_FORMAT" && v == "json")
    );
    let ChartServe {
        admin,
        dir_ns,
        token,
        child,
        scim_port,
        probe_port,
    } = serve_as_the_chart("helm-bin", Stdio::piped).await;
    let http = reqwest::Client::new();
    let addr = format!("127.0.0.1:{scim_port}").parse().unwrap();
    let client = scim::Scim::connect(addr, &dir_ns, "entra", &token).await;
    client.create_user("grace@example.com").await;
    // Not through SCIM: only the controller's User watch can bring it to the SCIM store.
    let user = User::new(
        "u-written-by-gitops",
        UserSpec {
            user_name: "ada@example.com".into(),
            ..Default::default()
        },
    );
    Api::<User>::namespaced(admin.clone(), &dir_ns)
        .create(&PostParams::default(), &user)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let found = client.filter("/Users", r#"userName eq "ADA@example.com""#, "").await;
        assert_eq!(found.status, StatusCode::OK, "{:?}", found.body);
        if found.body["totalResults"] == 1 {
            assert_eq!(found.body["Resources"][0]["id"], "u-written-by-gitops");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watched User never reached SCIM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = http
        .get(format!("http://127.0.0.1:{probe_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);

    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let output = tokio::time::timeout(support::WAIT, child.wait_with_output())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    // tracing writes to stdout.
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "exit {}: {logs}", output.status);
    let first = logs.lines().next().unwrap_or("");
    assert!(first.starts_with('{'), "LOG_FORMAT=json gives JSON lines: {first}");
    assert!(!logs.contains(&token), "the token is never logged");
}
