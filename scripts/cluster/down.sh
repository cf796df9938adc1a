#!/usr/bin/env bash
# Stop everything scripts/cluster/up.sh started (kwok nodes, scheduler, controller-manager,
# apiserver, etcd) and the cert-manager controller of cert-manager.sh, by the pids they recorded,
# and check that nothing of it is left running.
# Keeps the PKI and logs in $PETS_CLUSTER_DIR; PETS_CLUSTER_PURGE=1 removes the whole dir.
set -euo pipefail

DIR="${PETS_CLUSTER_DIR:-$HOME/.cache/pulumi-pets-cluster}"
log() { printf '[cluster] %s\n' "$*" >&2; }
T0=$(date +%s)

# alive PID: exists and is not a zombie (an exited child of up.sh waits for its new parent to reap it)
alive() { local st; st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1; [[ -n "$st" && "$st" != Z ]]; }

stop_pid() { # NAME PID
  local name=$1 pid=$2 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    if ! alive "$pid"; then
      (( i < 20 )) || log "$name (pid $pid) took $((i / 10)).$((i % 10))s to exit"
      return 0
    fi
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIGTERM for 10s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 50); do alive "$pid" || return 0; sleep 0.1; done
  log "$name (pid $pid) is still there after SIGKILL"
}

if [[ -d "$DIR/pids" ]]; then
  # reverse start order: cert-manager (scripts/cluster/cert-manager.sh) and nodes first, etcd last
  for f in "$DIR/pids/cert-manager.pid" "$DIR"/pids/kwok-*.pid "$DIR/pids/kube-scheduler.pid" "$DIR/pids/kube-controller-manager.pid" \
           "$DIR/pids/kube-apiserver.pid" "$DIR/pids/etcd.pid"; do
    [[ -f "$f" ]] || continue
    name="$(basename "$f" .pid)"
    pid="$(cat "$f" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]]; then
      # only a process that is still ours: its command line names our state dir
      if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$DIR/"; then
        stop_pid "$name" "$pid"
      fi
    fi
    rm -f "$f"
  done
fi

# Anything else still running with our state dir on its command line was started by up.sh too
# (e.g. a pid file lost to a crash): stop it by its own pid.
left="$(pgrep -f -- "$DIR/" || true)"
for pid in $left; do
  [[ "$pid" == "$$" || "$pid" == "$PPID" ]] && continue
  log "stray process $pid: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-100)"
  stop_pid stray "$pid"
done
still="$(pgrep -f -- "$DIR/" | grep -vx -e "$$" -e "$PPID" || true)"
if [[ -n "$still" ]]; then
  log "ERROR: still running: $still"
  exit 1
fi
rm -f "$DIR/cert-manager.ready"
if [[ "${PETS_CLUSTER_PURGE:-0}" == 1 ]]; then rm -rf "$DIR"; fi
log "down in $(( $(date +%s) - T0 ))s; nothing left running"
