#!/usr/bin/env bash
# CI: the SLURM tests against a real single-node SLURM on 127.0.0.1.
#
# Starts munged + slurmctld + slurmd with cluster/slurm/start_slurm.sh (root; installs
# the Debian packages when missing), runs the tests marked `slurm` with the active
# Python environment (which needs dask-jobqueue, from the `test` extra), and always
# stops the daemons it started. Installs nothing into the environment.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)

stop() {
    bash cluster/slurm/stop_slurm.sh || echo ".ci/slurm.sh: stop_slurm.sh failed" >&2
    echo ".ci/slurm.sh: done in $(($(date +%s) - start)) s" >&2
}

# The tests skip without dask-jobqueue; in CI that would hide a broken setup.
python -c "import dask_jobqueue" || {
    echo ".ci/slurm.sh: dask-jobqueue is missing from the active environment (pip install -e '.[test]')" >&2
    exit 1
}
trap stop EXIT

if ! bash cluster/slurm/start_slurm.sh; then
    echo ".ci/slurm.sh: cluster/slurm/start_slurm.sh failed; see ${SLURM_LOCAL_DIR:-/tmp/slurm}/log/" >&2
    exit 1
fi

CAREAMICS_DASK_SLURM=1 python -m pytest -m slurm tests/feeding/test_cluster_slurm.py -p no:cacheprovider
