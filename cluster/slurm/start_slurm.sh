#!/usr/bin/env bash
# Start a single-node SLURM (munged, slurmctld, slurmd) on 127.0.0.1 for tests.
#
# Idempotent: installs Debian's slurmctld/slurmd/slurm-client/munge when missing,
# writes $SLURM_CONF, starts the daemons that are not running yet (recording their
# PIDs in $SLURM_LOCAL_DIR/started/ so stop_slurm.sh stops only those), and waits
# until the node accepts jobs. Run as root. Knobs: see common.sh. Facts behind each
# setting: cluster/README.md ("A real SLURM on one machine").
#
#   sudo bash cluster/slurm/start_slurm.sh            # ~10 s first time, <1 s after
#   SLURM_LOCAL_CPUS=8 bash cluster/slurm/start_slurm.sh   # room for 8 one-core jobs
set -euo pipefail

# shellcheck source=common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PATH="$PATH:/usr/sbin:/sbin"
[ "$(id -u)" -eq 0 ] || die "run as root: the daemons and $SLURM_CONF need it (got uid $(id -u))"
take_lock
mkdir -p "$STARTED_DIR" "$RUN_DIR" "$LOG_DIR" "$SLURM_LOCAL_DIR/state" "$SLURM_LOCAL_DIR/spool"

install_packages() {
    local missing=0 tool
    for tool in slurmctld slurmd sinfo sbatch munged mungekey; do
        command -v "$tool" >/dev/null 2>&1 || missing=1
    done
    [ "$missing" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "SLURM is not installed and apt-get is missing: install slurmctld slurmd slurm-client munge"
    log "installing slurmctld slurmd slurm-client munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >"$LOG_DIR/apt.log" 2>&1 || die "apt-get update failed; see $LOG_DIR/apt.log"
    apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge \
        >>"$LOG_DIR/apt.log" 2>&1 || die "apt-get install failed; see $LOG_DIR/apt.log"
}

ensure_munge_key() {
    # Debian's postinst creates the key; after a purge it is gone.
    [ -s /etc/munge/munge.key ] && return 0
    log "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0600 /etc/munge/munge.key
}

# Copy daemon NAME's own PID file into started/ once it appears (bounded wait).
record_pid() {
    local name="$1" pidfile="$2" i pid
    for ((i = 0; i < 100; i++)); do
        if [ -s "$pidfile" ]; then
            pid="$(tr -d '[:space:]' <"$pidfile")"
            if [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "$name" ]; then
                echo "$pid" >"$STARTED_DIR/$name.pid"
                log "started $name (pid $pid)"
                return 0
            fi
        fi
        sleep 0.1
    done
    die "$name did not start; see $LOG_DIR/$name.log and $LOG_DIR/$name.out"
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munged() {
    munge_works && return 0
    # No systemd: nothing creates RuntimeDirectory=/run/munge for us.
    mkdir -p /run/munge
    chown munge:munge /run/munge
    chmod 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged --force </dev/null >>"$LOG_DIR/munged.out" 2>&1 9>&-
    record_pid munged /run/munge/munged.pid
    local i
    for ((i = 0; i < 50; i++)); do
        munge_works && return 0
        sleep 0.1
    done
    die "munged runs but 'munge -n | unmunge' fails; see /var/log/munge/munged.log"
}

# The node line: the real topology from `slurmd -C`, RealMemory at 90 %, our address.
node_line() {
    local hw node mem cpus
    hw="$(/usr/sbin/slurmd -C 2>/dev/null | grep -m1 '^NodeName=')" || die "'slurmd -C' printed no NodeName line"
    node="$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$hw")"
    mem="$(sed -nE 's/.*RealMemory=([0-9]+).*/\1/p' <<<"$hw")"
    [ "$node" = "$NODE" ] || hw="${hw/NodeName=$node/NodeName=$NODE}"
    hw="${hw/RealMemory=$mem/RealMemory=$((mem * 9 / 10))}"
    if [ -n "$SLURM_LOCAL_CPUS" ]; then
        cpus="$SLURM_LOCAL_CPUS"
        [[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "SLURM_LOCAL_CPUS must be a positive integer, got '$cpus'"
        hw="NodeName=$NODE CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$((mem * 9 / 10))"
    fi
    echo "$hw NodeAddr=127.0.0.1 Port=$SLURM_LOCAL_SLURMD_PORT State=UNKNOWN"
}

write_config() {
    local new="$SLURM_LOCAL_DIR/slurm.conf.new" overrides="" node_def
    [ -n "$SLURM_LOCAL_CPUS" ] && overrides="SlurmdParameters=config_overrides"
    node_def="$(node_line)"
    cat >"$new" <<EOF
# Written by cluster/slurm/start_slurm.sh: a single-node SLURM on 127.0.0.1.
ClusterName=careamics-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$SLURM_LOCAL_CTLD_PORT
SlurmdPort=$SLURM_LOCAL_SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$SLURM_LOCAL_DIR/state
SlurmdSpoolDir=$SLURM_LOCAL_DIR/spool
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
InactiveLimit=0
KillWait=5
MinJobAge=30
$overrides
$node_def
PartitionName=$SLURM_LOCAL_PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    CONFIG_CHANGED=0
    if ! cmp -s "$new" "$SLURM_CONF"; then
        CONFIG_CHANGED=1
        mkdir -p "$(dirname "$SLURM_CONF")"
        mv "$new" "$SLURM_CONF"
        log "wrote $SLURM_CONF"
    else
        rm -f "$new"
    fi
}

start_slurm_daemon() {
    local name="$1"
    shift
    if is_running "$name"; then
        our_pid "$name" >/dev/null || log "$name was started by someone else; leaving it alone"
        return 0
    fi
    rm -f "$RUN_DIR/$name.pid"
    "/usr/sbin/$name" "$@" </dev/null >>"$LOG_DIR/$name.out" 2>&1 9>&- ||
        die "$name failed to start; see $LOG_DIR/$name.log and $LOG_DIR/$name.out"
    record_pid "$name" "$RUN_DIR/$name.pid"
}

wait_until_usable() {
    local deadline=$((SECONDS + SLURM_LOCAL_TIMEOUT)) state=""
    while ((SECONDS < deadline)); do
        state="$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n1 || true)"
        case "$state" in
            idle | mixed | allocated | completing)
                log "node $NODE is $state; partition $SLURM_LOCAL_PARTITION ready"
                return 0
                ;;
            *down* | *drain* | *fail*)
                scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
                ;;
        esac
        sleep 0.2
    done
    tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 2>/dev/null || true
    die "node $NODE not usable after ${SLURM_LOCAL_TIMEOUT}s (state '${state:-none}')"
}

install_packages
NODE="$(hostname -s)"
ensure_munge_key
write_config
if [ "$CONFIG_CHANGED" -eq 1 ]; then
    # Node definitions cannot change through `scontrol reconfigure`: restart ours.
    for daemon in slurmd slurmctld; do
        if our_pid "$daemon" >/dev/null; then
            stop_ours "$daemon"
        elif is_running "$daemon"; then
            log "warning: $daemon was started by someone else and keeps its old config"
        fi
    done
fi
start_munged
start_slurm_daemon slurmctld -c -f "$SLURM_CONF"
start_slurm_daemon slurmd -f "$SLURM_CONF"
wait_until_usable
