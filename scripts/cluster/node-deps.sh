#!/usr/bin/env bash
# Debian packages the real nodes need on this machine, installed with apt-get when missing
# (idempotent; nothing is done when all are present):
#   containerd, runc               the container runtime (one containerd per node)
#   containernetworking-plugins    CNI bridge, host-local, loopback, portmap (/usr/lib/cni)
#   iptables, conntrack            kube-proxy's iptables mode
#   busybox-static                 nslookup for the DNS check in up.sh, and the busybox image
#   gcc, libc6-dev                 the static pause binary (scripts/images/build.sh)
set -euo pipefail
PKGS=(containerd runc containernetworking-plugins iptables conntrack busybox-static gcc libc6-dev)
log() { printf '[cluster] %s\n' "$*" >&2; }

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
[[ "$(id -u)" == 0 ]] || { log "ERROR: real nodes need root (missing packages: ${missing[*]})"; exit 1; }
t0=$(date +%s)
log "installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
# an old or empty package list cannot find them: update once, then install
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
log "installed ${missing[*]} in $(( $(date +%s) - t0 ))s"
