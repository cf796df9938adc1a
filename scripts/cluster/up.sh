#!/usr/bin/env bash
# Start a real Kubernetes control plane as plain processes (no containers), all on loopback:
#   etcd, kube-apiserver (RBAC, default admission plugins + NodeRestriction, service-account token
#   signing), kube-controller-manager (short node-monitor grace period), kube-scheduler,
#   and one kwok process per fake node (3 workers + 1 tainted control-plane node by default).
# Writes a kubeconfig for a cluster-admin client cert to $PETS_CLUSTER_DIR/kubeconfig and prints
# its path on stdout (everything else goes to stderr). Idempotent: when the cluster is already up
# and healthy it is reused; when it is partly up it is stopped and started again cleanly.
#
# Environment (all optional):
#   PETS_CLUSTER_DIR        state dir (default ~/.cache/pulumi-pets-cluster): pki/, etcd/, logs/, pids/
#   PETS_TOOLS_CACHE        where scripts/tools/build.sh keeps the binaries (built if missing)
#   PETS_CLUSTER_WORKERS    number of kwok worker nodes (default 3): pets-worker-1..N
#   PETS_CLUSTER_CONTROL_PLANE_NODE  1 (default) adds node pets-control-plane, tainted NoSchedule
#   PETS_NODE_MONITOR_GRACE_PERIOD   kube-controller-manager --node-monitor-grace-period (default 20s)
#   PETS_APISERVER_PORT (16443) PETS_ETCD_PORT (23790) PETS_ETCD_PEER_PORT (23800)
#   PETS_KCM_PORT (20257) PETS_SCHEDULER_PORT (20259)
#   PETS_CLUSTER_TIMEOUT    seconds to wait for each readiness step (default 180)
#   PETS_APISERVER_AUDIT    1: the API server writes an audit log of every request at Metadata level
#                           (user, user agent, verb, object; no bodies) to $PETS_CLUSTER_DIR/logs/audit.log
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$(cd "$HERE/../tools" && pwd)"
# shellcheck source=../tools/versions.env
. "$TOOLS/versions.env"

DIR="${PETS_CLUSTER_DIR:-$HOME/.cache/pulumi-pets-cluster}"
TOOLS_CACHE="${PETS_TOOLS_CACHE:-$HOME/.cache/pulumi-pets-tools}"
WORKERS="${PETS_CLUSTER_WORKERS:-3}"
CP_NODE="${PETS_CLUSTER_CONTROL_PLANE_NODE:-1}"
GRACE="${PETS_NODE_MONITOR_GRACE_PERIOD:-20s}"
API_PORT="${PETS_APISERVER_PORT:-16443}"
ETCD_PORT="${PETS_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${PETS_ETCD_PEER_PORT:-23800}"
KCM_PORT="${PETS_KCM_PORT:-20257}"
SCHED_PORT="${PETS_SCHEDULER_PORT:-20259}"
TIMEOUT="${PETS_CLUSTER_TIMEOUT:-180}"
AUDIT="${PETS_APISERVER_AUDIT:-0}"
SERVICE_CIDR=10.96.0.0/16   # virtual ClusterIPs: nothing listens or routes there
LOOPBACK=127.0.0.1

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
T0=$(date +%s)
since() { echo "$(( $(date +%s) - ${1:-$T0} ))s"; }

# ---- binaries -------------------------------------------------------------------------------
ETCD_BIN="$TOOLS_CACHE/etcd-$ETCD_VERSION/bin"
K8S_BIN="$TOOLS_CACHE/kubernetes-$KUBERNETES_VERSION/bin"
KWOK_DIR="$TOOLS_CACHE/kwok-$KWOK_VERSION"
if [[ ! -f "$TOOLS_CACHE/etcd-$ETCD_VERSION/.complete" || ! -f "$TOOLS_CACHE/kubernetes-$KUBERNETES_VERSION/.complete" ||
      ! -f "$KWOK_DIR/.complete" ]]; then
  log "control-plane tools missing: building them (scripts/tools/build.sh control-plane kwok)"
  "$TOOLS/build.sh" control-plane kwok >/dev/null
fi
KUBECTL="$K8S_BIN/kubectl"
STAGES="$KWOK_DIR/share/default-stages.yaml"
[[ -f "$STAGES" ]] || die "$STAGES missing (rebuild kwok: rm -rf $KWOK_DIR && scripts/tools/build.sh kwok)"
OWN_STAGES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/stages.yaml"   # ours, on top of the defaults

NODES=()
for ((i = 1; i <= WORKERS; i++)); do NODES+=("pets-worker-$i"); done
[[ "$CP_NODE" == 1 ]] && NODES+=("pets-control-plane")

