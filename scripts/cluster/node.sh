#!/usr/bin/env bash
# The real nodes of the test cluster (see README.md here): each is a network namespace on a host
# bridge plus a PID/mount/UTS namespace whose init (node-init.sh) runs containerd, kube-proxy and
# the kubelet over the node's own directories. up.sh and down.sh call this; so do the tests.
#
#   node.sh start NODE...       boot (again, with the same disks); no-op when running
#   node.sh kill NODE...        power loss: SIGKILL to the node's PID 1, which takes every process
#                               of the node with it (kubelet, containerd, shims, containers)
#   node.sh partition NODE...   cut its network (host end of its veth down); processes keep running
#   node.sh heal NODE...        restore it
#   node.sh status [NODE...]    "<node> running|stopped connected|partitioned <pid1>"
#   node.sh exec NODE CMD...    run CMD in the node's namespaces (debugging)
#   node.sh list                the node names
# Internal (up.sh / down.sh): network-up, configure NODE, wait-images NODE..., teardown.
# NODE is a node name (pets-real-1) or its number (1).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
load_real_nodes

need_nodes() { [[ "$REAL_NODES" -gt 0 ]] || die "no real nodes in $DIR (start the cluster with PETS_REAL_NODES=N)"; }
index_of() { if [[ "$1" =~ ^[0-9]+$ ]]; then real_index "pets-real-$1"; else real_index "$1"; fi; }
node_dir() { echo "$DIR/nodes/$(real_node_name "$1")"; }
pid_file() { echo "$DIR/pids/node-$(real_node_name "$1").pid"; }
# init_pid I: host pid of the node's PID 1 (the child of the recorded unshare process)
init_pid() {
  local u c
  u="$(pidfile_pid "$(pid_file "$1")")" || return 1
  c="$(cat "/proc/$u/task/$u/children" 2>/dev/null)" || return 1
  c="${c%% *}"
  [[ -n "$c" ]] && alive "$c" && echo "$c"
}

# ---- network ----------------------------------------------------------------------------------
# Bridge BRIDGE_IP/24 on the host; per node a netns with eth0 = NODE_IP/24 (veth to the bridge),
# a route to every other node's pod CIDR via that node, and no default route: pods and nodes can
# reach each other and this host, nothing else. The host routes each pod CIDR to its node.
network_up() {
  local br i j ns veth
  br="$(real_bridge)"
  if ! ip link show "$br" >/dev/null 2>&1; then
    ip link add "$br" type bridge
    ip addr add "$BRIDGE_IP/24" dev "$br"
  fi
  ip link set "$br" up
  for ((i = 1; i <= REAL_NODES; i++)); do
    ns="$(real_netns "$i")" veth="$(real_veth "$i")"
    if ! ip netns list | grep -qx "$ns\( (id: [0-9]*)\)\{0,1\}"; then
      ip netns add "$ns"
    fi
    if ! ip link show "$veth" >/dev/null 2>&1; then
      ip -n "$ns" link del eth0 2>/dev/null || true
      ip link add "$veth" type veth peer name eth0 netns "$ns"
      ip -n "$ns" addr add "$(real_ip "$i")/24" dev eth0
    fi
    ip link set "$veth" master "$br" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 \
      net.ipv4.conf.all.rp_filter=0 >/dev/null
    for ((j = 1; j <= REAL_NODES; j++)); do
      ((j == i)) || ip -n "$ns" route replace "$(real_pod_cidr "$j")" via "$(real_ip "$j")"
    done
    # ClusterIPs from the node's own processes: the route only has to exist for kube-proxy's
    # OUTPUT rules to rewrite the destination.
    ip -n "$ns" route replace "$SERVICE_CIDR" via "$BRIDGE_IP"
    ip route replace "$(real_pod_cidr "$i")" via "$(real_ip "$i")"
  done
}

