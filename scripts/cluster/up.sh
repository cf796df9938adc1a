#!/usr/bin/env bash
# Start a real Kubernetes control plane as plain processes (no containers), all on loopback:
#   etcd, kube-apiserver (RBAC, default admission plugins + NodeRestriction, service-account token
#   signing), kube-controller-manager (short node-monitor grace period), kube-scheduler,
#   and one kwok process per fake node (3 workers + 1 tainted control-plane node by default);
#   with PETS_REAL_NODES=N also N real nodes (kubelet + containerd + kube-proxy, each in its own
#   namespaces, see README.md here), CoreDNS as the cluster DNS, and the locally built images.
# Writes a kubeconfig for a cluster-admin client cert to $PETS_CLUSTER_DIR/kubeconfig and prints
# its path on stdout (everything else goes to stderr). Idempotent: when the cluster is already up
# and healthy it is reused; when it is partly up it is stopped and started again cleanly.
#
# Environment (all optional):
#   PETS_CLUSTER_DIR        state dir (default ~/.cache/pulumi-pets-cluster): pki/, etcd/, logs/, pids/
#   PETS_TOOLS_CACHE        where scripts/tools/build.sh keeps the binaries (built if missing)
#   PETS_CLUSTER_WORKERS    number of kwok worker nodes (default 3): pets-worker-1..N
#   PETS_CLUSTER_CONTROL_PLANE_NODE  1 (default) adds node pets-control-plane, tainted NoSchedule
#   PETS_NODE_MONITOR_GRACE_PERIOD   kube-controller-manager --node-monitor-grace-period (default 20s;
#                           Kubernetes' own is 50s); real nodes' kubelets then use their stock Lease
#                           of 40 s (renewed every 10 s) when it is at least 40s, else a 20 s Lease
#   PETS_KUBELET_LEASE_DURATION      real nodes' nodeLeaseDurationSeconds (default: see above)
#   PETS_APISERVER_PORT (16443) PETS_ETCD_PORT (23790) PETS_ETCD_PEER_PORT (23800)
#   PETS_KCM_PORT (20257) PETS_SCHEDULER_PORT (20259)
#   PETS_CLUSTER_TIMEOUT    seconds to wait for each readiness step (default 180)
#   PETS_APISERVER_AUDIT    1: the API server writes an audit log of every request at Metadata level
#                           (user, user agent, verb, object; no bodies) to $PETS_CLUSTER_DIR/logs/audit.log
#   PETS_REAL_NODES         number of real nodes (default 0): pets-real-1..N, label type=real
#   PETS_NET_PREFIX (pets)  names of the real nodes' netns/bridge/veths/cgroups (8 chars at most)
#   PETS_REAL_NODE_SUBNET (10.200.0)  their /24: bridge .1 (API server, DNS), node I at .(10+I)
#   PETS_REAL_POD_OCTET (100)         node I's pod CIDR is 10.244.(OCTET+I).0/24
# Two clusters on one machine need different state dirs, ports, and for real nodes a different
# PETS_NET_PREFIX, subnet and pod octet.
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
REAL="${PETS_REAL_NODES:-0}"
NET_PREFIX="${PETS_NET_PREFIX:-pets}"
SUBNET="${PETS_REAL_NODE_SUBNET:-10.200.0}"
POD_OCTET="${PETS_REAL_POD_OCTET:-100}"
AUDIT="${PETS_APISERVER_AUDIT:-0}"
# The kubelet renews its Lease every quarter of its duration. Kubernetes' defaults pair a 40 s
# Lease with a 50 s grace period; a shorter grace period needs a shorter Lease.
case "$GRACE" in
  *m) GRACE_S=$(( ${GRACE%m} * 60 )) ;;
  *s) GRACE_S=${GRACE%s} ;;
  *) GRACE_S=$GRACE ;;
