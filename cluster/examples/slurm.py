"""Train from batches built by Dask workers that SLURM starts (dask-jobqueue).

Needs the ``cluster`` extra (dask-jobqueue) and a SLURM cluster; on one machine,
start one with ``sudo bash cluster/slurm/start_slurm.sh``, then::

    python cluster/examples/slurm.py --jobs 2

On a real HPC cluster, drop ``interface="lo"`` (or name the cluster network's
interface, e.g. ``ib0``) and set ``queue``, ``account`` and ``walltime`` for your
site; keep ``log_directory`` on a shared file system.
"""

from __future__ import annotations

import argparse
import tempfile

from dask_jobqueue.slurm import SLURMCluster
from distributed import Client
from train_stream import train


def main() -> None:
    """Start SLURM jobs that run Dask workers, train, and cancel the jobs."""
    parser = argparse.ArgumentParser(description="Train on SLURM-started workers.")
    parser.add_argument("--jobs", type=int, default=2, help="SLURM jobs (workers)")
    parser.add_argument("--queue", default="debug", help="SLURM partition")
    parser.add_argument("--source", help="a Zarr store (SCYX) the workers can read")
    args = parser.parse_args()
    logs = tempfile.mkdtemp(prefix="careamics-jobqueue-")
    cluster = SLURMCluster(
        cores=1,  # one batch task at a time per job
        processes=1,
        memory="2GB",  # at most the node's RealMemory, or sbatch refuses the job
        queue=args.queue,
        walltime="00:30:00",
        interface="lo",  # the single-node test cluster: everything on 127.0.0.1
        log_directory=logs,  # otherwise slurm-<id>.out lands in the cwd
    )
    try:
        print(cluster.job_script())  # type: ignore[no-untyped-call]
        cluster.scale(jobs=args.jobs)  # type: ignore[no-untyped-call]
        with Client(cluster) as client:
            client.wait_for_workers(args.jobs, timeout=120)
            print(f"{args.jobs} workers from SLURM; dashboard: {client.dashboard_link}")
            train(client, source=args.source)
    finally:
        cluster.close()  # scancels the jobs
    print(f"job logs: {logs}")


if __name__ == "__main__":
    main()
