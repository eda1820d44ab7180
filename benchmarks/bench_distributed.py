"""Distributed path benchmark (issue 16): CPU per batch and role, threads vs cluster.

Random 64 x 64 patches in batches of 32 from a synthetic uint16 Zarr v3 store
(``64 x 2048 x 2048``, 256 x 256 chunks, zstd: 512 MiB) are streamed by a
:class:`careamics_dask.BatchStream`, each mode in a fresh process, the modes
alternating, ``--warmup`` batches unmeasured and then ``--batches`` measured:

``threads``
    ``BatchStream(dataset)``: local threads, no cluster.
``cluster``
    ``BatchStream(dataset, get_client())``: the default embedded cluster (scheduler
    in the client process, worker processes beside it).
``split``
    The same stream against a scheduler in its own process (``dask scheduler``) and
    ``dask worker`` processes, so the scheduler's CPU is measured apart from the
    client's (the embedded cluster runs both in one process).
``null``
    ``split`` with a plan whose batch task returns a prepared batch of the same shape
    (no read, no decode): the ceiling of scheduler + transfer + client alone.
``null-embedded``
    The null batch on the default embedded cluster.

For each mode it reports patches/s (wall), patches per CPU-second of all processes,
and CPU ms per batch on each role: the client process (and, inside it, the consumer,
the stream's fetch thread, the event loop, distributed's offload thread), the
scheduler process and the workers (with their nannies). ``--old PATH`` also runs every
mode with the code of another checkout (``PYTHONPATH=PATH``), alternating with this
one. ``--profile DIR`` records each run with ``py-spy record --subprocesses`` into
DIR (a profile costs CPU; its runs are not the figures).

    python benchmarks/bench_distributed.py                         # 512 MiB store
    python benchmarks/bench_distributed.py --modes threads cluster --repeat 3
    git worktree add /tmp/old16 ba0e29c
    python benchmarks/bench_distributed.py --old /tmp/old16 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ARRAY, ensure_store

if TYPE_CHECKING:
    import numpy.typing as npt

HERE = Path(__file__).resolve()
MODES = ("threads", "cluster", "split", "null", "null-embedded")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None, help="store location")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "careamics-dask-bench",
        help="where the store is written once (unless --store)",
    )
    parser.add_argument("--samples", type=int, default=64, help="S of the store")
    parser.add_argument("--side", type=int, default=2048, help="Y = X of the store")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--batches", type=int, default=200, help="measured batches")
    parser.add_argument(
        "--warmup",
        type=int,
        default=40,
        help="unmeasured batches (enough for every worker to run a task and import)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="rounds of all modes")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument(
        "--workers", type=int, default=None, help="workers (default: get_client's)"
    )
    parser.add_argument("--threads", type=int, default=None, help="threads per worker")
    parser.add_argument("--old", type=Path, default=None, help="another checkout")
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy output dir")
    parser.add_argument(
        "--attach",
        type=Path,
        default=None,
        help="py-spy raw profile of the measured batches only (attached after warm-up)",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


# --- the null batch ------------------------------------------------------------------


_PREPARED: dict[tuple[int, ...], npt.NDArray[np.float32]] = {}


@dataclasses.dataclass(frozen=True)
class NullPlan:
    """A batch plan whose batches are one prepared array (per worker process)."""

    shape: tuple[int, ...]
    threads: int = 1
    cache_bytes: int = 0
    backend: str = "zarr"
    chunk_cache_bytes: int = 0

    def build(
        self, rows: Any, indices: npt.NDArray[np.int64], epoch: int
    ) -> tuple[npt.NDArray[np.float32], None]:
        """Return the prepared batch (made once per process)."""
        shape = (len(indices), *self.shape[1:])
        if shape not in _PREPARED:
            _PREPARED[shape] = np.random.default_rng(0).random(shape, dtype=np.float32)
        return _PREPARED[shape], None


class NullDataset:
    """A dataset whose batches are prepared: the real one's table, a null plan."""

    def __init__(self, dataset: Any, shape: tuple[int, ...]) -> None:
        self._dataset = dataset
        self.plan = NullPlan(shape)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)

    def __len__(self) -> int:
        return len(self._dataset)


