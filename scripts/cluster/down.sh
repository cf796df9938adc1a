#!/usr/bin/env bash
# Stop everything scripts/cluster/up.sh started (real nodes, CoreDNS, kwok nodes, scheduler,
# controller-manager, apiserver, etcd) and the cert-manager controller of cert-manager.sh, and check that nothing of it is left running.
# Only processes recorded in our pid files are signalled, and only while their start time (or,
# for a pid file someone else rewrote, their command line naming our files) still matches; real nodes are powered off by
# their PID 1, then their network namespaces, veths, bridge, routes and cgroups are removed.
# Keeps the PKI, logs and node disks in $PETS_CLUSTER_DIR; PETS_CLUSTER_PURGE=1 removes the dir.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
T0=$(date +%s)
failed=0

# Real nodes first: their kubelets would otherwise log the API server going away.
if [[ -f "$REAL_ENV" ]]; then
  t=$(date +%s)
  if "$HERE/node.sh" teardown; then
    rm -f "$REAL_ENV" "$DIR/real-nodes.json"
    log "real nodes powered off, network and cgroups removed in $(( $(date +%s) - t ))s"
  else
    failed=1
  fi
fi

if [[ -d "$DIR/pids" ]]; then
  # reverse start order: cert-manager (scripts/cluster/cert-manager.sh) and nodes first, etcd last
  for f in "$DIR/pids/cert-manager.pid" "$DIR"/pids/kwok-*.pid "$DIR/pids/coredns.pid" "$DIR/pids/kube-scheduler.pid" \
           "$DIR/pids/kube-controller-manager.pid" "$DIR/pids/kube-apiserver.pid" "$DIR/pids/etcd.pid"; do
    [[ -f "$f" ]] || continue
    name="$(basename "$f" .pid)"
    if pid="$(pidfile_pid "$f")"; then
      stop_pid "$name" "$pid" || failed=1
    fi
    rm_pidfile "$f"
  done
  # node pid files of a run whose settings file is gone: only if they are still ours
  for f in "$DIR"/pids/node-*.pid; do
    [[ -f "$f" ]] || continue
    if pid="$(pidfile_pid "$f")"; then
      log "real node process $pid without settings file: SIGKILL"
      stop_pid "$(basename "$f" .pid)" "$pid" KILL || failed=1
    fi
    rm_pidfile "$f"
  done
fi

# Anything still naming our files is reported, never signalled: its pid file is gone.
still="$(our_leftovers | grep -vx -e "$$" -e "$PPID" || true)"
if [[ -n "$still" ]]; then
  for pid in $still; do log "still running: $pid $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-120)"; done
  failed=1
fi
if [[ "$failed" != 0 ]]; then
  log "ERROR: not everything could be stopped (see above)"
  exit 1
fi
rm -f "$DIR/cert-manager.ready"
if [[ "${PETS_CLUSTER_PURGE:-0}" == 1 ]]; then rm -rf --one-file-system "$DIR"; fi
log "down in $(( $(date +%s) - T0 ))s; nothing left running"
