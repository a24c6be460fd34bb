#!/usr/bin/env bash
# Runs Prometheus, or with `--tool promtool` promtool (hack/promtool.sh), from Debian's
# `prometheus` package: hack/dashboard-check.sh scrapes a loaded operator with Prometheus and
# hack/test.sh checks and unit-tests the chart's rules with promtool.
#
# The package is downloaded and unpacked into the cache (like hack/controlplane.sh's builds),
# not installed: installing would start a system service and pull in its web console's
# JavaScript. Both programs are static Go binaries. Building Prometheus 3.x from the Go module
# proxy instead costs 10–20 minutes of a fresh machine's first run; the rules and queries use
# nothing newer than the packaged release (2.42 on Debian 12), so they also hold on 3.x.
set -euo pipefail

tool=prometheus
if [[ ${1:-} == --tool ]]; then tool=$2; shift 2; fi
CACHE_ROOT=${SCIM_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scim-operator}
BIN="$CACHE_ROOT/tools/prometheus-debian"

if [[ ! -x "$BIN/prometheus" || ! -x "$BIN/promtool" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "prometheus: downloading Debian's prometheus package" >&2
  if ! (cd "$work" && apt-get download prometheus >&2 2>/dev/null); then
    [[ $(id -u) == 0 ]] && apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
    (cd "$work" && apt-get download prometheus >&2)
  fi
  deb=("$work"/prometheus_*.deb)
  dpkg-deb -x "${deb[0]}" "$work/root"
  mkdir -p "$BIN"
  install -m 0755 "$work/root/usr/bin/prometheus" "$work/root/usr/bin/promtool" "$BIN/"
  echo "prometheus: $(dpkg-deb -f "${deb[0]}" Version) in $BIN" >&2
fi
exec "$BIN/$tool" "$@"
