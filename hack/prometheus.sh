#!/usr/bin/env bash
# Runs Prometheus (hack/dashboard-check.sh scrapes a loaded operator with it and evaluates every
# dashboard query), built from the Go module proxy into the same cache as hack/promtool.sh, at the
# same version. `remove_all_sd` leaves out the cloud service discovery; static targets remain.
# Without the `builtinassets` tag the web UI is not embedded; the HTTP API, which is all the
# check uses, is.
set -euo pipefail
cd "$(dirname "$0")/.."

PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-3.16.0}
CACHE_ROOT=${SCIM_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scim-operator}
BIN="$CACHE_ROOT/tools/prometheus-$PROMETHEUS_VERSION"
MODULE_VERSION="v0.$((10#${PROMETHEUS_VERSION%%.*} * 100 + 10#$(cut -d. -f2 <<<"$PROMETHEUS_VERSION"))).${PROMETHEUS_VERSION##*.}"

if [[ ! -x "$BIN/prometheus" ]]; then
  echo "prometheus: building $PROMETHEUS_VERSION (module $MODULE_VERSION)" >&2
  CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local GOBIN="$BIN" \
    go install -tags remove_all_sd "github.com/prometheus/prometheus/cmd/prometheus@$MODULE_VERSION" >&2
fi
exec "$BIN/prometheus" "$@"
