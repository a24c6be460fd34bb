//! `helm lint`, `helm template` for the main value sets, and the values schema.

use serde_json::Value;

use super::chart::*;

/// Every value set the tests render, `--set` style.
pub const ALL_ON: &[&str] = &[
    "ingress.enabled=true",
    "ingress.host=scim.example.org",
    "ingress.tlsSecretName=scim-tls",
    "metrics.serviceMonitor.enabled=true",
    "metrics.prometheusRule.enabled=true",
    "metrics.dashboard.enabled=true",
    "networkPolicy.enabled=true",
    "podDisruptionBudget.enabled=true",
    "nativeRbac.enabled=true",
    "directory.create=true",
    "directory.token=s3cret-token",
    "directory.conflictPolicy=Deny",
];

#[test]
fn chart_crds_match_the_generated_crds() {
    let source_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let chart_crds = chart_dir().join("templates/crds");
    let mut expected = Vec::new();
    for entry in std::fs::read_dir(&source_dir).expect("crds/") {
        let path = entry.expect("entry").path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let source = std::fs::read_to_string(&path).expect("CRD");
        let chart_copy = std::fs::read_to_string(chart_crds.join(&file)).unwrap_or_default();
        assert!(
            chart_copy == templated_crd(&file, &source),
            "charts/scim-operator/templates/crds/{file} is stale: run hack/chart-crds.sh"
        );
        expected.push(file);
    }
    let mut present: Vec<String> = std::fs::read_dir(&chart_crds)
        .expect("templates/crds")
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    expected.sort();
    present.sort();
    assert_eq!(present, expected, "the chart ships exactly the CRDs of crds/");
}

#[test]
fn lint_is_clean() {
    let chart = chart_dir().display().to_string();
    run(helm(["lint", "--strict", &chart])).unwrap_or_else(|e| panic!("{e}"));
    let mut args = vec!["lint".to_string(), "--strict".into(), chart];
    for set in ALL_ON {
        args.extend(["--set".into(), set.to_string()]);
    }
    run(helm(args)).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn defaults_render_a_restricted_deployment() {
    let objects = render(&[]);
    let deployment = find(&objects, "Deployment", "rel-scim-operator");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"].as_i64(), Some(2), "two replicas, one leader");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["serviceAccountName"].as_str(), Some("rel-scim-operator"));
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    assert!(pod["terminationGracePeriodSeconds"].as_i64().unwrap() > 0);
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"].as_str(),
        Some("ghcr.io/scim-operator/scim-operator:0.1.0"),
        "tag defaults to appVersion"
    );
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(security["seccompProfile"]["type"].as_str(), Some("RuntimeDefault"));
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"].as_str(), Some("metrics"), "{probe}");
    }
    assert_eq!(container["livenessProbe"]["httpGet"]["path"].as_str(), Some("/healthz"));
    assert_eq!(container["readinessProbe"]["httpGet"]["path"].as_str(), Some("/readyz"));
    let ports: Vec<(String, i64)> = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["containerPort"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ports, [("scim".to_string(), 8080), ("metrics".to_string(), 9090)]);
    assert!(container["lifecycle"]["preStop"]["sleep"]["seconds"].as_i64().unwrap() > 0);
    let no_sleep = render(&["preStopSleepSeconds=0"]);
    let pod = &find(&no_sleep, "Deployment", "rel-scim-operator")["spec"]["template"]["spec"];
    assert!(
        pod["containers"][0]["lifecycle"].is_null(),
        "no preStop hook without a sleep"
    );
    let env = container["env"].as_array().unwrap();
    let env_names: Vec<&str> = env.iter().map(|e| e["name"].as_str().unwrap()).collect();
    for name in [
        "POD_NAMESPACE",
        "POD_NAME",
        "LOG_FORMAT",
        "SCIM_LISTEN",
        "SCIM_PROBE_LISTEN",
    ] {
        assert!(env_names.contains(&name), "{name} in {env_names:?}");
    }
    let service = find(&objects, "Service", "rel-scim-operator");
    let ports = service["spec"]["ports"].as_array().unwrap();
    assert_eq!(ports[0]["port"].as_i64(), Some(80));
    assert_eq!(ports[0]["targetPort"].as_str(), Some("scim"));
    assert_eq!(ports[1]["targetPort"].as_str(), Some("metrics"));
    // Every object carries the chart's labels.
    for object in &objects {
        let labels = &object["metadata"]["labels"];
        assert_eq!(
            labels["helm.sh/chart"].as_str(),
            Some("scim-operator-0.1.0"),
            "{object:?}"
        );
        assert_eq!(labels["app.kubernetes.io/instance"].as_str(), Some("rel"));
    }
    // Optional parts are off; the CRDs are on and kept on uninstall.
    for kind in [
        "Ingress",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Directory",
        "Secret",
    ] {
        assert!(of_kind(&objects, kind).is_empty(), "{kind} rendered by default");
    }
    let crds = of_kind(&objects, "CustomResourceDefinition");
    assert_eq!(crds.len(), 6);
    for crd in crds {
        assert_eq!(
            crd["metadata"]["annotations"]["helm.sh/resource-policy"].as_str(),
            Some("keep")
        );
    }
    assert!(of_kind(&render(&["crds.install=false"]), "CustomResourceDefinition").is_empty());
}

