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
# shellcheck source=hack/lib/k8s-module.sh
source "$(dirname "$0")/lib/k8s-module.sh"

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
if [[ ! -x "$BIN/kube-apiserver" || ! -x "$BIN/kubectl" ]]; then
  log "building kube-apiserver and kubectl v$K8S_VERSION (first build takes a while on 2 cores)"
  mkdir -p "$work/k8s" && cd "$work/k8s"
  k8s_module kube-apiserver kubectl
  k8s_build "$BIN/" kube-apiserver kubectl
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
