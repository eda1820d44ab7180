# shellcheck shell=bash
# Settings and helpers shared by start_slurm.sh and stop_slurm.sh (sourced, not run).
#
# Environment knobs (all optional):
#   SLURM_LOCAL_DIR        state, spool, logs and PID files     (default /tmp/slurm)
#   SLURM_LOCAL_PARTITION  name of the default partition        (default debug)
#   SLURM_LOCAL_CPUS       CPUs the node advertises             (default: the real count)
#   SLURM_LOCAL_CTLD_PORT  slurmctld port                       (default 6817)
#   SLURM_LOCAL_SLURMD_PORT slurmd port                         (default 6818)
#   SLURM_LOCAL_TIMEOUT    seconds to wait for a usable node    (default 60)
#   SLURM_CONF             the slurm.conf written and read      (default /etc/slurm/slurm.conf)

SLURM_LOCAL_DIR="${SLURM_LOCAL_DIR:-/tmp/slurm}"
SLURM_LOCAL_PARTITION="${SLURM_LOCAL_PARTITION:-debug}"
SLURM_LOCAL_CPUS="${SLURM_LOCAL_CPUS:-}"
SLURM_LOCAL_CTLD_PORT="${SLURM_LOCAL_CTLD_PORT:-6817}"
SLURM_LOCAL_SLURMD_PORT="${SLURM_LOCAL_SLURMD_PORT:-6818}"
SLURM_LOCAL_TIMEOUT="${SLURM_LOCAL_TIMEOUT:-60}"
SLURM_CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
export SLURM_CONF

STARTED_DIR="$SLURM_LOCAL_DIR/started" # PID files of the daemons *we* started
# shellcheck disable=SC2034  # used by start_slurm.sh
RUN_DIR="$SLURM_LOCAL_DIR/run"         # PID files the daemons write themselves
# shellcheck disable=SC2034  # used by start_slurm.sh
LOG_DIR="$SLURM_LOCAL_DIR/log"
LOCK_FILE="$SLURM_LOCAL_DIR/.start.lock"

log() { echo "${0##*/}: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Take the lock shared by start and stop on fd 9; daemons must be started with 9>&-.
take_lock() {
    mkdir -p "$SLURM_LOCAL_DIR"
    exec 9>"$LOCK_FILE"
    flock -w "$SLURM_LOCAL_TIMEOUT" 9 || die "could not lock $LOCK_FILE within ${SLURM_LOCAL_TIMEOUT}s"
}

# Print the PID of daemon NAME if start_slurm.sh started it and it still runs.
# A stale PID file (process gone, or PID reused by another program) is removed.
our_pid() {
    local name="$1" file="$STARTED_DIR/$1.pid" pid comm
    [ -f "$file" ] || return 1
    pid="$(cat "$file")"
    comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
    if [ -n "$pid" ] && [ "$comm" = "$name" ]; then
        echo "$pid"
        return 0
    fi
    rm -f "$file"
    return 1
}

# True when a live process named exactly NAME runs (ours or someone else's). A
# stopped daemon can linger as a zombie until PID 1 reaps it: that one does not count.
is_running() {
    local pid
    for pid in $(pgrep -x "$1" 2>/dev/null || true); do
        alive "$pid" && return 0
    done
    return 1
}

# True while PID exists and is not a zombie waiting to be reaped.
alive() {
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
    [ -n "$state" ] && [ "$state" != Z ]
}

# Stop daemon NAME if (and only if) we started it: TERM, a bounded wait, then KILL.
stop_ours() {
    local name="$1" pid i
    pid="$(our_pid "$name")" || return 0
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        log "$name (pid $pid) ignored TERM for 15 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f "$STARTED_DIR/$name.pid"
}
