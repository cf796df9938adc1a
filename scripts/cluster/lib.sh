# Shared by up.sh, down.sh and node.sh (sourced, not run).
# shellcheck shell=bash

DIR="${PETS_CLUSTER_DIR:-$HOME/.cache/pulumi-pets-cluster}"
log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- pid files: "<pid> <start time>" -----------------------------------------------------------
# The start time (clock ticks after boot, /proc/PID/stat field 22) tells our process from a later
# one that got the same pid: nothing is ever signalled unless both match.
proc_starttime() { # PID -> start time, or nothing when there is no such process
  local s
  s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  s="${s##*) }"            # fields after "(comm)", which may hold spaces
  set -- $s                # $1 = state (field 3) ... start time = field 22
  echo "${20}"
}
# alive PID: exists and is not a zombie
alive() { local st; st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1; [[ -n "$st" && "$st" != Z ]]; }
# pidfile_pid FILE: the pid recorded in FILE if that process is still the one we started, else nothing.
# Files written by older code (pid only) are trusted when the command line names our state dir.
pidfile_pid() {
  local f=$1 pid st cur
  [[ -f "$f" ]] || return 1
  read -r pid st <"$f" 2>/dev/null || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  if [[ -n "${st:-}" ]]; then
    cur="$(proc_starttime "$pid")" || return 1
    [[ "$cur" == "$st" ]] || return 1
  else
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$DIR/" || return 1
  fi
  echo "$pid"
}
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
# our_leftovers: pids of processes whose command line names one of the files up.sh passes to what
# it starts (a state dir shared with other programs must not make theirs look like ours)
our_leftovers() {
  local p cmd
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ "$p" == "$$" || "$p" == "$BASHPID" ]] && continue
    cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")" || continue
    case "$cmd" in
      *"$DIR/etcd"* | *"$DIR/pki/"* | *"$DIR/kube-"* | *"$DIR/kwok.kubeconfig"* | *"$DIR/Corefile"* | *"$DIR/nodes/"*) echo "$p" ;;
    esac
  done
}