/// Every rule of every Role and ClusterRole rendered.
fn rules(objects: &[Value]) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for kind in ["ClusterRole", "Role"] {
        for role in of_kind(objects, kind) {
            let name = role["metadata"]["name"].as_str().unwrap().to_string();
            for rule in role["rules"].as_array().unwrap() {
                out.push((kind.to_string(), name.clone(), rule));
            }
        }
    }
    out
}

#[test]
fn rbac_is_least_privilege() {
    for sets in [&[][..], ALL_ON, &["rbac.clusterWideSecrets=true"]] {
        for (kind, name, rule) in rules(&render(sets)) {
            for field in ["verbs", "resources", "apiGroups"] {
                assert!(
                    !strings(&rule[field]).contains(&"*".to_string()),
                    "{kind} {name}: * in {field}"
                );
            }
            let verbs = strings(&rule["verbs"]);
            for forbidden in ["escalate", "impersonate", "deletecollection"] {
                assert!(!verbs.contains(&forbidden.to_string()), "{kind} {name}: {forbidden}");
            }
            if strings(&rule["resources"]).contains(&"secrets".to_string()) {
                assert_eq!(verbs, ["get"], "{kind} {name}: Secrets are only read one by one");
            }
        }
    }
    // By default: no Secret access anywhere, and the Lease only in the release namespace.
    let defaults = render(&[]);
    for (kind, name, rule) in rules(&defaults) {
        assert!(
            !strings(&rule["resources"]).contains(&"secrets".to_string()),
            "{kind} {name} reads Secrets"
        );
        if strings(&rule["resources"]).contains(&"namespaces".to_string()) {
            assert_eq!(
                strings(&rule["verbs"]),
                ["list", "watch"],
                "{kind} {name}: namespaces read-only"
            );
        }
        if strings(&rule["resources"]).contains(&"leases".to_string()) {
            assert_eq!(kind, "Role");
        }
    }
    let cluster_role = find(&defaults, "ClusterRole", "rel-scim-operator");
    let rules = cluster_role["rules"].as_array().unwrap();
    let directories = rules
        .iter()
        .find(|r| strings(&r["resources"]) == ["directories"])
        .expect("directories rule");
    assert_eq!(
        strings(&directories["verbs"]),
        ["get", "list", "watch"],
        "Directories are read-only"
    );
    // Opt-in cluster-wide Secrets.
    let wide = render(&["rbac.clusterWideSecrets=true"]);
    let secrets = find(&wide, "ClusterRole", "rel-scim-operator-secrets");
    assert_eq!(strings(&secrets["rules"][0]["resources"]), ["secrets"]);
}