KUBECONFIG_OUT="$DIR/kubeconfig"
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_OUT" "$@"; }

pid_alive() { [[ -f "$DIR/pids/$1.pid" ]] && kill -0 "$(cat "$DIR/pids/$1.pid")" 2>/dev/null; }

# ---- already up? ----------------------------------------------------------------------------
all_up() {
  local c
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler "${NODES[@]/#/kwok-}"; do
    pid_alive "$c" || return 1
  done
  [[ -f "$KUBECONFIG_OUT" ]] || return 1
  # An API server with the audit log on when it should be off, or the other way round, is restarted.
  local audited=0
  tr '\0' ' ' <"/proc/$(cat "$DIR/pids/kube-apiserver.pid")/cmdline" 2>/dev/null | grep -q -- --audit-log-path && audited=1
  [[ "$audited" == "$AUDIT" ]] || return 1
  kc get --raw /readyz >/dev/null 2>&1 || return 1
  [[ "$(kc get nodes --no-headers 2>/dev/null | awk '$2=="Ready"' | wc -l)" -eq ${#NODES[@]} ]]
}
if all_up; then
  log "already up and healthy, reusing it ($(since))"
  echo "$KUBECONFIG_OUT"
  exit 0
fi
if compgen -G "$DIR/pids/*.pid" >/dev/null; then
  log "partly up or unhealthy: stopping it first"
  "$HERE/down.sh" >&2
fi

mkdir -p "$DIR"/{pki,logs,pids}
# A fresh etcd every start: the cluster always starts empty.
rm -rf "$DIR/etcd"

# ---- PKI (kept across restarts; regenerate with rm -rf $DIR/pki) ----------------------------
PKI="$DIR/pki"
gen_pki() {
  local t; t=$(date +%s)
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=pets-cluster-ca" \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  # service-account token signing key pair
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  # apiserver serving cert
  cat >"$PKI/apiserver.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
  sign apiserver "/CN=kube-apiserver" "$PKI/apiserver.ext"
  # client certs (CN = user, O = group)
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$PKI/client.ext"
  sign admin "/O=system:masters/CN=pets-admin" "$PKI/client.ext"
  sign kube-controller-manager "/CN=system:kube-controller-manager" "$PKI/client.ext"
  sign kube-scheduler "/CN=system:kube-scheduler" "$PKI/client.ext"
  # kwok updates nodes, leases and pod status of every pod on its node: admin-equivalent
  sign kwok "/O=system:masters/CN=pets-kwok" "$PKI/client.ext"
  log "PKI generated with openssl in $(since "$t")"
}
sign() { # NAME SUBJECT EXTFILE
  openssl req -new -newkey rsa:2048 -nodes -subj "$2" -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$3" -out "$PKI/$1.crt" 2>/dev/null
  rm -f "$PKI/$1.csr"
}
[[ -f "$PKI/kwok.crt" && -f "$PKI/sa.pub" ]] || gen_pki
chmod 600 "$PKI"/*.key

write_kubeconfig() { # FILE CERTNAME
  local b64='base64 -w0'
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: pets
  cluster:
    server: https://$LOOPBACK:$API_PORT
    certificate-authority-data: $($b64 <"$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $($b64 <"$PKI/$2.crt")
    client-key-data: $($b64 <"$PKI/$2.key")
contexts:
- name: pets
  context: {cluster: pets, user: $2}
current-context: pets
EOF
  chmod 600 "$1"
}
write_kubeconfig "$KUBECONFIG_OUT" admin
for c in kube-controller-manager kube-scheduler kwok; do write_kubeconfig "$DIR/$c.kubeconfig" "$c"; done

# ---- processes ------------------------------------------------------------------------------
# start NAME CMD...: detached (own session), log in logs/NAME.log, pid in pids/NAME.pid
start() {
  local name=$1; shift
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$DIR/pids/$name.pid" "$@" \
    >"$DIR/logs/$name.log" 2>&1 </dev/null &
  local i
  for i in $(seq 50); do [[ -s "$DIR/pids/$name.pid" ]] && return 0; sleep 0.1; done
  die "$name did not start"
}
wait_for() { # DESCRIPTION PROCESS-NAME COMMAND...
  local what=$1 proc=$2 t deadline; shift 2
  t=$(date +%s); deadline=$(( t + TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    if [[ -n "$proc" ]] && ! pid_alive "$proc"; then
      tail -n 30 "$DIR/logs/$proc.log" >&2 || true
      die "$proc exited (log: $DIR/logs/$proc.log)"
    fi
    (( $(date +%s) < deadline )) || die "timed out after ${TIMEOUT}s waiting for $what"
    sleep 0.5
  done
  log "$what after $(since "$t") (total $(since))"
}

start etcd "$ETCD_BIN/etcd" --name pets --data-dir "$DIR/etcd" \
  --listen-client-urls "http://$LOOPBACK:$ETCD_PORT" --advertise-client-urls "http://$LOOPBACK:$ETCD_PORT" \
  --listen-peer-urls "http://$LOOPBACK:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$LOOPBACK:$ETCD_PEER_PORT" \
  --initial-cluster "pets=http://$LOOPBACK:$ETCD_PEER_PORT" --listen-metrics-urls "" \
  --unsafe-no-fsync --quota-backend-bytes=2147483648 --log-level=warn
wait_for "etcd healthy" etcd curl -fsS "http://$LOOPBACK:$ETCD_PORT/health"

# Audit log (PETS_APISERVER_AUDIT=1): one JSON line per request at Metadata level; the
# RequestReceived stage is omitted so a plain request is one line (a watch is two).
AUDIT_FLAGS=()
rm -f "$DIR/logs/audit.log"
if [[ "$AUDIT" == 1 ]]; then
  cat >"$DIR/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
EOF
  AUDIT_FLAGS=(--audit-policy-file="$DIR/audit-policy.yaml" --audit-log-path="$DIR/logs/audit.log"
    --audit-log-format=json --audit-log-maxsize=0)
fi

start kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers="http://$LOOPBACK:$ETCD_PORT" \
  --bind-address=$LOOPBACK --advertise-address=$LOOPBACK --secure-port="$API_PORT" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --api-audiences=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --endpoint-reconciler-type=none \
  --allow-privileged=true --profiling=false --v=1 "${AUDIT_FLAGS[@]}"
wait_for "kube-apiserver ready" kube-apiserver kc get --raw /readyz

start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
  --bind-address=$LOOPBACK --secure-port="$KCM_PORT" --leader-elect=false \
  --use-service-account-credentials=true \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" --allocate-node-cidrs=false \
  --node-monitor-grace-period="$GRACE" --node-monitor-period=2s \
  --controllers='*,bootstrapsigner,tokencleaner' --profiling=false --v=1

start kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$DIR/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig="$DIR/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig="$DIR/kube-scheduler.kubeconfig" \
  --bind-address=$LOOPBACK --secure-port="$SCHED_PORT" --leader-elect=false --profiling=false --v=1

wait_for "kube-controller-manager healthy" kube-controller-manager curl -fsSk "https://$LOOPBACK:$KCM_PORT/healthz"
wait_for "kube-scheduler healthy" kube-scheduler curl -fsSk "https://$LOOPBACK:$SCHED_PORT/healthz"
# Pods can only be created once the service-account controller made the namespace's SA.
wait_for "default ServiceAccount present" kube-controller-manager kc -n default get serviceaccount default

# ---- kwok nodes -----------------------------------------------------------------------------
# Node objects first; each kwok process then manages exactly one of them (killing it stops that
# node's Lease renewals, and the node lifecycle controller marks it NotReady after $GRACE).
# Node and pod IPs are only strings kwok writes into status: nothing listens on them.
node_manifest() { # NAME INDEX
  local role=worker taint=""
  if [[ "$1" == pets-control-plane ]]; then
    role=control-plane
    taint=$'  taints:\n  - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}'
  fi
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: $1
    node-role.kubernetes.io/$role: ""
    type: kwok
spec:
$( [[ -n "$taint" ]] && printf '%s\n' "$taint" || echo "  {}" )
status:
  allocatable: {cpu: "8", memory: 32Gi, pods: "110"}
  capacity: {cpu: "8", memory: 32Gi, pods: "110"}
---
EOF
}
t=$(date +%s)
{ i=0; for n in "${NODES[@]}"; do i=$((i + 1)); node_manifest "$n" "$i"; done; } | kc apply -f - >/dev/null
log "Node objects created in $(since "$t")"
i=0
for n in "${NODES[@]}"; do
  i=$((i + 1))
  start "kwok-$n" "$KWOK_DIR/bin/kwok" --kubeconfig="$DIR/kwok.kubeconfig" --config="$STAGES" --config="$OWN_STAGES" \
    --manage-all-nodes=false --manage-single-node="$n" \
    --node-ip="127.0.0.$((10 + i))" --cidr="10.244.$i.0/24" --node-lease-duration-seconds=20
done
nodes_ready() {
  [[ "$(kc get nodes --no-headers 2>/dev/null | awk '$2=="Ready"' | wc -l)" -eq ${#NODES[@]} ]]
}
wait_for "${#NODES[@]} kwok nodes Ready" "kwok-${NODES[0]}" nodes_ready

log "cluster up in $(since) (kubeconfig: $KUBECONFIG_OUT)"
echo "$KUBECONFIG_OUT"
