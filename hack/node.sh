#!/usr/bin/env bash
# A real single-node Kubernetes cluster inside namespaces of its own, for end-to-end tests and
# for people. See README.md, "A real node".
#
#   hack/node.sh build            build (once, cached) kubelet, kube-controller-manager,
#                                 kube-scheduler, kube-proxy and the pause image; install
#                                 containerd, runc and the CNI plugins from Debian. Prints the dir.
#   hack/node.sh up RUN [IMG..]   start a node in the background (run directory RUN), wait until
#                                 Ready; `down RUN` ends it and leaves the host as it was.
#   hack/node.sh inside RUN IMG.. (run by `unshare`, never by hand) brings up etcd,
#                                 kube-apiserver, containerd, the node daemons; imports the images
#                                 (docker-archive tars); touches RUN/ready when the node is Ready.
#   hack/node.sh exec RUN CMD..   runs CMD inside the cluster's namespaces (kubectl, helm, ctr...).
#   hack/node.sh stop|start|restart RUN DAEMON   a fault: stop/start one daemon (etcd, apiserver...).
#   hack/node.sh forward RUN PORT ADDR:PORT    127.0.0.1:PORT on the host to ADDR:PORT in the node.
#   hack/node.sh demo [RUN] [PORT]   a node with the chart and a Directory, the Service on
#                                 127.0.0.1:PORT (8080); `cargo run -- dev --cluster` runs it.
#
# Every address lives on interfaces of the node's own network namespace: node 10.200.0.1 (on its
# lo), pods 10.244.0.0/24 (bridge cni0), services 10.96.0.0/24. Nothing is routed off the machine.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
PAUSE_VERSION=3.10.1
CACHE_ROOT=${SCIM_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scim-operator}
NODE_BIN=${NODE_BIN:-$CACHE_ROOT/node/k8s-$K8S_VERSION-pause-$PAUSE_VERSION}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/lib/k8s-module.sh
source "$HERE/lib/k8s-module.sh"

NODE_IP=10.200.0.1
SERVICE_CIDR=10.96.0.0/24
POD_CIDR=10.244.0.0/24
NODE_NAME=node

log() { echo "node: $*" >&2; }

# --- build ------------------------------------------------------------------------------------

# docker_archive NAME:TAG ROOTFS OUT ENTRYPOINT...: a `docker save`-style tar with one layer, as
# `ctr images import` reads it.
docker_archive() {
  local ref=$1 rootfs=$2 out=$3; shift 3
  local tmp; tmp=$(mktemp -d)
  tar -C "$rootfs" --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -cf "$tmp/layer.tar" .
  local layer; layer=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
  mkdir "$tmp/$layer" && mv "$tmp/layer.tar" "$tmp/$layer/layer.tar"
  local entry; entry=$(printf '%s\n' "$@" | jq -R . | jq -sc .)
  jq -nc --argjson e "$entry" --arg l "sha256:$layer" \
    '{architecture:"amd64",os:"linux",config:{Entrypoint:$e},rootfs:{type:"layers",diff_ids:[$l]}}' > "$tmp/config.json"
  local config; config=$(sha256sum "$tmp/config.json" | cut -d' ' -f1)
  mv "$tmp/config.json" "$tmp/$config.json"
  jq -nc --arg c "$config.json" --arg r "$ref" --arg l "$layer/layer.tar" \
    '[{Config:$c,RepoTags:[$r],Layers:[$l]}]' > "$tmp/manifest.json"
  tar -C "$tmp" --numeric-owner --owner=0 --group=0 -cf "$out" manifest.json "$config.json" "$layer"
  rm -rf "$tmp"
}