#[test]
fn secret_roles_per_namespace_and_name() {
    let objects = render(&[
        "rbac.secretNamespaces={team-a,team-b}",
        "rbac.secretNames={entra-token}",
    ]);
    let roles = of_kind(&objects, "Role");
    let secret_roles: Vec<&&Value> = roles
        .iter()
        .filter(|r| r["metadata"]["name"].as_str() == Some("rel-scim-operator-secrets"))
        .collect();
    let namespaces: Vec<&str> = secret_roles
        .iter()
        .map(|r| r["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, ["team-a", "team-b"]);
    for role in &secret_roles {
        assert_eq!(strings(&role["rules"][0]["resourceNames"]), ["entra-token"]);
    }
    let bindings = of_kind(&objects, "RoleBinding");
    assert_eq!(
        bindings
            .iter()
            .filter(|b| b["roleRef"]["name"].as_str() == Some("rel-scim-operator-secrets"))
            .count(),
        2
    );
    // The chart's own Directory Secret is readable without listing the release namespace.
    let own = render(&["directory.create=true", "directory.token=t"]);
    let role = own
        .iter()
        .find(|o| {
            o["kind"].as_str() == Some("Role") && o["metadata"]["name"].as_str() == Some("rel-scim-operator-secrets")
        })
        .expect("secret role for the chart's Directory");
    assert_eq!(role["metadata"]["namespace"].as_str(), Some("ops"));
    assert_eq!(strings(&role["rules"][0]["resourceNames"]), ["entra-token"]);
    // Token hashes need no Secret access at all.
    let hashes = render(&[
        "directory.create=true",
        &format!("directory.tokenHashes={{sha256:{}}}", "0".repeat(64)),
    ]);
    assert!(of_kind(&hashes, "Secret").is_empty());
    assert!(
        rules(&hashes)
            .iter()
            .all(|(_, _, r)| !strings(&r["resources"]).contains(&"secrets".to_string()))
    );
}

#[test]
fn optional_parts_render() {
    let objects = render(ALL_ON);
    let ingress = find(&objects, "Ingress", "rel-scim-operator");
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"].as_str(), Some("scim.example.org"));
    assert_eq!(rule["http"]["paths"][0]["path"].as_str(), Some("/scim/v2"));
    assert_eq!(ingress["spec"]["tls"][0]["secretName"].as_str(), Some("scim-tls"));
    let monitor = find(&objects, "ServiceMonitor", "rel-scim-operator");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"].as_str(), Some("metrics"));
    find(&objects, "NetworkPolicy", "rel-scim-operator");
    assert_eq!(
        find(&objects, "PodDisruptionBudget", "rel-scim-operator")["spec"]["minAvailable"].as_i64(),
        Some(1)
    );
    let directory = find(&objects, "Directory", "entra");
    assert_eq!(directory["spec"]["conflictPolicy"].as_str(), Some("Deny"));
    assert_eq!(
        directory["spec"]["tokenSecretRef"]["name"].as_str(),
        Some("entra-token")
    );
    assert_eq!(
        directory["metadata"]["annotations"]["helm.sh/resource-policy"].as_str(),
        Some("keep")
    );
    // Without the CRDs served (a first install), the Directory waits for the next upgrade.
    let first_install = template_with("rel", "ops", ALL_ON, &[]).unwrap();
    assert!(of_kind(&super::chart::objects(&first_install), "Directory").is_empty());
    let secret = find(&objects, "Secret", "entra-token");
    assert_eq!(secret["stringData"]["token"].as_str(), Some("s3cret-token"));
    // Native RBAC: namespaces and RoleBindings, and `bind` on exactly the configured ClusterRoles.
    let native = find(&objects, "ClusterRole", "rel-scim-operator-native-rbac");
    let bind = native["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| strings(&r["verbs"]) == ["bind"])
        .expect("bind rule");
    assert_eq!(strings(&bind["resources"]), ["clusterroles"]);
    assert_eq!(strings(&bind["resourceNames"]), ["admin", "edit", "view"]);
    assert!(
        of_kind(&render(&[]), "ClusterRole")
            .iter()
            .all(|r| !r["metadata"]["name"].as_str().unwrap().ends_with("native-rbac"))
    );
}

/// `externalUrl`, else `https://<ingress.host>` with the Ingress, else unset (relative URLs).
#[test]
fn external_url_defaults_from_the_ingress_host() {
    let external_url = |sets: &[&str]| -> Option<String> {
        let objects = render(sets);
        let deployment = find(&objects, "Deployment", "rel-scim-operator");
        let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap();
        env.iter()
            .find(|e| e["name"].as_str() == Some("SCIM_EXTERNAL_URL"))
            .map(|e| e["value"].as_str().unwrap().to_string())
    };
    assert_eq!(external_url(&[]), None);
    assert_eq!(external_url(ALL_ON).as_deref(), Some("https://scim.example.org"));
    let mut explicit = ALL_ON.to_vec();
    explicit.push("externalUrl=https://idp.example.net/prefix");
    assert_eq!(
        external_url(&explicit).as_deref(),
        Some("https://idp.example.net/prefix")
    );
    assert!(template_with("rel", "ops", &["externalUrl=scim.example.org"], &[]).is_err());
}

#[test]
fn schema_rejects_bad_values() {
    for (set, message) in [
        ("replicaCount=two", "/replicaCount"),
        ("directory.conflictPolicy=Sometimes", "/directory/conflictPolicy"),
        (
            "directory.workspaceDeletionPolicy=Purge",
            "/directory/workspaceDeletionPolicy",
        ),
        ("directory.name=Not_A_Name", "/directory/name"),
        ("directory.tokenHashes={md5:abc}", "/directory/tokenHashes/0"),
        ("replicaCont=2", "replicaCont"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("service.port=70000", "/service/port"),
        ("config.logFormat=xml", "/config/logFormat"),
        (
            "metrics.prometheusRule.runbookBaseUrl=wiki/runbooks",
            "/metrics/prometheusRule/runbookBaseUrl",
        ),
    ] {
        let error = template("rel", "ops", &[set]).expect_err(set);
        assert!(error.contains(message), "{set}: {error}");
    }
    // Checks the schema cannot express.
    let error = template("rel", "ops", &["directory.create=true"]).expect_err("no token");
    assert!(error.contains("directory.create needs"), "{error}");
    let error = template(
        "rel",
        "ops",
        &[
            "directory.create=true",
            "directory.token=t",
            "directory.nativeRbac.namespacePrefix=ws-",
        ],
    )
    .expect_err("native RBAC without permissions");
    assert!(error.contains("nativeRbac.enabled"), "{error}");
}
