#!/usr/bin/env bash
# The SPEC §7 benchmark in one command: builds scim-operator and scim-bench (release unless
# BENCH_PROFILE=dev) for the static musl target the image ships (unless CARGO_BUILD_TARGET says
# otherwise), copies both to a private directory (a shared CARGO_TARGET_DIR may be rebuilt by
# someone else mid-run), and runs scim-bench with the given arguments.
#
#   hack/bench.sh                                   # full scale: 50,000 users, 500 groups
#   hack/bench.sh --users 2000 --groups 20 --workspaces 5 --members-per-group 20
#
# Needs the control plane binaries (hack/controlplane.sh builds them on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${BENCH_PROFILE:-release}
SCIM_OPERATOR_CONTROLPLANE=${SCIM_OPERATOR_CONTROLPLANE:-$(hack/controlplane.sh)}
export SCIM_OPERATOR_CONTROLPLANE

if [[ -z ${CARGO_BUILD_TARGET:-} ]]; then
  # shellcheck source=hack/lib/musl.sh
  source hack/lib/musl.sh
  export CARGO_BUILD_TARGET=$MUSL_TARGET
fi
if [[ $profile == release ]]; then
  cargo build --release --locked --bin scim-operator --bin scim-bench
else
  cargo build --locked --bin scim-operator --bin scim-bench
fi
# shellcheck source=hack/lib/cargo-out.sh
source hack/lib/cargo-out.sh
target=$(cargo_out "$profile")
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cp "$target/scim-operator" "$target/scim-bench" "$bin/"
"$bin/scim-bench" --operator-bin "$bin/scim-operator" "$@"
