#!/usr/bin/env bash
# Evaluates every query of the chart's Grafana dashboard with a real Prometheus scraping a running
# operator under provisioning load, fails if any returns no data, and plots the panels from those
# results into docs/dashboard.png (with matplotlib; Debian: python3-matplotlib).
#
#   hack/dashboard-check.sh [LOAD_SECONDS]      # default 120
#   DASHBOARD_PNG= hack/dashboard-check.sh 60    # check only, no picture (what hack/test.sh runs)
#
# Starts `scim-operator dev` (its own control plane, CRDs and demo directory; a small per-directory
# in-flight limit so that bursts meet 429s) and Prometheus (hack/prometheus.sh) scraping /metrics
# every 2 s, runs hack/dashboard_check.py's load, then its queries over the run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-120}
png=${DASHBOARD_PNG-docs/dashboard.png}
py=python3
if [[ -n $png ]]; then
  # The plot needs matplotlib; Debian's python3-matplotlib is for the system python3.
  "$py" -c 'import matplotlib' 2>/dev/null || py=/usr/bin/python3
fi
SCIM_OPERATOR_CONTROLPLANE=${SCIM_OPERATOR_CONTROLPLANE:-$(hack/controlplane.sh)}
export SCIM_OPERATOR_CONTROLPLANE
hack/prometheus.sh --version >/dev/null   # build it first, if need be
cargo build --locked --bin scim-operator
# shellcheck source=hack/lib/cargo-out.sh
source hack/lib/cargo-out.sh
target=$(cargo_out dev)

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
scim_port=$(port) probe_port=$(port) prom_port=$(port)

"$target/scim-operator" dev --state-dir "$work/dev" --listen "127.0.0.1:$scim_port" \
  --probe-listen "127.0.0.1:$probe_port" --max-in-flight-per-directory 2 >"$work/dev.log" 2>&1 &
pids+=($!)
cat >"$work/prometheus.yml" <<YAML
global: {scrape_interval: 2s, evaluation_interval: 2s}
scrape_configs:
  - job_name: scim-operator
    static_configs: [{targets: ["127.0.0.1:$probe_port"]}]
YAML
hack/prometheus.sh --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 600); do
  [[ -s $work/dev/connection.json ]] && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/dev.log" >&2; exit 1; }
  sleep 0.5
done
[[ -s $work/dev/connection.json ]] || { echo "scim-operator dev never became ready" >&2; exit 1; }

start=$(date +%s)
"$py" hack/dashboard_check.py load "$work/dev/connection.json" "$seconds"
end=$(date +%s)
"$py" hack/dashboard_check.py query "http://127.0.0.1:$prom_port" charts/scim-operator/files/dashboard.json \
  "$start" "$end" "$work/results.json" ${png:+"$png"}
