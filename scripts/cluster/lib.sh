# Shared by up.sh, down.sh, node.sh and cert-manager.sh (sourced, not run).
# shellcheck shell=bash

DIR="${PETS_CLUSTER_DIR:-$HOME/.cache/pulumi-pets-cluster}"
log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- pid files: NAME.pid holds the pid (as before), NAME.start its start time ------------------
# The start time (clock ticks after boot, /proc/PID/stat field 22) tells our process from a later
# one that got the same pid: nothing is ever signalled unless it matches.
proc_starttime() { # PID -> start time, or nothing when there is no such process
  local s
  s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  s="${s##*) }"            # fields after "(comm)", which may hold spaces
  set -- $s                # $1 = state (field 3) ... start time = field 22
  echo "${20}"
}
# The command prefix that records both, then execs: setsid bash -c "$RECORD_PID" PIDFILE CMD...
# shellcheck disable=SC2016
RECORD_PID='f=$(cat /proc/$$/stat); read -r -a a <<<"${f##*) }"; echo "${a[19]}" >"${0%.pid}.start"; echo $$ >"$0.tmp" && mv "$0.tmp" "$0"; exec "$@"'
# alive PID: exists and is not a zombie
alive() { local st; st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1; [[ -n "$st" && "$st" != Z ]]; }
# our_cmdline PID: its command line names a file up.sh passes to what it starts (a bare "$DIR/"
# would also match other programs when the state dir is a broad one such as $HOME)
our_cmdline() {
  local cmd
  cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 1
  case "$cmd" in
    *"$DIR/etcd"* | *"$DIR/pki/"* | *"$DIR/kube-"* | *"$DIR/kwok.kubeconfig"* | *"$DIR/Corefile"* | *"$DIR/nodes/"* | *"$DIR/cert-manager."*) return 0 ;;
  esac
  return 1
}
# pidfile_pid FILE: the pid recorded in FILE if that process is still the one we started, else
# nothing. Its start time must match FILE's .start; a pid file written by someone else (a test
# restarting a kwok process writes only the .pid) is trusted only if the command line is ours.
pidfile_pid() {
  local f=$1 pid st="" cur
  [[ -f "$f" ]] || return 1
  # (a file written without a final newline still gives its value; read only reports EOF)
  pid="$(head -c 32 "$f" 2>/dev/null | tr -d '[:space:]')"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  [[ -f "${f%.pid}.start" ]] && st="$(head -c 32 "${f%.pid}.start" | tr -d '[:space:]')"
  cur="$(proc_starttime "$pid")" || return 1
  if [[ -n "$st" && "$cur" == "$st" ]] || our_cmdline "$pid"; then echo "$pid"; else return 1; fi
}
rm_pidfile() { rm -f "$1" "${1%.pid}.start"; }
# stop_pid NAME PID [TERM|KILL]: signal and wait until it is gone (SIGKILL after 10 s)
stop_pid() {
  local name=$1 pid=$2 sig=${3:-TERM} i
  alive "$pid" || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    if ! alive "$pid"; then
      (( i < 20 )) || log "$name (pid $pid) took $((i / 10)).$((i % 10))s to exit"
      return 0
    fi
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIG$sig for 10s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 50); do alive "$pid" || return 0; sleep 0.1; done
  log "$name (pid $pid) is still there after SIGKILL"
  return 1
}

# ---- real nodes -------------------------------------------------------------------------------
# Settings are fixed by up.sh in $DIR/real-nodes.env, so node.sh and down.sh act on what was
# started whatever their own environment says.
REAL_ENV="$DIR/real-nodes.env"
load_real_nodes() { # -> REAL_NODES=0 when none were started
  REAL_NODES=0
  # shellcheck disable=SC1090
  [[ -f "$REAL_ENV" ]] && . "$REAL_ENV"
  return 0
}
real_node_name() { echo "pets-real-$1"; }            # Kubernetes node name of node I
real_netns() { echo "$NET_PREFIX-real-$1"; }         # its network namespace
real_veth() { echo "$NET_PREFIX-r$1"; }              # host end of its veth pair (15 chars max)
real_bridge() { echo "$NET_PREFIX-br"; }
real_ip() { echo "$SUBNET.$((10 + $1))"; }
real_pod_cidr() { echo "$POD_NET.$((POD_OCTET + $1)).0/24"; }
real_cgroup() { echo "$NET_PREFIX-real-$1"; }        # the node's cgroupRoot, in every v1 hierarchy
real_index() { # NODE-NAME -> I
  local n=${1#pets-real-}
  [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 && "$n" -le "$REAL_NODES" ]] || die "no real node named '$1' (pets-real-1..$REAL_NODES)"
  echo "$n"
}
cgroup_hierarchies() { # every mounted v1 hierarchy
  awk '$3 == "cgroup" {print $2}' /proc/self/mounts
}
# our_leftovers: pids of processes whose command line is ours (see our_cmdline)
our_leftovers() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ "$p" == "$$" || "$p" == "$BASHPID" ]] && continue
    our_cmdline "$p" && echo "$p"
  done
  return 0
}
