#!/usr/bin/env bash
# Runs Prometheus, or with `--tool promtool` promtool (hack/promtool.sh), built together from the
# Go module proxy into the same cache as hack/controlplane.sh. hack/dashboard-check.sh scrapes a
# loaded operator with Prometheus; hack/test.sh checks and unit-tests the chart's rules with
# promtool. Prometheus 3.x publishes its Go module as v0.3xx.y (3.16.0 is v0.316.0).
# `remove_all_sd` leaves out the cloud service discovery (most of the build; static targets and
# the rule commands remain). Without `builtinassets` the web UI is not embedded; the HTTP API,
# which is all the check uses, is.
set -euo pipefail
cd "$(dirname "$0")/.."

tool=prometheus
if [[ ${1:-} == --tool ]]; then tool=$2; shift 2; fi
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-3.16.0}
CACHE_ROOT=${SCIM_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scim-operator}
BIN="$CACHE_ROOT/tools/prometheus-$PROMETHEUS_VERSION"
MODULE_VERSION="v0.$((10#${PROMETHEUS_VERSION%%.*} * 100 + 10#$(cut -d. -f2 <<<"$PROMETHEUS_VERSION"))).${PROMETHEUS_VERSION##*.}"

if [[ ! -x "$BIN/prometheus" || ! -x "$BIN/promtool" ]]; then
  echo "prometheus: building prometheus and promtool $PROMETHEUS_VERSION (module $MODULE_VERSION)" >&2
  CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local GOBIN="$BIN" go install -tags remove_all_sd \
    "github.com/prometheus/prometheus/cmd/prometheus@$MODULE_VERSION" \
    "github.com/prometheus/prometheus/cmd/promtool@$MODULE_VERSION" >&2
fi
exec "$BIN/$tool" "$@"
