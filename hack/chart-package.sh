#!/usr/bin/env bash
# Packages charts/scim-operator for release after checking that its versions follow the crate's:
# Chart.yaml `version` and `appVersion` equal Cargo.toml's version, and so does the tag when one is
# given. `--repository` sets the image repository the packaged chart defaults to (the release
# workflow passes ghcr.io/<owner>/scim-operator, so the defaults pull the image it pushed).
#
# Usage: hack/chart-package.sh [--repository REPO] [--tag vX.Y.Z]
# Prints the .tgz path on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

repository="" tag=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --repository) repository=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    *) echo "usage: hack/chart-package.sh [--repository REPO] [--tag vX.Y.Z]" >&2; exit 2 ;;
  esac
done

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
chart_version=$(sed -n 's/^version: *//p' charts/scim-operator/Chart.yaml)
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/scim-operator/Chart.yaml)
fail() { echo "chart-package: $*" >&2; exit 1; }
[[ $chart_version == "$version" ]] || fail "Chart.yaml version $chart_version != Cargo.toml version $version"
[[ $app_version == "$version" ]] || fail "Chart.yaml appVersion $app_version != Cargo.toml version $version"
[[ -z $tag || $tag == "v$version" ]] || fail "tag $tag != v$version (Cargo.toml)"

helm=helm
command -v helm >/dev/null || helm="${SCIM_OPERATOR_CONTROLPLANE:-$(hack/controlplane.sh)}/helm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r charts/scim-operator "$work/"
if [[ -n $repository ]]; then
  sed -i "s#^  repository: .*#  repository: $repository#" "$work/scim-operator/values.yaml"
  grep -q "^  repository: $repository\$" "$work/scim-operator/values.yaml" || fail "image.repository not set"
fi
out=target/chart
mkdir -p "$out"
"$helm" lint --strict "$work/scim-operator" >&2
"$helm" package "$work/scim-operator" --destination "$out" >&2
echo "$PWD/$out/scim-operator-$version.tgz"
