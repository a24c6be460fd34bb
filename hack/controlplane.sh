#!/usr/bin/env bash
# Builds the real Kubernetes control plane used by tests and the local run:
# kube-apiserver + kubectl (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3) and helm,
# all from the Go module proxy, pinned, cached outside the repo and reused when present.
#
# Prints the bin directory on stdout; progress goes to stderr.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
HELM_VERSION=${HELM_VERSION:-3.22.0}

CACHE_ROOT=${SCIM_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scim-operator}
BIN="$CACHE_ROOT/controlplane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION"
export CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local

log() { echo "controlplane: $*" >&2; }

if [[ -x "$BIN/kube-apiserver" && -x "$BIN/kubectl" && -x "$BIN/etcd" && -x "$BIN/helm" ]]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$BIN"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

# --- kube-apiserver and kubectl -------------------------------------------------------------
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with local paths at v0.0.0.
# A module of ours requires it and points each staging module at its published v0.x release.
if [[ ! -x "$BIN/kube-apiserver" || ! -x "$BIN/kubectl" ]]; then
  log "building kube-apiserver and kubectl v$K8S_VERSION (first build takes a while on 2 cores)"
  mkdir -p "$work/k8s" && cd "$work/k8s"
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  staging_version="v0.${K8S_VERSION#1.}"
  {
    echo "module scim-operator.io/controlplane/k8s"
    echo "go 1.25"
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 '"$staging_version"'#p' "$gomod"
  } > go.mod
  # The blank imports keep the commands' packages in the module graph for `go mod tidy`.
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy >&2
  ver="-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION"
  ver+=" -X k8s.io/component-base/version.gitMajor=${K8S_VERSION%%.*}"
  minor=${K8S_VERSION#*.}; ver+=" -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
  ver+=" -X k8s.io/component-base/version.gitTreeState=clean"
  ver+=" -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
  go build -ldflags "-s -w $ver" -o "$BIN/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl >&2
fi

# --- etcd -----------------------------------------------------------------------------------
# etcd's own go.mod also uses local replaces, so a two-line main that calls etcdmain.Main.
if [[ ! -x "$BIN/etcd" ]]; then
  log "building etcd v$ETCD_VERSION"
  mkdir -p "$work/etcd" && cd "$work/etcd"
  cat > go.mod <<GO
module scim-operator.io/controlplane/etcd
go 1.25
require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
GO
  cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go mod tidy >&2
  go build -ldflags "-s -w" -o "$BIN/etcd" . >&2
fi

# --- helm -----------------------------------------------------------------------------------
if [[ ! -x "$BIN/helm" ]]; then
  log "building helm v$HELM_VERSION"
  mkdir -p "$work/helm" && cd "$work/helm"
  cat > go.mod <<GO
module scim-operator.io/controlplane/helm
go 1.25
require helm.sh/helm/v3 v$HELM_VERSION
GO
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "helm.sh/helm/v3/cmd/helm"
GO
  go mod tidy >&2
  go build -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" -o "$BIN/helm" helm.sh/helm/v3/cmd/helm >&2
fi

log "control plane ready in $BIN ($(( $(date +%s) - start ))s)"
echo "$BIN"
