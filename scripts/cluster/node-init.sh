#!/usr/bin/env bash
# PID 1 of a real node (started by node.sh inside the node's network namespace and new PID, mount
# and UTS namespaces). Like a machine's init: mounts the node's own disks over the standard paths,
# starts containerd, loads the images, then runs kube-proxy and the kubelet and restarts either
# when it dies (as systemd's Restart=always does). Killing this process kills every process of the
# node (the kernel kills a PID namespace with its init): that is a power loss.
#
#   node-init.sh NODE_DIR      (NODE_DIR/etc/node.env holds the node's settings)
set -uo pipefail
NODE_DIR=$1
# shellcheck source=/dev/null
. "$NODE_DIR/etc/node.env"   # NODE_NAME NODE_IP K8S_BIN LOGS SHARED_DIR
say() { printf '%s [%s init] %s\n' "$(date -u '+%H:%M:%S.%3N')" "$NODE_NAME" "$*"; }
fail() { say "FATAL: $*"; exit 1; }
T0=$(date +%s%N)
ms() { echo "$(( ($(date +%s%N) - T0) / 1000000 ))ms"; }
trap 'say "SIGTERM: powering off"; exit 0' TERM INT

hostname "$NODE_NAME"
# The node's own /run (containerd state and socket, pod netns files, iptables lock): empty at
# every boot, like a tmpfs /run after a reboot, and never the host's.
mount -t tmpfs -o mode=0755,size=64m "$NODE_NAME-run" /run || fail "mount /run"
mkdir -p /run/containerd /run/netns /run/lock
# Its disks over the standard paths (mount points are created on the host when missing: empty dirs).
disk() { mkdir -p "$1" "$2" && mount --bind "$1" "$2" || fail "bind $1 -> $2"; }
disk "$NODE_DIR/kubelet" /var/lib/kubelet
disk "$NODE_DIR/containerd" /var/lib/containerd
disk "$NODE_DIR/cni" /var/lib/cni
disk "$NODE_DIR/cni-conf" /etc/cni/net.d
disk "$NODE_DIR/pod-logs" /var/log/pods
disk "$NODE_DIR/container-logs" /var/log/containers
disk "$NODE_DIR/local-path" /opt/local-path-provisioner
disk "$NODE_DIR/etc" /var/lib/pets-node
disk "$SHARED_DIR" /srv/pets-shared
# Name resolution of the node itself: the cluster DNS only (nothing may leave this machine).
mount --bind /var/lib/pets-node/resolv.conf /etc/resolv.conf || fail "bind resolv.conf"
# The kubelet sets vm.overcommit_memory=1, kernel.panic=10 and kernel.panic_on_oops=1 unless they
# already have those values. They are global (not per namespace): the node sees files with those
# values instead, so the host's settings stay as they are.
mkdir -p /run/pets-sysctl
for kv in vm/overcommit_memory=1 kernel/panic=10 kernel/panic_on_oops=1; do
  key=${kv%%=*} val=${kv#*=}
  [[ "$(cat "/proc/sys/$key")" == "$val" ]] && continue
  printf '%s\n' "$val" >"/run/pets-sysctl/${key//\//.}"
  mount --bind "/run/pets-sysctl/${key//\//.}" "/proc/sys/$key" || fail "mask /proc/sys/$key"
done
say "mounts ready ($(ms))"

containerd --config /var/lib/pets-node/containerd.toml >>"$LOGS/$NODE_NAME.containerd.log" 2>&1 &
CTR=(ctr --address /run/containerd/containerd.sock -n k8s.io)
for _ in $(seq 300); do "${CTR[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${CTR[@]}" version >/dev/null 2>&1 || fail "containerd did not start (log: $LOGS/$NODE_NAME.containerd.log)"
say "containerd up ($(ms))"

# First boot after `up.sh` (a new, empty cluster): containers of an earlier cluster are removed,
# the images stay (the kubelet would clean them up too, later and noisily).
if [[ -f /var/lib/pets-node/fresh ]]; then
  ids="$("${CTR[@]}" containers ls -q)"
  if [[ -n "$ids" ]]; then
    for id in $ids; do
      "${CTR[@]}" tasks kill -s KILL "$id" >/dev/null 2>&1
      "${CTR[@]}" tasks delete -f "$id" >/dev/null 2>&1
      "${CTR[@]}" containers delete "$id" >/dev/null 2>&1
    done
    say "removed $(wc -w <<<"$ids") containers of an earlier cluster ($(ms))"
  fi
  rm -f /var/lib/pets-node/fresh
fi

# Images (scripts/images/build.sh): imported once per recipe key, kept on the node's disk.
mkdir -p /var/lib/containerd/pets-imported
while read -r name ref tar key; do
  [[ -n "$name" ]] || continue
  stamp="/var/lib/containerd/pets-imported/$name"
  if [[ "$(cat "$stamp" 2>/dev/null)" == "$key" ]] && "${CTR[@]}" images ls -q "name==$ref" | grep -qx "$ref"; then
    continue
  fi
  t=$(date +%s%N)
  "${CTR[@]}" images import "$tar" >/dev/null 2>>"$LOGS/$NODE_NAME.containerd.log" ||
    fail "import of $tar failed"
  printf '%s\n' "$key" >"$stamp"
  say "imported $ref in $(( ($(date +%s%N) - t) / 1000000 ))ms"
done </var/lib/pets-node/images.list
touch /run/images-ready
say "images ready ($(ms))"

# supervise NAME CMD...: run CMD, and again 1 s after it exits, for ever
supervise() {
  local name=$1 rc; shift
  while :; do
    "$@" >>"$LOGS/$NODE_NAME.$name.log" 2>&1
    rc=$?
    say "$name exited ($rc): restarting in 1s"
    sleep 1
  done
}
supervise kube-proxy "$K8S_BIN/kube-proxy" --config=/var/lib/pets-node/kube-proxy.yaml --v=1 &
supervise kubelet "$K8S_BIN/kubelet" --config=/var/lib/pets-node/kubelet.yaml \
  --kubeconfig=/var/lib/pets-node/kubelet.kubeconfig --hostname-override="$NODE_NAME" \
  --node-ip="$NODE_IP" --node-labels=type=real --v=1 &
say "kube-proxy and kubelet started ($(ms))"
# As init, reap every orphan (containerd's shims are re-parented here) until powered off.
while :; do wait; sleep 1; done
