#!/usr/bin/env bash
# Lints .github/workflows with actionlint, built from the Go module proxy into the same cache as
# hack/controlplane.sh (nothing here can reach GitHub, so this is how the workflows are checked).
set -euo pipefail
cd "$(dirname "$0")/.."

ACTIONLINT_VERSION=${ACTIONLINT_VERSION:-1.7.12}
CACHE_ROOT=${SCIM_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scim-operator}
BIN="$CACHE_ROOT/tools/actionlint-$ACTIONLINT_VERSION"

if [[ ! -x "$BIN/actionlint" ]]; then
  echo "actionlint: building v$ACTIONLINT_VERSION" >&2
  CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local GOBIN="$BIN" \
    go install "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION" >&2
fi
# When installed, shellcheck also checks the workflows' run: scripts.
exec "$BIN/actionlint" -no-color "$@"
