#!/usr/bin/env bash
# Runs promtool (checks and unit-tests the chart's PrometheusRule); built by hack/prometheus.sh.
exec "$(dirname "$0")/prometheus.sh" --tool promtool "$@"