# --- one run, in a fresh process -----------------------------------------------------


def build_dataset(root: Path, args: argparse.Namespace) -> Any:
    from careamics_dask.config import DataConfig
    from careamics_dask.factory import create_dataset

    config = DataConfig(
        mode="training",
        data_type="zarr",
        axes="SYX",
        patching={"name": "random", "patch_size": [args.patch, args.patch]},
        normalization={"name": "mean_std", "input_means": [900], "input_stds": [400]},
        batch_size=args.batch_size,
        seed=7,
    )
    return create_dataset(config, root / ARRAY, None)


def thread_cpu(pid: int) -> dict[int, float]:
    import psutil

    return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}


def thread_names() -> dict[int, str]:
    import threading

    return {t.native_id: t.name for t in threading.enumerate() if t.native_id}


def os_thread_name(pid: int, tid: int) -> str:
    """The kernel's name of a thread (a native library's threads name themselves)."""
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return ""


def worker_thread_role(name: str) -> str:
    """A worker process's thread, by its Python name (or its kernel name)."""
    if name == "MainThread":
        return "event loop"
    if "Dask-Default-Threads" in name:
        return "task thread"
    if name.startswith("ts_"):
        return "TensorStore pool"  # read + decode of chunks, in C++ threads
    return "other threads"


def worker_threads_cpu(client: Any, pids: list[int]) -> dict[str, float]:
    """CPU seconds per role of the threads of the worker processes (not nannies)."""
    import psutil

    names: dict[int, str] = {}
    for found in client.run(thread_names).values():
        names.update(found)
    cpu: dict[str, float] = {}
    for pid in pids:
        try:
            threads = psutil.Process(pid).threads()
        except psutil.Error:
            continue
        for t in threads:
            name = names.get(t.id) or os_thread_name(pid, t.id)
            role = worker_thread_role(name)
            if os.environ.get("BENCH_THREADS"):
                used = t.user_time + t.system_time
                print(f"# {pid} {t.id} {name!r} {role} {used:.2f}", file=sys.stderr)
            cpu[role] = cpu.get(role, 0.0) + t.user_time + t.system_time
    return cpu


def role_of(name: str) -> str:
    if name == "MainThread":
        return "consumer"
    if name.startswith("careamics-batch-fetch"):
        return "fetch thread"
    if name.startswith("careamics-batch"):
        return "batch threads"
    if name.startswith("ts_"):
        return "TensorStore pool"
    if "IO loop" in name or "IOLoop" in name or name.startswith("AsyncProcess"):
        return "event loop"
    if "Dask-Offload" in name or "offload" in name.lower():
        return "offload"
    return "other threads"


