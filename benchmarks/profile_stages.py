"""Per-stage CPU of the distributed path from a py-spy profile (issue 16).

Reads a ``py-spy record --format raw --threads`` profile of the measured batches
(``bench_distributed.py --child cluster --attach FILE``, which attaches after warm-up)
and the run's JSON line (its per-thread CPU), and writes the CPU per batch of each
stage on each role: the samples of a thread that are not waiting are split by stage,
in proportion, over the CPU the kernel counted for that thread. Native threads
(TensorStore's pool: chunk reads and decoding) have no Python stacks; their CPU is
taken as it is.

    python benchmarks/bench_distributed.py --child cluster --store STORE \\
        --batches 400 --warmup 40 --attach /tmp/cluster.txt > /tmp/cluster.json
    python benchmarks/profile_stages.py /tmp/cluster.txt /tmp/cluster.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

# (stage, a substring of a frame) from the most specific; the first match wins,
# looking from the innermost frame outwards
STAGES: tuple[tuple[str, str], ...] = (
    ("one-time imports", "importlib._bootstrap"),
    ("monitors (system, memory, heartbeat)", "system_monitor.py"),
    ("monitors (system, memory, heartbeat)", "memory.py"),
    ("monitors (system, memory, heartbeat)", "Worker.heartbeat"),
    ("monitors (system, memory, heartbeat)", "psutil"),
    ("read: submit chunk reads", "TensorStoreBoxes.submit"),
    ("read: wait for chunks", "TensorStoreBoxes.result"),
    ("assemble (place patches)", "place_direct"),
    ("assemble (place patches)", "read_patches"),
    ("normalize, augment", "transforms"),
    ("build (other)", "build_batch"),
    ("deserialize", "protocol/pickle.py:"),
    ("deserialize", "deserialize"),
    ("deserialize", "loads ("),
    ("serialize", "serialize"),
    ("serialize", "dumps ("),
    ("transfer (TCP, iostream)", "comm/tcp.py"),
    ("transfer (TCP, iostream)", "iostream.py"),
    ("scheduler (transitions, graph)", "distributed/scheduler.py"),
    ("submission (client)", "Client.submit"),
    ("submission (client)", "Client._graph_to_futures"),
    ("submission (client)", "_submit (careamics_dask"),
    ("hand-over (gather, futures)", "Client.gather"),
    ("hand-over (gather, futures)", "Client._gather"),
    ("hand-over (gather, futures)", "Future"),
    ("hand-over (gather, futures)", "feeding/window.py"),
    ("hand-over (gather, futures)", "feeding/stream.py"),
    ("worker state machine", "worker_state_machine.py"),
    ("worker state machine", "distributed/worker.py"),
    ("event loop (other)", "asyncio"),
    ("event loop (other)", "tornado"),
)

# innermost frames of a thread that waits (py-spy's idle detection misses some)
WAITING = (
    "select (selectors.py",
    "Condition.wait",
    "Event.wait",
    "Queue.get",
    "_worker (concurrent/futures/thread.py",
    "_recv",
    "recv_bytes",
    "monitor_parent",
    "sleep",
    "poll (",
    "_wait_for_tstate_lock",
    "Thread.join",
)


def thread_role(process: str, thread: str) -> str:
    """The role of a sampled thread: client or worker, and the thread's job."""
    side = "client" if process == "client" else "worker"
    if thread == "MainThread":
        return f"{side} consumer" if side == "client" else "worker event loop"
    if thread == "IO loop":
        return "client event loop"
    if thread.startswith("careamics-batch-fetch"):
        return "client fetch thread"
    if "Dask-Default-Threads" in thread:
        return "worker task thread"
    return f"{side} other threads"


def stage_of(frames: list[str]) -> str | None:
    """The stage of a stack (innermost last), or None where the thread waits."""
    if any(w in frames[-1] for w in WAITING):
        return None
    for frame in reversed(frames):
        for stage, needle in STAGES:
            if needle in frame:
                return stage
    return "other"


def samples(path: Path) -> dict[str, Counter[str]]:
    """Samples per role and stage."""
    found: dict[str, Counter[str]] = {}
    for line in path.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        frames = stack.split(";")
        process = "worker" if frames[1].startswith("process ") else "client"
        thread = next((f for f in frames if f.startswith("thread (")), "")
        name = thread.split(": ", 1)[-1]
        stage = stage_of(frames)
        if stage is None:
            continue
        role = thread_role(process, name)
        found.setdefault(role, Counter())[stage] += int(count)
    return found


def measured_cpu(result: dict[str, Any]) -> dict[str, float]:
    """CPU ms per batch per role, from the bench's per-thread figures."""
    client = result["client threads ms/batch"]
    workers = result["worker threads ms/batch"]
    return {
        "client consumer": client.get("consumer", 0.0),
        "client fetch thread": client.get("fetch thread", 0.0),
        "client event loop": client.get("event loop", 0.0),
        "client other threads": client.get("other threads", 0.0)
        + client.get("offload", 0.0),
        "worker event loop": workers.get("event loop", 0.0),
        "worker task thread": workers.get("task thread", 0.0),
        "worker other threads": workers.get("other threads", 0.0),
        "worker TensorStore pool": workers.get("TensorStore pool", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy raw profile (--attach)")
    parser.add_argument("result", type=Path, help="the child's JSON line")
    args = parser.parse_args()
    lines = [
        line for line in args.result.read_text().splitlines() if line.startswith("{")
    ]
    result = json.loads(lines[-1])
    cpu = measured_cpu(result)
    found = samples(args.profile)
    print("| role (thread) | CPU ms/batch | stage | ms/batch | share |")
    print("|---|---|---|---|---|")
    for role, total in cpu.items():
        stages = found.get(role, Counter())
        n = sum(stages.values())
        if role == "worker TensorStore pool":
            print(f"| {role} | {total:.2f} | read + decode (native) | {total:.2f} | |")
            continue
        if not n:
            print(f"| {role} | {total:.2f} | (no samples) | | |")
            continue
        for i, (stage, count) in enumerate(stages.most_common()):
            head = f"{role} | {total:.2f}" if i == 0 else " | "
            share = count / n
            if share < 0.03:
                continue
            print(f"| {head} | {stage} | {total * share:.2f} | {share:.0%} |")


if __name__ == "__main__":
    main()
