#!/usr/bin/env bash
# Regenerates charts/scim-operator/templates/crds/ from crds/ (which `scim-operator crd --write crds`
# generates from the Rust types). tests/helm fails when the chart's copies are stale.
#
# The chart templates its CRDs instead of shipping them in the chart's crds/ folder: Helm installs
# crds/ once and never upgrades them, so a new field would never reach the cluster. Each template is
# gated by `crds.install` and by who owns the live CRD (see "scim-operator.renderCrd"), and annotated `helm.sh/resource-policy: keep` (uninstall keeps the CRDs and
# with them every User, Group, Workspace and RoleBinding).
set -euo pipefail
cd "$(dirname "$0")/.."
out=charts/scim-operator/templates/crds
rm -f "$out"/*.yaml
for src in crds/*.yaml; do
  name=$(basename "$src")
  base=${name%.yaml}
  crd="${base#*_}.${base%%_*}"  # scim-operator.io_users.yaml → users.scim-operator.io
  {
    echo "{{- if include \"scim-operator.renderCrd\" (list . \"$crd\") }}"
    echo "# Generated from crds/$name by hack/chart-crds.sh; do not edit."
    # Drop the source's own header comment; add the keep policy and the chart's labels.
    grep -v '^# Generated' "$src" | sed '/^metadata:$/a\
  annotations:\
    helm.sh/resource-policy: keep\
  labels:\
    {{- include "scim-operator.labels" . | nindent 4 }}'
    echo "{{- end }}"
  } > "$out/$name"
done
