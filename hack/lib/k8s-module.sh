# Sourced by hack/controlplane.sh and hack/node.sh: a Go module in the current directory that
# builds commands of k8s.io/kubernetes at $K8S_VERSION. Both scripts generate the same go.mod
# and build with the same flags, so the node's build reuses the control plane's Go build cache.
#
#   k8s_module kube-apiserver kubectl     writes go.mod + tools.go, runs go mod tidy
#   k8s_build "$BIN/" kube-apiserver ...  builds those commands with version stamps
#
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with local paths at v0.0.0;
# the generated module points each of them at its published v0.x release instead.

export CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local

k8s_module_dir() {
  go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'
}

k8s_module() {
  local gomod staging_version="v0.${K8S_VERSION#1.}" cmd
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module scim-operator.io/controlplane/k8s"
    echo "go 1.25"
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 '"$staging_version"'#p' "$gomod"
  } > go.mod
  # Blank imports keep the commands' packages in the module graph for `go mod tidy` (every
  # command built must be imported before tidying, or go.sum lacks their dependencies).
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for cmd in "$@"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$cmd"; done
    printf ')\n'
  } > tools.go
  go mod tidy >&2
}

k8s_build() {
  local out=$1 minor=${K8S_VERSION#*.} ver cmd pkgs=()
  shift
  ver="-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION"
  ver+=" -X k8s.io/component-base/version.gitMajor=${K8S_VERSION%%.*}"
  ver+=" -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
  ver+=" -X k8s.io/component-base/version.gitTreeState=clean"
  ver+=" -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
  for cmd in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  go build -ldflags "-s -w $ver" -o "$out" "${pkgs[@]}" >&2
}
