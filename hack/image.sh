#!/usr/bin/env bash
# Builds the scim-operator container image without a Docker daemon: a static musl binary
# (cargo, incremental in its target dir) packed into a `docker save`-style tar that `docker load`,
# `podman load` and `ctr -n k8s.io images import` all read. The image is the one the Dockerfile
# builds: the same file layout, user, entrypoint, ports and labels (tests/helm/image.rs compares).
#
# Usage: hack/image.sh [--tag REPOSITORY:TAG] [--profile release|dev]
# Prints the tar's path on stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "image: $*" >&2; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
repository=${IMAGE_REPOSITORY:-ghcr.io/scim-operator/scim-operator}
tag="$repository:$version"
profile=release
while [[ $# -gt 0 ]]; do
  case $1 in
    --tag) tag=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    *) echo "usage: hack/image.sh [--tag REPOSITORY:TAG] [--profile release|dev]" >&2; exit 2 ;;
  esac
done

case $(uname -m) in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "image: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

# --- the static binary: the musl target (cargo's own cache makes a rebuild incremental) -------
# shellcheck source=hack/lib/musl.sh
source hack/lib/musl.sh
target=$MUSL_TARGET
log "cargo build --profile $profile --target $target"
CARGO_PROFILE_RELEASE_STRIP=symbols \
  cargo build --locked --profile "$profile" --target "$target" --bin scim-operator >&2
# shellcheck source=hack/lib/cargo-out.sh
source hack/lib/cargo-out.sh
binary="$(cargo_out "$profile" "$target")/scim-operator"
# A scratch image has no loader: the binary must have no ELF interpreter.
if command -v readelf >/dev/null && readelf -l "$binary" | grep -q INTERP; then
  echo "image: $binary is dynamically linked" >&2
  exit 1
fi

# --- the image: one layer, written reproducibly (fixed owner, order and mtime) -----------------
out="target/image/$arch"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
source_url=${IMAGE_SOURCE:-https://github.com/scim-operator/scim-operator}

mkdir -p "$work/rootfs/usr/local/bin" "$work/rootfs/tmp" "$out"
# The release profile strips the binary as it links (above); other profiles' binaries keep their
# line tables in the cache for the tests' backtraces and are stripped as they are copied here.
if [[ $profile == release ]]; then
  install -m 0755 "$binary" "$work/rootfs/usr/local/bin/scim-operator"
else
  strip --strip-all -o "$work/rootfs/usr/local/bin/scim-operator" "$binary"
  chmod 0755 "$work/rootfs/usr/local/bin/scim-operator"
fi
chmod 1777 "$work/rootfs/tmp"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$work/rootfs" -cf "$work/layer.tar" usr tmp
layer_sha=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)

# Keep in step with the Dockerfile's USER, ENTRYPOINT, CMD, EXPOSE and LABEL.
cat > "$work/config.json" <<JSON
{"architecture":"$arch","os":"linux","created":"$created",
"config":{"User":"65532:65532","Entrypoint":["/usr/local/bin/scim-operator"],"Cmd":["serve"],
"ExposedPorts":{"8080/tcp":{},"9090/tcp":{}},"WorkingDir":"/",
"Labels":{"org.opencontainers.image.title":"scim-operator",
"org.opencontainers.image.description":"SCIM 2.0 endpoint for Kubernetes",
"org.opencontainers.image.licenses":"Apache-2.0",
"org.opencontainers.image.source":"$source_url",
"org.opencontainers.image.version":"$version",
"org.opencontainers.image.revision":"$revision"}},
"rootfs":{"type":"layers","diff_ids":["sha256:$layer_sha"]},
"history":[{"created":"$created","created_by":"hack/image.sh: static $target binary, $profile profile"}]}
JSON
config_sha=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mkdir -p "$work/image/$layer_sha"
mv "$work/layer.tar" "$work/image/$layer_sha/layer.tar"
mv "$work/config.json" "$work/image/$config_sha.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' \
  "$config_sha" "$tag" "$layer_sha" > "$work/image/manifest.json"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
  -C "$work/image" -cf "$work/image.tar" manifest.json "$config_sha.json" "$layer_sha"
mv "$work/image.tar" "$out/scim-operator.tar"
log "$tag ($arch, $(du -h "$out/scim-operator.tar" | cut -f1))"
echo "$PWD/$out/scim-operator.tar"
