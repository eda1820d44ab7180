#!/usr/bin/env bash
# Stop the single-node SLURM that start_slurm.sh started, and nothing else.
#
# Cancels the jobs left in the local cluster (stopping slurmd does not kill them),
# waits for them to end, then stops slurmd, slurmctld and munged, but only those
# whose PID files start_slurm.sh wrote in $SLURM_LOCAL_DIR/started/ and whose
# /proc/PID/comm still matches. Idempotent; every wait is bounded.
set -euo pipefail

# shellcheck source=common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PATH="$PATH:/usr/sbin:/sbin"

if [ ! -d "$STARTED_DIR" ]; then
    log "nothing to stop ($STARTED_DIR does not exist)"
    exit 0
fi
take_lock

cancel_jobs() {
    local jobs i
    jobs="$(squeue -h -o %A 2>/dev/null || true)"
    [ -n "$jobs" ] || return 0
    log "cancelling jobs: $(tr '\n' ' ' <<<"$jobs")"
    # shellcheck disable=SC2086  # one job id per word
    scancel $jobs 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        [ -z "$(squeue -h -o %A 2>/dev/null || true)" ] && ! is_running slurmstepd && return 0
        sleep 0.1
    done
    log "warning: jobs still listed 20 s after scancel: $(squeue -h -o '%A %T' 2>/dev/null | tr '\n' ' ')"
}

# Our slurmctld means the cluster, and so its jobs, are ours.
if our_pid slurmctld >/dev/null; then
    cancel_jobs
fi
for daemon in slurmd slurmctld munged; do
    stop_ours "$daemon"
done
log "stopped"
