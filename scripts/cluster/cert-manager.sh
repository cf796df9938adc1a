#!/usr/bin/env bash
# Run the real cert-manager controller (scripts/tools/build.sh cert-manager) as a host process
# against the test cluster of scripts/cluster/up.sh:
#
#   scripts/cluster/cert-manager.sh start    # CRDs, ServiceAccount + RBAC, token, process; waits for its caches
#   scripts/cluster/cert-manager.sh stop     # SIGTERM (SIGKILL after 10 s), by its recorded pid
#   scripts/cluster/cert-manager.sh status   # exit 0 when running and synced
#
# start is idempotent (a running, synced controller is reused) and prints the log file's path.
# It runs as the ServiceAccount cert-manager/cert-manager with the chart's controller ClusterRoles
# for the controllers it starts (cert-manager-rbac.yaml), through a token kubeconfig.
# No webhook and no cainjector run: the CRDs' schemas validate the objects; the webhook's extra
# checks and defaults (and its approval check) are skipped.
#
# Files in $PETS_CLUSTER_DIR: logs/cert-manager.log, pids/cert-manager.pid,
# cert-manager.kubeconfig, cert-manager.ready (written once the informer caches synced).
# down.sh stops the controller with the rest of the cluster.
#
# Environment: PETS_CLUSTER_DIR, PETS_TOOLS_CACHE (as up.sh), PETS_CERT_MANAGER_TIMEOUT (60 s),
# PETS_CERT_MANAGER_ARGS (more controller flags, e.g. "-v=4").
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$(cd "$HERE/../tools" && pwd)"
# shellcheck source=../tools/versions.env
. "$TOOLS/versions.env"
# DIR and the pid-file helpers down.sh uses too, so either script can stop what this one started.
# shellcheck source=lib.sh
. "$HERE/lib.sh"

TOOLS_CACHE="${PETS_TOOLS_CACHE:-$HOME/.cache/pulumi-pets-tools}"
TIMEOUT="${PETS_CERT_MANAGER_TIMEOUT:-60}"
NS=cert-manager
SA=cert-manager
PID_FILE="$DIR/pids/cert-manager.pid"
LOG="$DIR/logs/cert-manager.log"
READY="$DIR/cert-manager.ready"
KCFG="$DIR/cert-manager.kubeconfig"

log() { printf '[cert-manager] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
T0=$(date +%s)
since() { echo "$(( $(date +%s) - T0 ))s"; }

running_pid() { pidfile_pid "$PID_FILE"; } # the recorded pid, if that process is still our controller

stop() {
  local pid
  pid="$(running_pid || true)"
  if [[ -n "$pid" ]]; then
    stop_pid cert-manager "$pid" || die "pid $pid is still running"
    log "stopped (pid $pid) in $(since)"
  fi
  rm_pidfile "$PID_FILE"
  rm -f "$READY"
}

start() {
  local kc="$DIR/kubeconfig" key bin pid kubectl
  [[ -f "$kc" ]] || die "no cluster: $kc missing (run scripts/cluster/up.sh first)"
  kubectl="$TOOLS_CACHE/kubernetes-$KUBERNETES_VERSION/bin/kubectl"
  [[ -x "$kubectl" ]] || die "kubectl missing: run scripts/cluster/up.sh first"
  k() { "$kubectl" --kubeconfig "$kc" "$@"; }

  pid="$(running_pid || true)"
  if [[ -n "$pid" && -f "$READY" ]]; then
    log "already running (pid $pid), reusing it"
    echo "$LOG"
    return 0
  fi
  stop

  # Same key as build.sh's cert_manager_key: the version plus a hash of our main.go.
  key="$CERT_MANAGER_VERSION-$(sha256sum "$TOOLS/cert-manager/main.go" | cut -c1-12)"
  bin="$TOOLS_CACHE/cert-manager-$key/bin/cert-manager-controller"
  if [[ ! -f "$TOOLS_CACHE/cert-manager-$key/.complete" ]]; then
    log "controller not built yet: scripts/tools/build.sh cert-manager"
    "$TOOLS/build.sh" cert-manager >/dev/null
  fi

  # All six CRDs, as the chart installs them (the controller's informers need the four
  # cert-manager.io ones); server-side apply, so re-running is harmless.
  local crds f
  crds="$("$TOOLS/cert-manager-crds.sh")"
  for f in "$crds"/*.yaml; do k apply --server-side --force-conflicts -f "$f" >/dev/null; done
  k wait --for=condition=Established --timeout=60s \
    crd/certificates.cert-manager.io crd/certificaterequests.cert-manager.io \
    crd/issuers.cert-manager.io crd/clusterissuers.cert-manager.io >/dev/null
  k apply -f "$HERE/cert-manager-rbac.yaml" >/dev/null
  local token ca
  token="$(k -n "$NS" create token "$SA" --duration=12h)"
  ca="$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
  (
    umask 077
    cat >"$KCFG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: pets
  cluster:
    server: $(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
    certificate-authority-data: $ca
users:
- name: $SA
  user:
    token: $token
contexts:
- name: cert-manager
  context: {cluster: pets, user: $SA, namespace: $NS}
current-context: cert-manager
EOF
  )
  log "CRDs, RBAC and token ready ($(since))"

  mkdir -p "$DIR/logs" "$DIR/pids"
  rm -f "$READY"
  # shellcheck disable=SC2086 # PETS_CERT_MANAGER_ARGS is a list of flags
  setsid bash -c "$RECORD_PID" "$PID_FILE" "$bin" \
    --kubeconfig="$KCFG" --cluster-resource-namespace="$NS" --ready-file="$READY" \
    ${PETS_CERT_MANAGER_ARGS:-} >"$LOG" 2>&1 </dev/null &
  local deadline=$(( $(date +%s) + TIMEOUT ))
  until [[ -f "$READY" ]]; do
    if [[ -s "$PID_FILE" ]] && ! alive "$(cat "$PID_FILE")"; then
      tail -n 30 "$LOG" >&2 || true
      rm_pidfile "$PID_FILE"
      die "the controller exited (log: $LOG)"
    fi
    (( $(date +%s) < deadline )) || { tail -n 30 "$LOG" >&2; die "not synced after ${TIMEOUT}s (log: $LOG)"; }
    sleep 0.2
  done
  log "controller $("$bin" --version) running (pid $(cat "$PID_FILE")), caches synced, in $(since)"
  echo "$LOG"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) pid="$(running_pid || true)"; [[ -n "$pid" && -f "$READY" ]] && { log "running (pid $pid)"; exit 0; }; log "not running"; exit 1 ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
