#!/usr/bin/env bash
# Runs promtool (checks and unit-tests the chart's PrometheusRule), built from the Go module proxy
# into the same cache as hack/controlplane.sh. Prometheus 3.x publishes its Go module as
# v0.3xx.y (3.16.0 is v0.316.0). `remove_all_sd` leaves out the cloud service-discovery plugins,
# which promtool's rule commands never use and which are most of the build.
set -euo pipefail
cd "$(dirname "$0")/.."

PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-3.16.0}
CACHE_ROOT=${SCIM_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scim-operator}
BIN="$CACHE_ROOT/tools/prometheus-$PROMETHEUS_VERSION"
MODULE_VERSION="v0.$((10#${PROMETHEUS_VERSION%%.*} * 100 + 10#$(cut -d. -f2 <<<"$PROMETHEUS_VERSION"))).${PROMETHEUS_VERSION##*.}"

if [[ ! -x "$BIN/promtool" ]]; then
  echo "promtool: building $PROMETHEUS_VERSION (module $MODULE_VERSION)" >&2
  CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local GOBIN="$BIN" \
    go install -tags remove_all_sd "github.com/prometheus/prometheus/cmd/promtool@$MODULE_VERSION" >&2
fi
exec "$BIN/promtool" "$@"