esac
[[ "$GRACE_S" =~ ^[0-9]+$ ]] || { echo "PETS_NODE_MONITOR_GRACE_PERIOD=$GRACE: must be whole seconds or minutes, e.g. 20s or 50s" >&2; exit 1; }
if [[ "$GRACE_S" -ge 40 ]]; then NODE_LEASE_DEFAULT=40; else NODE_LEASE_DEFAULT=20; fi
NODE_LEASE="${PETS_KUBELET_LEASE_DURATION:-$NODE_LEASE_DEFAULT}"
[[ "$NODE_LEASE" =~ ^[0-9]+$ && "$NODE_LEASE" -ge 4 ]] || { echo "PETS_KUBELET_LEASE_DURATION=$NODE_LEASE: must be whole seconds, at least 4" >&2; exit 1; }
SERVICE_CIDR=10.96.0.0/16   # virtual ClusterIPs: only kube-proxy's rules on real nodes know them
LOOPBACK=127.0.0.1
BRIDGE_IP="$SUBNET.1"

# shellcheck source=lib.sh
. "$HERE/lib.sh"
[[ "$REAL" =~ ^[0-9]+$ && "$REAL" -le 20 ]] || die "PETS_REAL_NODES=$REAL: must be a number from 0 to 20"
[[ "$NET_PREFIX" =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "PETS_NET_PREFIX=$NET_PREFIX: must be 1-8 lowercase letters/digits, starting with a letter"
[[ "$SUBNET" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "PETS_REAL_NODE_SUBNET=$SUBNET: must be the first three octets of a /24, e.g. 10.200.0"
[[ "$POD_OCTET" =~ ^[0-9]+$ && $((POD_OCTET + REAL)) -le 255 && "$POD_OCTET" -ge 20 ]] ||
  die "PETS_REAL_POD_OCTET=$POD_OCTET: must be 20..$((255 - REAL)) (kwok's fake pod CIDRs use 10.244.1-19)"
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
NODE_BIN="$TOOLS_CACHE/kubernetes-node-$KUBERNETES_VERSION/bin"
COREDNS_BIN="$TOOLS_CACHE/coredns-$COREDNS_VERSION/bin/coredns"
if [[ "$REAL" -gt 0 ]]; then
  [[ "$(id -u)" == 0 ]] || die "real nodes need root (namespaces, bridges, mounts)"
  if [[ ! -f "$NODE_BIN/../.complete" || ! -f "$TOOLS_CACHE/coredns-$COREDNS_VERSION/.complete" ||
        ! -f "$TOOLS_CACHE/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION/.complete" ]]; then
    log "real-node tools missing: building them (scripts/tools/build.sh real-nodes)"
    "$TOOLS/build.sh" real-nodes >/dev/null
  fi
  "$HERE/node-deps.sh"
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

pid_alive() { pidfile_pid "$DIR/pids/$1.pid" >/dev/null; }
REAL_NAMES=()
for ((i = 1; i <= REAL; i++)); do REAL_NAMES+=("pets-real-$i"); done
# What was asked for: a running cluster is reused only when it was started with the same settings.
WANT="workers=$WORKERS cp=$CP_NODE real=$REAL net=$NET_PREFIX/$SUBNET/$POD_OCTET api=$API_PORT grace=$GRACE lease=$NODE_LEASE"

# ---- already up? ----------------------------------------------------------------------------
all_up() {
  local c
  [[ "$(cat "$DIR/cluster.conf" 2>/dev/null)" == "$WANT" ]] || return 1
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler "${NODES[@]/#/kwok-}" "${REAL_NAMES[@]/#/node-}"; do
    pid_alive "$c" || return 1
  done
  if [[ "$REAL" -gt 0 ]]; then pid_alive coredns || return 1; fi
  [[ -f "$KUBECONFIG_OUT" ]] || return 1
  # An API server with the audit log on when it should be off, or the other way round, is restarted.
  local audited=0
  tr '\0' ' ' <"/proc/$(cat "$DIR/pids/kube-apiserver.pid")/cmdline" 2>/dev/null | grep -q -- --audit-log-path && audited=1
  [[ "$audited" == "$AUDIT" ]] || return 1
  kc get --raw /readyz >/dev/null 2>&1 || return 1
  [[ "$(kc get nodes --no-headers 2>/dev/null | awk '$2=="Ready"' | wc -l)" -eq $(( ${#NODES[@]} + REAL )) ]]
}
if all_up; then
  log "already up and healthy, reusing it ($(since))"
  echo "$KUBECONFIG_OUT"
  exit 0
fi
if compgen -G "$DIR/pids/*.pid" >/dev/null || [[ -f "$DIR/real-nodes.env" ]]; then
  log "partly up, unhealthy or started with other settings: stopping it first"
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
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:$BRIDGE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
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
# A PKI made for another bridge address (or before real nodes existed): a new apiserver cert.
if ! openssl x509 -in "$PKI/apiserver.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$BRIDGE_IP\(,\|\$\)"; then
  sed -i "s/^subjectAltName=.*/subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:$BRIDGE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local/" "$PKI/apiserver.ext"
  sign apiserver "/CN=kube-apiserver" "$PKI/apiserver.ext"
  log "apiserver certificate re-issued for $BRIDGE_IP"
fi
# Real nodes: the apiserver's client cert for kubelets (exec, logs), CoreDNS's and kube-proxy's
# client certs, and per node a kubelet client cert (system:node:<name>, for the Node authorizer
# and NodeRestriction) and a serving cert for its node IP.
gen_real_pki() {
  local t n i; t=$(date +%s)
  [[ -f "$PKI/apiserver-kubelet-client.crt" ]] || sign apiserver-kubelet-client "/CN=pets-apiserver-kubelet-client" "$PKI/client.ext"
  [[ -f "$PKI/coredns.crt" ]] || sign coredns "/CN=pets-coredns" "$PKI/client.ext"
  [[ -f "$PKI/kube-proxy.crt" ]] || sign kube-proxy "/CN=system:kube-proxy" "$PKI/client.ext"
  for ((i = 1; i <= REAL; i++)); do
    n="pets-real-$i"
    [[ -f "$PKI/node-$n.crt" ]] || sign "node-$n" "/O=system:nodes/CN=system:node:$n" "$PKI/client.ext"
    if ! openssl x509 -in "$PKI/node-$n-serving.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$SUBNET.$((10 + i))\(,\|\$\)"; then
      printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s,DNS:%s\n' \
        "$SUBNET.$((10 + i))" "$n" >"$PKI/node-$n-serving.ext"
      sign "node-$n-serving" "/CN=$n" "$PKI/node-$n-serving.ext"
    fi
  done
  log "real-node certificates ready in $(since "$t")"
}
[[ "$REAL" -eq 0 ]] || gen_real_pki
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
[[ "$REAL" -eq 0 ]] || write_kubeconfig "$DIR/coredns.kubeconfig" coredns
printf '%s\n' "$WANT" >"$DIR/cluster.conf"

# ---- real nodes: images, settings, network --------------------------------------------------
if [[ "$REAL" -gt 0 ]]; then
  t=$(date +%s)
  "$HERE/../images/build.sh" all >"$DIR/images.list.tmp"
  mv "$DIR/images.list.tmp" "$DIR/images.list"
  log "images ready in $(since "$t") ($(awk '{print $2}' "$DIR/images.list" | tr '\n' ' '))"
  # what node.sh and down.sh act on, whatever their own environment says
  cat >"$REAL_ENV" <<EOF
REAL_NODES=$REAL
NET_PREFIX=$NET_PREFIX
SUBNET=$SUBNET
POD_NET=10.244
POD_OCTET=$POD_OCTET
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=$SERVICE_CIDR
BRIDGE_IP=$BRIDGE_IP
DNS_IP=$BRIDGE_IP
API_PORT=$API_PORT
K8S_NODE_BIN=$NODE_BIN
SHARED_DIR=$DIR/shared
PAUSE_IMAGE=$(awk '$1 == "pause" {print $2}' "$DIR/images.list")
PKI=$PKI
NODE_LEASE_DURATION=$NODE_LEASE
EOF
  # The shared "NFS" directory starts empty with the cluster, as the nodes' disks do (no node runs now).
  mkdir -p "$DIR/shared"
  ! grep -qF " $DIR/shared" /proc/self/mounts || die "$DIR/shared has mounts on the host; not emptying it"
  find "$DIR/shared" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} +
  t=$(date +%s)
  "$HERE/node.sh" network-up
  for n in "${REAL_NAMES[@]}"; do FRESH=1 "$HERE/node.sh" configure "$n"; done
  log "real-node network and configuration in $(since "$t")"
fi

# ---- processes ------------------------------------------------------------------------------
# start NAME CMD...: detached (own session), log in logs/NAME.log, pid in pids/NAME.pid
# and its start time in pids/NAME.start (see lib.sh), both written before exec.
start() {
  local name=$1; shift
  setsid bash -c "$RECORD_PID" "$DIR/pids/$name.pid" "$@" >"$DIR/logs/$name.log" 2>&1 </dev/null &
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

# With real nodes the API server must be reachable from their network namespaces: it listens on
# all addresses (loopback for the host side, the bridge for the nodes; the bridge is internal),
# advertises the bridge address, and the lease reconciler publishes that address as the endpoint
# of the `kubernetes` Service (Endpoints may not hold loopback addresses, hence `none` without).
if [[ "$REAL" -gt 0 ]]; then
  API_NET=(--bind-address=0.0.0.0 --advertise-address="$BRIDGE_IP" --endpoint-reconciler-type=lease
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key"
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP)
else
  API_NET=(--bind-address=$LOOPBACK --advertise-address=$LOOPBACK --endpoint-reconciler-type=none)
fi

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
  "${API_NET[@]}" --secure-port="$API_PORT" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --api-audiences=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range="$SERVICE_CIDR" \
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

# ---- real nodes: RBAC, cluster DNS, boot ----------------------------------------------------
if [[ "$REAL" -gt 0 ]]; then
  # kubectl exec/logs: the API server's kubelet client may use the kubelet API (and only that);
  # CoreDNS reads what its kubernetes plugin watches (with `pods insecure`, no pods).
  kc apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: pets-apiserver-kubelet-client}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kubelet-api-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: pets-apiserver-kubelet-client}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pets-coredns}
rules:
- {apiGroups: [""], resources: [services, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: pets-coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pets-coredns}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: pets-coredns}]
EOF
  t=$(date +%s)
  for n in "${REAL_NAMES[@]}"; do "$HERE/node.sh" start "$n"; done
  log "${#REAL_NAMES[@]} real nodes booting (logs: $DIR/logs/pets-real-*.log)"
  # Cluster DNS on the bridge address only; names outside cluster.local get no answer (there is
  # no upstream to forward to). No cache: a pod that moved is found at its new address at once.
  cat >"$DIR/Corefile" <<EOF
.:53 {
    bind $BRIDGE_IP
    errors
    health $BRIDGE_IP:8080
    ready $BRIDGE_IP:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $DIR/coredns.kubeconfig pets
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
}
EOF
  start coredns "$COREDNS_BIN" -conf "$DIR/Corefile"
  wait_for "CoreDNS ready" coredns curl -fsS "http://$BRIDGE_IP:8181/ready"
  for n in "${REAL_NAMES[@]}"; do "$HERE/node.sh" wait-images "$n"; done
  log "real nodes: containerd up and images loaded after $(since "$t") (total $(since))"
  for n in "${REAL_NAMES[@]}"; do # the node's own boot timings (node-init.sh)
    log "  $n: $(grep -oE '(containerd up|images ready) \([0-9]+ms\)' "$DIR/logs/$n.init.log" | tail -n 2 | tr '\n' ' ')with $(grep -c ' imported ' "$DIR/logs/$n.init.log" || true) images imported"
  done
fi

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
nodes_ready_kwok() {
  [[ "$(kc get nodes -l type=kwok --no-headers 2>/dev/null | awk '$2=="Ready"' | wc -l)" -eq ${#NODES[@]} ]]
}
dns_answers() {
  busybox nslookup kubernetes.default.svc.cluster.local "$BRIDGE_IP" 2>/dev/null | grep -q "Address: 10.96.0.1"
}
# For the tests (tests/integration/support/realnodes.ts): names, addresses, images, paths.
write_real_nodes_json() {
  local i n name ref sep="" isep=""
  {
    printf '{\n  "clusterDir": "%s",\n  "sharedDir": "%s",\n  "sharedPathOnNodes": "/srv/pets-shared",\n' "$DIR" "$DIR/shared"
    printf '  "dnsIP": "%s",\n  "netPrefix": "%s",\n' "$BRIDGE_IP" "$NET_PREFIX"
    printf '  "nodeMonitorGracePeriodSeconds": %s,\n  "kubeletLeaseDurationSeconds": %s,\n  "images": {' "$GRACE_S" "$NODE_LEASE"
    while read -r name ref _; do printf '%s"%s": "%s"' "$isep" "$name" "$ref"; isep=", "; done <"$DIR/images.list"
    printf '},\n  "nodes": ['
    for ((i = 1; i <= REAL; i++)); do
      n="pets-real-$i"
      printf '%s\n    {"name": "%s", "ip": "%s", "podCIDR": "%s", "netns": "%s", "hostVeth": "%s", "dir": "%s"}' \
        "$sep" "$n" "$SUBNET.$((10 + i))" "10.244.$((POD_OCTET + i)).0/24" "$NET_PREFIX-real-$i" "$NET_PREFIX-r$i" "$DIR/nodes/$n"
      sep=","
    done
    printf '\n  ]\n}\n'
  } >"$DIR/real-nodes.json"
}
t=$(date +%s)
if [[ ${#NODES[@]} -gt 0 ]]; then
  { i=0; for n in "${NODES[@]}"; do i=$((i + 1)); node_manifest "$n" "$i"; done; } | kc apply -f - >/dev/null
  log "Node objects created in $(since "$t")"
fi
i=0
for n in "${NODES[@]}"; do
  i=$((i + 1))
  start "kwok-$n" "$KWOK_DIR/bin/kwok" --kubeconfig="$DIR/kwok.kubeconfig" --config="$STAGES" --config="$OWN_STAGES" \
    --manage-all-nodes=false --manage-single-node="$n" \
    --node-ip="127.0.0.$((10 + i))" --cidr="10.244.$i.0/24" --node-lease-duration-seconds=20
done
nodes_ready() {
  [[ "$(kc get nodes --no-headers 2>/dev/null | awk '$2=="Ready"' | wc -l)" -eq $(( ${#NODES[@]} + REAL )) ]]
}
if [[ ${#NODES[@]} -gt 0 ]]; then
  wait_for "${#NODES[@]} kwok nodes Ready" "kwok-${NODES[0]}" nodes_ready_kwok
fi
if [[ "$REAL" -gt 0 ]]; then
  wait_for "$REAL real nodes Ready" coredns nodes_ready
  # what a pod's first lookup asks: the API server's Service, through the cluster DNS
  wait_for "cluster DNS answers" coredns dns_answers
  write_real_nodes_json
fi

log "cluster up in $(since) (kubeconfig: $KUBECONFIG_OUT)"
echo "$KUBECONFIG_OUT"