# ---- configuration ----------------------------------------------------------------------------
# configure I: the node's config files (from the PKI up.sh made), cgroup root, and, with FRESH=1,
# empty disks (a new cluster starts empty; containerd's images are kept).
configure() {
  local i=$1 name nd ip cg h
  name="$(real_node_name "$i")" nd="$(node_dir "$i")" ip="$(real_ip "$i")" cg="$(real_cgroup "$i")"
  if [[ "${FRESH:-0}" == 1 ]]; then
    ! grep -qF " $nd" /proc/self/mounts || die "$nd has mounts on the host; not wiping it"
    rm -rf --one-file-system "$nd"/{kubelet,cni,pod-logs,container-logs,local-path,etc}
    # logs start afresh with the cluster, as the control plane's do (they span kill/start)
    mkdir -p "$DIR/logs"
    for f in init containerd kubelet kube-proxy; do : >"$DIR/logs/$name.$f.log"; done
  fi
  mkdir -p "$nd"/{kubelet,containerd,cni,cni-conf,pod-logs,container-logs,local-path,etc/pki}
  [[ "${FRESH:-0}" == 1 ]] && touch "$nd/etc/fresh"
  cp "$PKI/ca.crt" "$nd/etc/pki/ca.crt"
  for f in "node-$name" "node-$name-serving" kube-proxy; do
    cp "$PKI/$f.crt" "$PKI/$f.key" "$nd/etc/pki/"
  done
  chmod 600 "$nd"/etc/pki/*.key
  cp "$DIR/images.list" "$nd/etc/images.list"
  cat >"$nd/etc/node.env" <<EOF
NODE_NAME=$name
NODE_IP=$ip
K8S_BIN=$K8S_NODE_BIN
LOGS=$DIR/logs
SHARED_DIR=$SHARED_DIR
EOF
  printf 'nameserver %s\n' "$DNS_IP" >"$nd/etc/resolv.conf"
  local kc
  for kc in kubelet:"node-$name" kube-proxy:kube-proxy; do
    cat >"$nd/etc/${kc%%:*}.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: pets
  cluster: {server: "https://$BRIDGE_IP:$API_PORT", certificate-authority: /var/lib/pets-node/pki/ca.crt}
users:
- name: ${kc#*:}
  user: {client-certificate: /var/lib/pets-node/pki/${kc#*:}.crt, client-key: /var/lib/pets-node/pki/${kc#*:}.key}
contexts:
- name: pets
  context: {cluster: pets, user: ${kc#*:}}
current-context: pets
EOF
  done
  cat >"$nd/etc/containerd.toml" <<EOF
# containerd 1.6 (Debian) of node $name: own root, state and socket at the standard paths of
# the node's mount namespace.
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "/run/containerd/containerd.sock"
[ttrpc]
  address = "/run/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # root here lacks CAP_SYS_RESOURCE: negative oom_score_adj values are refused
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1
EOF
  cat >"$nd/cni-conf/10-pets.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "pets",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$(real_pod_cidr "$i")" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  cat >"$nd/etc/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: /var/lib/pets-node/pki/node-$name-serving.crt
tlsPrivateKeyFile: /var/lib/pets-node/pki/node-$name-serving.key
rotateCertificates: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: /var/lib/pets-node/pki/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
# this machine: cgroup v1 (hybrid), no systemd, no swap accounting
cgroupDriver: cgroupfs
cgroupRoot: /$cg
failCgroupV1: false
failSwapOn: false
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
resolvConf: /var/lib/pets-node/resolv.conf
# renewed every quarter of this; up.sh pairs it with the controller manager's grace period
nodeLeaseDurationSeconds: ${NODE_LEASE_DURATION:-20}
# images cannot be pulled again here: never collect them
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# nodes share this machine's disk and memory with everything else: evict only in an emergency
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
maxPods: 110
EOF
  cat >"$nd/etc/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: /var/lib/pets-node/kube-proxy.kubeconfig}
hostnameOverride: $name
mode: iptables
clusterCIDR: $CLUSTER_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# nf_conntrack_max is global: not settable from a node's network namespace
conntrack: {maxPerCore: 0}
iptables: {minSyncPeriod: 1s, syncPeriod: 30s}
EOF
  # cgroupRoot must exist in every v1 hierarchy (cpuset with its parent's cpus and mems)
  while read -r h; do
    mkdir -p "$h/$cg"
    if [[ -f "$h/cpuset.cpus" ]]; then
      cat "$h/cpuset.cpus" >"$h/$cg/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h/$cg/cpuset.mems"
    fi
  done < <(cgroup_hierarchies)
}

# ---- lifecycle --------------------------------------------------------------------------------
start_node() {
  local i=$1 name nd ns
  name="$(real_node_name "$i")" nd="$(node_dir "$i")" ns="$(real_netns "$i")"
  if init_pid "$i" >/dev/null; then return 0; fi
  [[ -f "$nd/etc/node.env" ]] || die "$name is not configured (start the cluster with up.sh)"
  [[ -e "/run/netns/$ns" ]] || die "network namespace $ns is missing (start the cluster with up.sh)"
  mkdir -p "$DIR/pids" "$DIR/logs"
  # A machine's cgroups do not survive a power loss; a dead node's do (directories without
  # processes). Left there, the kubelet's cAdvisor would spend ~3 s retrying each one at start.
  local cg h
  cg="$(real_cgroup "$i")"
  while read -r h; do
    [[ -d "$h/$cg" ]] && find "$h/$cg" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
  done < <(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts)
  # setsid: own session; pid and start time recorded before exec (lib.sh); nsenter and unshare
  # exec in place, so that pid is unshare's, whose child is the node's PID 1 (--kill-child: if
  # unshare dies, so does the node).
  setsid bash -c "$RECORD_PID" "$(pid_file "$i")" \
    nsenter --net="/run/netns/$ns" -- \
    unshare --pid --fork --kill-child --mount --uts --propagation private --mount-proc -- \
    "$HERE/node-init.sh" "$nd" >>"$DIR/logs/$name.init.log" 2>&1 </dev/null &
  local n
  for n in $(seq 100); do init_pid "$i" >/dev/null && return 0; sleep 0.05; done
  tail -n 20 "$DIR/logs/$name.init.log" >&2 || true
  die "$name did not start (log: $DIR/logs/$name.init.log)"
}

# kill_node I: SIGKILL to PID 1, then wait for unshare, which returns only once the kernel has
# killed and reaped every process of the node's PID namespace.
kill_node() {
  local i=$1 name u c
  name="$(real_node_name "$i")"
  u="$(pidfile_pid "$(pid_file "$i")")" || { rm_pidfile "$(pid_file "$i")"; return 0; }
  c="$(init_pid "$i" || true)"
  if [[ -n "$c" ]]; then kill -KILL "$c" 2>/dev/null || true; else kill -KILL "$u" 2>/dev/null || true; fi
  local n
  for n in $(seq 300); do alive "$u" || break; sleep 0.1; done
  alive "$u" && { kill -KILL "$u" 2>/dev/null || true; sleep 0.5; }
  alive "$u" && die "$name: unshare (pid $u) is still alive 30 s after its init was killed"
  rm_pidfile "$(pid_file "$i")"
}

partition() { ip link set "$(real_veth "$1")" down; }
heal() { ip link set "$(real_veth "$1")" up; }
status() {
  local i=$1 run=stopped net=connected p
  p="$(init_pid "$i" || true)"
  [[ -n "$p" ]] && run=running
  [[ "$(cat "/sys/class/net/$(real_veth "$i")/operstate" 2>/dev/null)" == down ]] && net=partitioned
  echo "$(real_node_name "$i") $run $net ${p:--}"
}

# wait_images I: until node-init.sh has loaded the images (it starts the kubelet after that)
wait_images() {
  local i=$1 name p n
  name="$(real_node_name "$i")"
  for n in $(seq "$(( ${PETS_CLUSTER_TIMEOUT:-180} * 5 ))"); do
    p="$(init_pid "$i")" || { tail -n 20 "$DIR/logs/$name.init.log" >&2; die "$name is not running"; }
    nsenter -t "$p" -m -- test -f /run/images-ready && return 0
    sleep 0.2
  done
  die "$name: images not loaded after ${PETS_CLUSTER_TIMEOUT:-180}s (log: $DIR/logs/$name.init.log)"
}

# teardown: every node powered off, then its network, routes and cgroups removed; fails if
# anything of them is left.
teardown() {
  local i br ns cg h left=0
  for ((i = 1; i <= REAL_NODES; i++)); do kill_node "$i"; done
  br="$(real_bridge)"
  for ((i = 1; i <= REAL_NODES; i++)); do
    ns="$(real_netns "$i")" cg="$(real_cgroup "$i")"
    if [[ -e "/run/netns/$ns" ]]; then
      # host-network processes of a node live in its netns; there must be none now
      if [[ -n "$(ip netns pids "$ns" 2>/dev/null)" ]]; then
        log "ERROR: processes left in $ns: $(ip netns pids "$ns" | tr '\n' ' ')"; left=1
      else
        ip netns del "$ns"
      fi
    fi
    ip link del "$(real_veth "$i")" 2>/dev/null || true
    ip route del "$(real_pod_cidr "$i")" 2>/dev/null || true
    while read -r h; do
      [[ -d "$h/$cg" ]] || continue
      find "$h/$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [[ ! -d "$h/$cg" ]] || { log "ERROR: cgroup $h/$cg still in use: $(find "$h/$cg" -name cgroup.procs -exec cat {} + | tr '\n' ' ')"; left=1; }
    done < <(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts)
  done
  ip link del "$br" 2>/dev/null || true
  ! ip link show "$br" >/dev/null 2>&1 || { log "ERROR: bridge $br is still there"; left=1; }
  # a node's mounts live and die in its own mount namespace; anything under our dir on the host
  # would be a leak: detach it, deepest first
  { grep -F " $DIR/" /proc/self/mounts || true; } | cut -d' ' -f2 | sort -r | while read -r m; do
    log "unmounting leftover $m"; umount -l "$m" || true
  done
  ! grep -qF " $DIR/" /proc/self/mounts || { log "ERROR: mounts left under $DIR: $(grep -F " $DIR/" /proc/self/mounts | cut -d' ' -f2 | tr '\n' ' ')"; left=1; }
  return "$left"
}

# ---- main -------------------------------------------------------------------------------------
cmd="${1:-}"; shift || true
case "$cmd" in
  start | kill | partition | heal | wait-images)
    need_nodes
    [[ $# -gt 0 ]] || die "usage: node.sh $cmd NODE..."
    for n in "$@"; do
      i="$(index_of "$n")"
      case "$cmd" in
        start) start_node "$i" ;;
        kill) kill_node "$i" ;;
        partition) partition "$i" ;;
        heal) heal "$i" ;;
        wait-images) wait_images "$i" ;;
      esac
    done
    ;;
  status)
    need_nodes
    if [[ $# -eq 0 ]]; then for ((i = 1; i <= REAL_NODES; i++)); do status "$i"; done
    else for n in "$@"; do status "$(index_of "$n")"; done; fi
    ;;
  list) for ((i = 1; i <= REAL_NODES; i++)); do real_node_name "$i"; done ;;
  exec)
    need_nodes
    i="$(index_of "${1:?node}")"; shift
    p="$(init_pid "$i")" || die "$(real_node_name "$i") is not running"
    exec nsenter -t "$p" -m -u -i -n -p -- "$@"
    ;;
  network-up) need_nodes; network_up ;;
  configure) need_nodes; configure "$(index_of "${1:?node}")" ;;
  teardown) [[ "$REAL_NODES" -gt 0 ]] || exit 0; teardown ;;
  -h | --help | help | "") sed -n '2,16p' "$0" ;;
  *) die "unknown command '$cmd' (node.sh help)" ;;
esac
