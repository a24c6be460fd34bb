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

# Jobs in the background, each in its own process group (killed if this script exits early) with
# its output in $work/<name>. The Go builds (control plane, then the node daemons; cached, so a
# no-op after the first run) run beside the Rust builds; clippy and the fuzz build run at nice 19,
# so they take only the CPU the other steps leave idle (downloads, links, tests waiting on the API
# server). On two cores a first run is bound by CPU: idle time is the only time to be had.
work=$(mktemp -d)
declare -A jobs=()
# shellcheck disable=SC2154 # group is the loop's variable
trap 'for group in "${jobs[@]}"; do kill -- -"$group" 2>/dev/null; done; rm -rf "$work"' EXIT
start_job() {  # NAME COMMAND...
  local name=$1
  shift
  setsid "$@" > "$work/$name" 2>&1 &
  jobs[$name]=$!
}
await_job() {  # NAME: waits for it; on failure shows its output and stops the run
  local name=$1 status=0
  wait "${jobs[$name]}" || status=$?
  unset "jobs[$name]"
  if [[ $status != 0 ]]; then
    echo "$name failed:" >&2
    cat "$work/$name" >&2
    exit "$status"
  fi
}

# rustup installs the pinned toolchain (rust-toolchain.toml) on first use: once, before any job.
cargo --version
# Everything is built for the static musl target, as the image is: the image's binary (a dev
# build, stripped) and the tests then share one build of every dependency. On two cores that
# one build fewer is a quarter of a first run; the release image is built the same way by
# `hack/image.sh` (.github/workflows/release.yml), at the release profile.
# shellcheck source=hack/lib/musl.sh
source hack/lib/musl.sh
export CARGO_BUILD_TARGET=$MUSL_TARGET
step "in the background: the control plane and node daemons (hack/controlplane.sh, hack/node.sh build)"
# shellcheck disable=SC2016 # expanded by the inner shell
start_job go-builds bash -c 'hack/controlplane.sh > "$1/controlplane" && hack/node.sh build > "$1/node"' _ "$work"
step "in the background at nice 19: cargo clippy, the fuzz targets' build (hack/fuzz.sh --build)"
# Clippy in its own target dir: cargo builds one command at a time per target dir and profile.
start_job clippy nice -n 19 env CARGO_TARGET_DIR="$CARGO_TARGET_DIR-clippy" \
  cargo clippy --all-targets --locked -- -D warnings
start_job fuzz-build nice -n 19 hack/fuzz.sh --build

step "Lua with lua-cjson (tests/argocd.rs runs the Argo CD health checks)"
if ! lua5.1 -e "require('cjson')" 2>/dev/null; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq lua5.1 lua-cjson >/dev/null
  else
    echo "install lua5.1 and lua-cjson (Debian: apt-get install lua5.1 lua-cjson)" >&2
    exit 1
  fi
fi

step "workflows (hack/actionlint.sh), the container image (hack/image.sh)"
hack/actionlint.sh
SCIM_OPERATOR_IMAGE=$(hack/image.sh --profile dev)  # tests/helm/image.rs checks it
export SCIM_OPERATOR_IMAGE

step "alerts: promtool check rules and promtool test rules (hack/promtool.sh)"
hack/promtool.sh check rules charts/scim-operator/files/prometheus-rules.yaml
hack/promtool.sh test rules tests/prometheus/rules_test.yaml

step "cargo fmt --check"
cargo fmt --all -- --check

step "waiting for the control plane and the node (kube-apiserver, etcd, kubectl, helm; kubelet, ...)"
await_job go-builds
SCIM_OPERATOR_CONTROLPLANE=$(cat "$work/controlplane")
SCIM_OPERATOR_NODE=$(cat "$work/node")
export SCIM_OPERATOR_CONTROLPLANE SCIM_OPERATOR_NODE
"$SCIM_OPERATOR_CONTROLPLANE/kube-apiserver" --version
"$SCIM_OPERATOR_CONTROLPLANE/etcd" --version | sed -n 1p  # sed, not head: no SIGPIPE under pipefail
hack/chart-package.sh >/dev/null

step "cargo test (unit + integration)"
cargo test --all-targets --locked

# Fuzzing is bounded in time, not work, and takes one core: it runs beside the vendor suites and
# the dashboard check, which mostly wait on a dev server.
step "in the background: fuzzing (hack/fuzz.sh, 60 s per target), once its build is done"
await_job fuzz-build
tail -n 1 "$work/fuzz-build"
start_job fuzz env FUZZ_SECONDS="${FUZZ_SECONDS:-60}" hack/fuzz.sh

step "vendor SCIM suites: Microsoft's Postman collection (newman), Okta's Runscope tests"
hack/vendor-suites.sh
step "dashboard: every query returns data from Prometheus scraping a loaded operator"
DASHBOARD_PNG='' hack/dashboard-check.sh 60

step "waiting for cargo clippy and fuzzing"
await_job clippy
tail -n 1 "$work/clippy"
await_job fuzz
sed -n '/^==> fuzz summary/,$p' "$work/fuzz"

step "scim-bench (2,000 users; reports numbers, fails only on functional errors)"
BENCH_PROFILE=dev hack/bench.sh --users 2000 --groups 20 --workspaces 5 --members-per-group 20
step "done"