def process_cpu(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class SplitCluster:
    """A scheduler process and ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, workers: int, threads: int, tmp: Path) -> None:
        self.file = tmp / "scheduler.json"
        python = sys.executable
        self.procs = [
            subprocess.Popen(
                [
                    python, "-m", "distributed.cli.dask_scheduler",
                    "--host", "127.0.0.1", "--port", "0",
                    "--dashboard-address", "127.0.0.1:0",
                    "--scheduler-file", str(self.file),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        ]  # fmt: skip
        for _ in range(200):
            if self.file.exists():
                break
            time.sleep(0.1)
        self.procs.append(
            subprocess.Popen(
                [
                    python, "-m", "distributed.cli.dask_worker",
                    "--scheduler-file", str(self.file),
                    "--nworkers", str(workers), "--nthreads", str(threads),
                    "--host", "127.0.0.1", "--memory-limit", "auto",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            proc.wait(30)


def attach_profiler(out: Path, pid: int) -> subprocess.Popen[bytes]:
    """Start ``py-spy record`` on this process and its children (the measured part).

    Its samples are the stacks of the measured batches only, without start-up and
    warm-up; py-spy's own CPU is not counted (it is not a child of this process).
    """
    spy = subprocess.Popen(
        [
            "py-spy", "record", "--pid", str(pid), "--subprocesses", "--rate", "250",
            "--format", "raw", "--threads", "--output", str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    time.sleep(2.0)  # py-spy attaches to every process first
    return spy


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Run one mode in this process; return its figures."""
    import psutil

    from careamics_dask.feeding import BatchStream, get_client

    mode = args.child
    root = args.store
    dataset = build_dataset(root, args)
    if mode.startswith("null"):
        dataset = NullDataset(dataset, (args.batch_size, 1, args.patch, args.patch))
    me = os.getpid()
    split: SplitCluster | None = None
    client: Any = None
    scheduler_pids: list[int] = []
    worker_pids: list[int] = []
    worker_processes: list[int] = []
    if mode in ("cluster", "null-embedded"):
        options = {}
        if args.workers:
            options["n_workers"] = args.workers
        if args.threads:
            options["threads_per_worker"] = args.threads
        client = get_client(**options)
    elif mode in ("split", "null"):
        from distributed import Client

        from careamics_dask.runtime import get_option

        split = SplitCluster(
            args.workers or min(os.cpu_count() or 1, 4),
            args.threads or int(get_option("client.threads-per-worker")),
            Path(tempfile.mkdtemp()),
        )
        client = Client(scheduler_file=str(split.file))  # type: ignore[no-untyped-call]
        scheduler_pids = [client.run_on_scheduler(os.getpid)]
    if client is not None:
        workers = args.workers or min(os.cpu_count() or 1, 4)
        client.wait_for_workers(workers)
        worker_pids = list(client.run(os.getpid).values())
        worker_processes = list(worker_pids)
        nannies = {psutil.Process(p).ppid() for p in worker_pids} - {me}
        if split is not None:
            nannies -= {split.procs[-1].pid}
            worker_pids += [split.procs[-1].pid]  # the dask worker launcher
        worker_pids += sorted(nannies)
    stream = BatchStream(dataset, client, shuffle=True)
    if args.warmup + args.batches > len(stream):
        raise SystemExit(f"the store is too small: {len(stream)} batches per epoch")
    iterator = iter(stream)
    for _ in range(args.warmup):
        next(iterator)
    spy = attach_profiler(args.attach, me) if args.attach else None
    names = thread_names()
    threads_before = thread_cpu(me)
    workers_before = worker_threads_cpu(client, worker_processes) if client else {}
    before = (process_cpu([me]), process_cpu(scheduler_pids), process_cpu(worker_pids))
    start = time.perf_counter()
    for _ in range(args.batches):
        batch = next(iterator)
    wall = time.perf_counter() - start
    after = (process_cpu([me]), process_cpu(scheduler_pids), process_cpu(worker_pids))
    threads_after = thread_cpu(me)
    workers_after = worker_threads_cpu(client, worker_processes) if client else {}
    names.update(thread_names())
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    assert batch.input.shape[0] == args.batch_size
    iterator.close()  # type: ignore[attr-defined]
    per_thread: dict[str, float] = {}
    for tid, cpu in threads_after.items():
        role = role_of(names.get(tid, "") or os_thread_name(me, tid))
        per_thread[role] = per_thread.get(role, 0.0) + cpu - threads_before.get(tid, 0)
    n = args.batches
    used = [b - a for a, b in zip(before, after, strict=True)]
    client_cpu, scheduler_cpu, worker_cpu = used
    result = {
        "mode": mode,
        "wall s": wall,
        "patches/s": n * args.batch_size / wall,
        "cpu s": client_cpu + scheduler_cpu + worker_cpu,
        "client ms/batch": client_cpu / n * 1e3,
        "scheduler ms/batch": scheduler_cpu / n * 1e3 if scheduler_pids else None,
        "workers ms/batch": worker_cpu / n * 1e3,
        "client threads ms/batch": {k: v / n * 1e3 for k, v in per_thread.items()},
        "worker threads ms/batch": {
            k: (v - workers_before.get(k, 0.0)) / n * 1e3
            for k, v in workers_after.items()
        },
        "workers": len(client.nthreads()) if client is not None else 0,
        "threads per worker": (
            max(client.nthreads().values()) if client is not None else 0
        ),
    }
    result["patches per cpu-s"] = n * args.batch_size / result["cpu s"]
    describe = getattr(stream, "path", None)
    if describe is not None:
        result["path"] = str(describe)
    if client is not None:
        client.close()
    if split is not None:
        split.close()
    return result


# --- the parent: alternate modes and checkouts ----------------------------------------


def run_child(
    mode: str, code: Path, args: argparse.Namespace, root: Path, tag: str
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE),
        "--child",
        mode,
        "--store",
        str(root),
        "--batches",
        str(args.batches),
        "--warmup",
        str(args.warmup),
        "--batch-size",
        str(args.batch_size),
        "--patch",
        str(args.patch),
    ]
    if args.workers:
        command += ["--workers", str(args.workers)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    env = {**os.environ, "PYTHONPATH": str(code)}
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        out = args.profile / f"{tag}-{mode}.txt"
        command = [
            "py-spy", "record", "--subprocesses", "--rate", "200", "--format", "raw",
            "--output", str(out), "--", *command,
        ]  # fmt: skip
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, cwd=code
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"{tag} {mode} failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["code"] = tag
    return result


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def report(results: list[dict[str, Any]]) -> None:
    print(
        "\n| code | mode | patches/s | patches per CPU-s | client ms/batch "
        "| scheduler ms/batch | workers ms/batch | client threads ms/batch |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        threads = ", ".join(
            f"{k} {v:.2f}" for k, v in sorted(r["client threads ms/batch"].items())
        )
        print(
            f"| {r['code']} | {r['mode']} | {fmt(r['patches/s'])} "
            f"| {fmt(r['patches per cpu-s'])} | {fmt(r['client ms/batch'])} "
            f"| {fmt(r['scheduler ms/batch'])} | {fmt(r['workers ms/batch'])} "
            f"| {threads} |"
        )
    print("\nmeans per code and mode (ratios against threads of the same code):")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["code"], r["mode"]), []).append(r)
    means = {
        key: {
            k: float(np.mean([r[k] for r in rows]))
            for k in ("patches/s", "patches per cpu-s", "client ms/batch")
        }
        for key, rows in groups.items()
    }
    for (code, mode), m in means.items():
        base = means.get((code, "threads"))
        ratio = ""
        if base and mode != "threads":
            ratio = (
                f"  wall {m['patches/s'] / base['patches/s']:.2f}, "
                f"per CPU-s {m['patches per cpu-s'] / base['patches per cpu-s']:.2f}"
            )
        print(
            f"  {code:>4} {mode:>13}: {m['patches/s']:7,.0f} patches/s, "
            f"{m['patches per cpu-s']:7,.0f} per CPU-s, client "
            f"{m['client ms/batch']:.2f} ms/batch{ratio}"
        )


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    shape = (args.samples, args.side, args.side)
    name = f"stream-{shape[0]}x{shape[1]}x{shape[2]}.zarr"
    root = args.store or args.cache_dir / name
    ensure_store(root, shape)
    codes = [("new", HERE.parents[1])]
    if args.old:
        codes.insert(0, ("old", args.old.resolve()))
    print(
        f"store {root} {shape} uint16, 256x256 chunks, zstd; random "
        f"{args.patch}x{args.patch} patches, batches of {args.batch_size}; "
        f"{args.warmup} warm-up + {args.batches} measured batches per run; "
        f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    started = time.time()
    for round_ in range(args.repeat):
        for mode in args.modes:
            for tag, code in codes:
                result = run_child(mode, code, args, root, f"{tag}{round_}")
                result["code"] = tag
                result["load"] = os.getloadavg()[0]
                results.append(result)
                print(
                    f"{tag} {mode}: {result['patches/s']:,.0f} patches/s, "
                    f"{result['patches per cpu-s']:,.0f} per CPU-s, client "
                    f"{result['client ms/batch']:.2f} ms, scheduler "
                    f"{fmt(result['scheduler ms/batch'])} ms, workers "
                    f"{result['workers ms/batch']:.2f} ms per batch; "
                    f"{result['client threads ms/batch']}",
                    flush=True,
                )
    report(results)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "command": " ".join(["python", *sys.argv]),
                    "store": {"shape": list(shape), "path": str(root)},
                    "started": started,
                    "seconds": time.time() - started,
                    "results": results,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
