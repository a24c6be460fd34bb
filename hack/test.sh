#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit tests, integration tests against a real
# kube-apiserver + etcd (built once from the Go module proxy and cached; see hack/controlplane.sh),
# end-to-end tests on a real node (hack/node.sh; tests/e2e), the vendors' SCIM suites, the chart's
# alerts (promtool) and dashboard queries (a real Prometheus), and the fuzz targets (hack/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step is stamped with the time since the start, so a run shows where its minutes go.
step() { printf '==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# Cargo's build cache lives outside the checkout, like the control plane, so a fresh clone on a
# machine that ran this before rebuilds only this crate (set CARGO_TARGET_DIR to override).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${SCIM_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scim-operator}/target}

step "control plane (kube-apiserver, etcd, kubectl, helm)"
SCIM_OPERATOR_CONTROLPLANE=$(hack/controlplane.sh)
export SCIM_OPERATOR_CONTROLPLANE
"$SCIM_OPERATOR_CONTROLPLANE/kube-apiserver" --version
"$SCIM_OPERATOR_CONTROLPLANE/etcd" --version | sed -n 1p  # sed, not head: no SIGPIPE under pipefail

step "Lua with lua-cjson (tests/argocd.rs runs the Argo CD health checks)"
if ! lua5.1 -e "require('cjson')" 2>/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua5.1 lua-cjson >/dev/null
  else
    echo "install lua5.1 and lua-cjson (Debian: apt-get install lua5.1 lua-cjson)" >&2
    exit 1
  fi
fi

step "workflows (hack/actionlint.sh), the container image (hack/image.sh), the chart package"
hack/actionlint.sh
SCIM_OPERATOR_IMAGE=$(hack/image.sh)  # tests/helm/image.rs checks it
export SCIM_OPERATOR_IMAGE
hack/chart-package.sh >/dev/null

step "a real node (kubelet, kube-proxy, scheduler, controller-manager, containerd; tests/e2e)"
SCIM_OPERATOR_NODE=$(hack/node.sh build)
export SCIM_OPERATOR_NODE
step "alerts: promtool check rules and promtool test rules (hack/promtool.sh)"
hack/promtool.sh check rules charts/scim-operator/files/prometheus-rules.yaml
hack/promtool.sh test rules tests/prometheus/rules_test.yaml

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (unit + integration)"
cargo test --all-targets --locked

step "vendor SCIM suites: Microsoft's Postman collection (newman), Okta's Runscope tests"
hack/vendor-suites.sh
step "dashboard: every query returns data from Prometheus scraping a loaded operator"
DASHBOARD_PNG= hack/dashboard-check.sh 60

step "fuzz (60 s per target)"
FUZZ_SECONDS=${FUZZ_SECONDS:-60} hack/fuzz.sh

step "scim-bench (2,000 users; reports numbers, fails only on functional errors)"
BENCH_PROFILE=dev hack/bench.sh --users 2000 --groups 20 --workspaces 5 --members-per-group 20
step "done"