build() {
  local need=()
  for c in containerd runc ctr iptables conntrack socat nsenter unshare jq openssl; do
    command -v "$c" >/dev/null || need+=("$c")
  done
  [[ -x /usr/lib/cni/bridge ]] || need+=(cni)
  if ((${#need[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      log "installing containerd, runc, CNI plugins (missing: ${need[*]})"
      apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends \
        containerd runc containernetworking-plugins iptables conntrack socat util-linux jq openssl >&2
    else
      log "missing ${need[*]}: install containerd runc containernetworking-plugins iptables conntrack socat (Debian)"
      exit 1
    fi
  fi
  if [[ -x "$NODE_BIN/kubelet" && -x "$NODE_BIN/kube-controller-manager" && -x "$NODE_BIN/kube-scheduler" \
        && -x "$NODE_BIN/kube-proxy" && -s "$NODE_BIN/pause.tar" ]]; then
    echo "$NODE_BIN"
    return
  fi
  mkdir -p "$NODE_BIN"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  local start dir; start=$(date +%s)
  mkdir -p "$work/k8s" && cd "$work/k8s"
  # kube-apiserver and kubectl too: the same module as hack/controlplane.sh's, so its Go build
  # cache is warm. kube-proxy must be imported before `go mod tidy` (github.com/moby/ipvs).
  k8s_module kube-apiserver kube-controller-manager kube-proxy kube-scheduler kubectl kubelet
  dir=$(k8s_module_dir)
  log "building kubelet, kube-controller-manager, kube-scheduler, kube-proxy v$K8S_VERSION"
  k8s_build "$NODE_BIN/" kubelet kube-controller-manager kube-scheduler kube-proxy
  log "building the pause image from $dir/build/pause/linux/pause.c"
  mkdir -p "$work/pause"
  gcc -Os -static -o "$work/pause/pause" "$dir/build/pause/linux/pause.c"
  strip "$work/pause/pause"
  docker_archive "registry.k8s.io/pause:$PAUSE_VERSION" "$work/pause" "$NODE_BIN/pause.tar" /pause
  log "node binaries ready in $NODE_BIN ($(( $(date +%s) - start ))s)"
  echo "$NODE_BIN"
}

# --- inside the namespaces --------------------------------------------------------------------

# cert NAME CN [O] [SANS]: a key and a certificate signed by the cluster CA.
cert() {
  local name=$1 cn=$2 o=${3:-} sans=${4:-}
  local subj="/CN=$cn"; [[ -n $o ]] && subj="/O=$o$subj"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subj" \
    -keyout "$PKI/$name.key" -out "$PKI/$name.csr" 2>/dev/null
  local ext="$PKI/$name.ext"
  if [[ -n $sans ]]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans" > "$ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' > "$ext"
  fi
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 2 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
}

# kubeconfig NAME: a kubeconfig for the client certificate NAME.
kubeconfig() {
  cat > "$RUN/$1.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: node, cluster: {server: "https://$NODE_IP:6443", certificate-authority: "$PKI/ca.crt"}}]
users: [{name: $1, user: {client-certificate: "$PKI/$1.crt", client-key: "$PKI/$1.key"}}]
contexts: [{name: node, context: {cluster: node, user: $1}}]
current-context: node
YAML
}

# The command line of each daemon, kept in a file so that a fault can restart it as it was.
write_commands() {
  mkdir -p "$RUN/cmd" "$RUN/pid" "$RUN/logs"
  cat > "$RUN/cmd/etcd" <<EOF
exec "$CP_BIN/etcd" --data-dir "$RUN/etcd" --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
  --unsafe-no-fsync --quota-backend-bytes=4294967296
EOF
  cat > "$RUN/cmd/apiserver" <<EOF
exec "$CP_BIN/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
  --bind-address $NODE_IP --advertise-address $NODE_IP --secure-port 6443 \
  --service-cluster-ip-range $SERVICE_CIDR --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction \
  --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet.crt" --kubelet-client-key "$PKI/apiserver-kubelet.key" \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$PKI/sa.pub" \
  --service-account-signing-key-file "$PKI/sa.key" --api-audiences https://kubernetes.default.svc
EOF
  cat > "$RUN/cmd/controller-manager" <<EOF
exec "$NODE_BIN/kube-controller-manager" --kubeconfig "$RUN/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$RUN/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$RUN/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt"
EOF
  cat > "$RUN/cmd/scheduler" <<EOF
exec "$NODE_BIN/kube-scheduler" --kubeconfig "$RUN/scheduler.kubeconfig" \
  --authentication-kubeconfig "$RUN/scheduler.kubeconfig" --authorization-kubeconfig "$RUN/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false
EOF
  cat > "$RUN/cmd/containerd" <<EOF
exec containerd --config "$RUN/containerd.toml"
EOF
  cat > "$RUN/cmd/kubelet" <<EOF
exec "$NODE_BIN/kubelet" --config "$RUN/kubelet.yaml" --kubeconfig "$RUN/kubelet.kubeconfig" \
  --hostname-override $NODE_NAME --node-ip $NODE_IP
EOF
  cat > "$RUN/cmd/proxy" <<EOF
exec "$NODE_BIN/kube-proxy" --config "$RUN/kube-proxy.yaml"
EOF
}

# launch DAEMON: start it in the background, log to RUN/logs/DAEMON.log, record its pid.
launch() {
  bash "$RUN/cmd/$1" >> "$RUN/logs/$1.log" 2>&1 &
  echo $! > "$RUN/pid/$1"
}

# wait_for WHAT CMD...: poll CMD until it succeeds, at most 120 s.
wait_for() {
  local what=$1; shift
  for _ in $(seq 600); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "timed out waiting for $what"
  return 1
}

inside() {
  RUN=$1; shift
  PKI="$RUN/pki"
  : "${CP_BIN:?}" "${NODE_BIN:?}"
  mkdir -p "$PKI" "$RUN/cni" "$RUN/etcd"
  echo "$CP_BIN" > "$RUN/cp_bin" && echo "$NODE_BIN" > "$RUN/node_bin"
  # Everything the daemons write to fixed paths lands on tmpfs of this mount namespace only.
  mount -t tmpfs tmpfs /run
  mount -t tmpfs tmpfs /var/log
  mount -t tmpfs tmpfs /var/lib
  ip link set lo up
  ip addr add "$NODE_IP/32" dev lo
  # Node processes reach ClusterIPs through this route (kube-proxy DNATs them in OUTPUT).
  ip route add "$SERVICE_CIDR" dev lo src "$NODE_IP"
  sysctl -qw net.ipv4.ip_forward=1
  export PATH="$NODE_BIN:$CP_BIN:$PATH:/usr/sbin:/sbin"

  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=node-ca \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  cert apiserver kube-apiserver "" \
    "IP:$NODE_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  cert apiserver-kubelet kube-apiserver-kubelet-client system:masters
  cert admin admin system:masters
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert kubelet "system:node:$NODE_NAME" system:nodes
  cert kube-proxy system:kube-proxy
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  for k in admin controller-manager scheduler kubelet kube-proxy; do kubeconfig "$k"; done

  cat > "$RUN/containerd.toml" <<EOF
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:$PAUSE_VERSION"
  # The VM withholds CAP_SYS_RESOURCE: runc cannot raise oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN/cni"
EOF
  cat > "$RUN/cni/10-bridge.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "node", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "/var/lib/cni/networks"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  cat > "$RUN/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
# A test node on a shared machine: never evict for disk or memory pressure.
evictionHard: {memory.available: "1Mi", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
protectKernelDefaults: false
serializeImagePulls: false
syncFrequency: 10s
EOF
  cat > "$RUN/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$RUN/kube-proxy.kubeconfig"}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0}
iptables: {localhostNodePorts: false, syncPeriod: 5s}
EOF
  write_commands
  export KUBECONFIG="$RUN/admin.kubeconfig"

  launch etcd
  launch containerd
  launch apiserver
  wait_for "kube-apiserver /readyz" kubectl get --raw /readyz
  # kube-apiserver's own client identity for kubelet logs/exec: system:masters above.
  launch controller-manager
  launch scheduler
  wait_for containerd ctr -a /run/containerd/containerd.sock version
  for image in "$NODE_BIN/pause.tar" "$@"; do
    ctr -a /run/containerd/containerd.sock -n k8s.io images import "$image" >/dev/null
  done
  launch kubelet
  launch proxy
  wait_for "node Ready" kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
  wait_for "default ServiceAccount" kubectl get serviceaccount default -n default
  cp "$RUN/admin.kubeconfig" "$RUN/kubeconfig"
  touch "$RUN/ready"
  log "node Ready"
  # PID 1 of the namespace: stay; the whole namespace ends when `unshare` is killed.
  while :; do sleep 3600; done
}

# --- from outside -----------------------------------------------------------------------------

# The host pid of the namespace's PID 1 (the `inside` shell), from the pid of `unshare`.
ns_pid() {
  local unshare_pid; unshare_pid=$(cat "$1/unshare.pid")
  cat "/proc/$unshare_pid/task/$unshare_pid/children" | cut -d' ' -f1
}

in_ns() {
  local run=$1; shift
  # Helm's and kubectl's caches stay in the run directory too.
  KUBECONFIG="$run/kubeconfig" PATH="$(cat "$run/node_bin"):$(cat "$run/cp_bin"):$PATH" \
    KUBECACHEDIR="$run/kube-cache" HELM_CACHE_HOME="$run/helm/cache" HELM_CONFIG_HOME="$run/helm/config" \
    HELM_DATA_HOME="$run/helm/data" nsenter -t "$(ns_pid "$run")" -n -m -p -- "$@"
}

# down RUN: kill the namespace (SIGKILL to `unshare`; --kill-child ends every process in it),
# remove the pods' cgroups (cgroups are not namespaced) and the run directory.
down() {
  local run=$1
  if [[ -s "$run/unshare.pid" ]]; then
    local pid; pid=$(cat "$run/unshare.pid")
    kill -9 "$pid" 2>/dev/null || true
  fi
  clean_cgroups
  rm -rf "$run"
}

# The kubelet's cgroup trees (cgroupfs driver), deepest first; retried while processes exit.
clean_cgroups() {
  for _ in $(seq 50); do
    local left=0
    for root in /sys/fs/cgroup/*/kubepods; do
      [[ -d $root ]] || continue
      find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || left=1
    done
    ((left == 0)) && return 0
    sleep 0.1
  done
  log "kubepods cgroups left behind: $(ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null | tr '\n' ' ')"
}

# up RUN [IMAGE.tar...]: start a node in the background (for a person; tests/e2e start it the same
# way from Rust); prints how to use it. Waits for another node of this machine to end first: the
# lock is inherited by every process of the namespace, so it is held exactly as long as the node.
up() {
  local run=$1; shift
  [[ $(id -u) == 0 ]] || { log "needs root (namespaces, cgroups)"; exit 1; }
  exec 9> /tmp/scim-operator-node.lock
  flock 9
  mkdir -p "$run/logs"
  CP_BIN=${CP_BIN:-$("$HERE/controlplane.sh")} NODE_BIN=$(build) \
    setsid unshare --net --mount --propagation slave --pid --fork --kill-child --mount-proc \
    bash "$HERE/node.sh" inside "$run" "$@" > "$run/logs/inside.log" 2>&1 < /dev/null &
  echo $! > "$run/unshare.pid"
  disown  # `down` kills it; no job notice from this shell
  exec 9>&-
  for _ in $(seq 1200); do
    [[ -e $run/ready ]] && break
    kill -0 "$(cat "$run/unshare.pid")" 2>/dev/null || { tail -n 20 "$run/logs/"*.log >&2; down "$run"; exit 1; }
    sleep 0.2
  done
  [[ -e $run/ready ]] || { log "not Ready after 240 s; logs in $run/logs"; exit 1; }
  log "Ready. kubectl: $0 exec $run kubectl get nodes; stop: $0 down $run"
}

# forward RUN PORT HOST:PORT: serves 127.0.0.1:PORT on the host; each connection is joined to an
# address inside the node by a socat that enters the node's network namespace. Until killed.
forward() {
  local run=$1 port=$2 target=$3
  socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" \
    "SYSTEM:exec nsenter -t $(ns_pid "$run") -n socat STDIO TCP\:${target/:/\\:}"
}

# demo [RUN] [PORT]: a node with the chart installed from the local image, a Directory with a
# fresh token, the Service on 127.0.0.1:PORT; prints how to connect. Ctrl-C ends it all.
demo() {
  local run=${1:-/tmp/scim-operator-demo} port=${2:-8080}
  local image; image=$("$HERE/image.sh")
  local ref; ref=$(tar -xOf "$image" manifest.json | jq -r '.[0].RepoTags[0]')
  trap "down $(printf %q "$run")" EXIT  # expanded now: locals are gone when it runs
  trap 'exit 130' INT TERM
  up "$run" "$image"
  in_ns "$run" kubectl create namespace idp >/dev/null
  in_ns "$run" helm install scim-operator "$HERE/../charts/scim-operator" -n scim-operator \
    --create-namespace --set "image.repository=${ref%:*}" --set "image.tag=${ref##*:}" \
    --set image.pullPolicy=Never --set 'rbac.secretNamespaces={idp}' --wait --timeout 180s >/dev/null
  local token; token=$(openssl rand -hex 32)
  in_ns "$run" kubectl create secret generic entra-token -n idp --from-literal=token="$token" >/dev/null
  in_ns "$run" kubectl apply -f - >/dev/null <<YAML
apiVersion: scim-operator.io/v1alpha1
kind: Directory
metadata: {name: entra, namespace: idp}
spec: {tokenSecretRef: {name: entra-token}}
YAML
  local ip; ip=$(in_ns "$run" kubectl get service scim-operator -n scim-operator -o jsonpath='{.spec.clusterIP}')
  cat <<BANNER
scim-operator runs as two Pods on a real node (chart from charts/, image $ref).

  Tenant URL:    http://127.0.0.1:$port/scim/v2/idp/entra
  Secret Token:  $token
  kubectl:       $0 exec $run kubectl get scim,pods -A
  try it:        curl -H "Authorization: Bearer $token" http://127.0.0.1:$port/scim/v2/idp/entra/Users

Ctrl-C stops the node and leaves the host as it was.
BANNER
  forward "$run" "$port" "$ip:80"
}

case "${1:-}" in
  build) build ;;
  forward) shift; forward "$@" ;;
  demo) shift; demo "$@" ;;
  up) shift; up "$@" ;;
  down) down "$2" ;;
  inside) shift; inside "$@" ;;
  exec) shift; run=$1; shift; in_ns "$run" "$@" ;;
  stop|start|restart)
    action=$1 run=$2 daemon=$3
    in_ns "$run" env RUN="$run" bash -c "
      pid=\$(cat \"\$RUN/pid/$daemon\")
      if [[ $action != start ]]; then
        kill -9 \"\$pid\" 2>/dev/null || true
        while kill -0 \"\$pid\" 2>/dev/null && ! grep -qs '^State:.*Z' /proc/\$pid/status; do sleep 0.05; done
      fi
      if [[ $action != stop ]]; then
        bash \"\$RUN/cmd/$daemon\" >> \"\$RUN/logs/$daemon.log\" 2>&1 &
        echo \$! > \"\$RUN/pid/$daemon\"
      fi"
    ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
