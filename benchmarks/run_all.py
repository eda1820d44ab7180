"""Run every benchmark, each in its own process, and write ``BENCHMARKS.md``.

    .venv/bin/python -m benchmarks all            # everything, on this machine
    .venv/bin/python -m benchmarks all --quick    # small sizes, a smoke run
    .venv/bin/python -m benchmarks scale          # one part (see --help)
    .venv/bin/python -m benchmarks report         # re-render from saved JSON

Stores are generated once into the cache directory (``--cache-dir``, default
``$XDG_CACHE_HOME/careamics-dask-bench`` or ``/tmp/careamics_dask_bench``) and
reused. Each part writes ``<part>.json`` (and ``<part>.log``) into the results
directory: ``benchmarks/results/`` for full runs, ``<cache>/results-quick/`` for
``--quick`` runs (so a smoke run never overwrites the figures of a full one). The
report (``BENCHMARKS.md`` at the repository root for full runs, in the results
directory for quick ones) and its PNG plots are rendered from those files.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import reference_env, report

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "benchmarks"
PARTS = (
    "patching",
    "factory",
    "microsplit",
    "predict",
    "stream",
    "scale",
    "ltm",
    "peers",
)
DEFAULT_CACHE = (
    Path(os.environ["XDG_CACHE_HOME"], "careamics-dask-bench")
    if os.environ.get("XDG_CACHE_HOME")
    else Path("/tmp/careamics_dask_bench")
)


def supports(script: str, flag: str) -> bool:
    """Whether a script's ``--help`` lists a flag (scripts change independently)."""
    done = subprocess.run(
        [sys.executable, str(HERE / script), "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    return flag in done.stdout


def reference_flags(ref: Path | None) -> list[str]:
    return ["--ref-python", str(ref)] if ref else ["--no-reference"]


def command(
    part: str, args: argparse.Namespace, ref: Path | None, out: Path
) -> list[str]:
    """The command line of one part."""
    py, cache, quick = sys.executable, str(args.cache_dir), args.quick
    q = ["--quick"] if quick else []
    script = str(HERE / f"bench_{part}.py")
    if part == "patching":
        if ref:
            sizes = [] if quick else ["--samples", "1000", "--ref-samples", "200"]
            return [str(ref), script, *sizes, *q, "--json", str(out)]
        return [py, script, *q, "--no-reference", "--json", str(out)]
    if part == "factory":
        extra = (
            ["--store-dir", cache]
            if supports("bench_factory.py", "--store-dir")
            else []
        )
        return [py, script, *q, *reference_flags(ref), *extra, "--json", str(out)]
    if part == "microsplit":
        return [
            py,
            script,
            *q,
            *reference_flags(ref),
            "--root",
            cache,
            "--json",
            str(out),
        ]
    if part == "predict":
        sizes = [] if quick else ["--size-gib", "4", "--ref-samples", "8"]
        return [
            py, script, *q, *sizes, *reference_flags(ref),
            "--root", cache, "--json", str(out),
        ]  # fmt: skip
    if part == "stream":
        depth = [] if quick else ["--prefetch", "4", "8"]
        return [
            py,
            script,
            *q,
            *depth,
            "--torch",
            "--cache-dir",
            cache,
            "--json",
            str(out),
        ]
    if part == "scale":
        return [py, script, *q, "--cache-dir", cache, "--json", str(out)]
    if part == "ltm":
        script = str(HERE / "bench_scale.py")
        return [py, script, "--parts", "ltm", "--cache-dir", cache, "--json", str(out)]
    if part == "peers":
        return [py, script, *q, "--cache-dir", cache, "--json", str(out)]
    raise ValueError(f"unknown part {part!r}: expected one of {PARTS}")


def result_name(part: str) -> str:
    return "scale_ltm" if part == "ltm" else part


def run_part(part: str, args: argparse.Namespace, ref: Path | None) -> dict[str, Any]:
    """Run one part as a subprocess, its output echoed and kept in ``<part>.log``."""
    out = args.results_dir / f"{result_name(part)}.json"
    argv = command(part, args, ref, out)
    shown = " ".join(Path(a).name if a == sys.executable else a for a in argv)
    print(f"\n=== {part}: {shown}", flush=True)
    log = args.results_dir / f"{result_name(part)}.log"
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert process.stdout is not None
        for line in process.stdout:
            handle.write(line)
            if args.verbose:
                sys.stdout.write(line)
        rc = process.wait()
    seconds = time.perf_counter() - start
    status = {
        "part": part,
        "command": shown,
        "exit": rc,
        "seconds": round(seconds, 1),
        "load average before": round(load_before, 2),
        "load average after": round(os.getloadavg()[0], 2),
        "json": out.name if out.exists() else None,
    }
    if rc:
        tail = log.read_text().splitlines()[-15:]
        print(f"--- {part} failed (exit {rc}); last lines of {log}:", flush=True)
        print("\n".join(tail), flush=True)
    else:
        print(f"--- {part} done in {seconds:.0f} s -> {out}", flush=True)
    return status


class LoadSampler:
    """The 1-minute load average, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 10.0) -> None:
        self.values: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.values.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.values.append(os.getloadavg()[0])


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "part",
        nargs="?",
        default="all",
        choices=["all", *PARTS, "report", "env"],
        help="what to run (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None, help="the Markdown file")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument(
        "--no-ltm", action="store_true", help="skip the larger-than-memory run"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="echo output")
    args = parser.parse_args(argv)
    if args.results_dir is None:
        args.results_dir = (
            args.cache_dir / "results-quick" if args.quick else HERE / "results"
        )
    if args.output is None:
        args.output = (
            args.results_dir / "BENCHMARKS.md" if args.quick else REPO / "BENCHMARKS.md"
        )
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    if args.part == "report":  # from the saved JSON of every part
        written = report.write(args.results_dir, args.output)
        print("wrote " + ", ".join(str(p) for p in written))
        return
    ref = None
    if args.part in ("all", "patching", "factory", "microsplit", "predict", "env"):
        ref = None if args.no_reference else reference_env.ensure()
        print(f"reference environment: {ref or 'none (runs without the reference)'}")
    if args.part == "env":
        return
    parts = list(PARTS) if args.part == "all" else [args.part]
    if args.part == "all" and (args.quick or args.no_ltm):
        parts.remove("ltm")
        print(
            "the larger-than-memory run (part 'ltm') is skipped in this run; the "
            "report uses its saved results when there are some"
        )
    meta_path = args.results_dir / "run.json"
    meta: dict[str, Any] = (
        json.loads(meta_path.read_text()) if meta_path.exists() else {"parts": {}}
    )
    started = time.perf_counter()
    with LoadSampler() as load:
        for part in parts:
            meta["parts"][part] = run_part(part, args, ref)
            meta["parts"][part]["finished"] = time.strftime("%Y-%m-%d %H:%M")
            meta_path.write_text(json.dumps(meta, indent=1))
    if args.part == "all" or "machine" not in meta:
        meta["machine"] = report.machine(ref)
    run = {
        "command": "python -m benchmarks "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "parts": parts,
        "seconds": round(time.perf_counter() - started, 1),
        "finished": time.strftime("%Y-%m-%d %H:%M"),
        "load average": {
            "min": round(min(load.values), 2),
            "mean": round(sum(load.values) / len(load.values), 2),
            "max": round(max(load.values), 2),
        },
        "quick": args.quick,
        "reference": str(ref) if ref else None,
    }
    meta["last run" if args.part == "all" else f"last {args.part} run"] = run
    meta_path.write_text(json.dumps(meta, indent=1))
    seconds = time.perf_counter() - started
    if args.part != "all":  # one part: the report waits for the others
        print(
            f"\n{args.part} done in {seconds:.0f} s; results in {args.results_dir}. "
            f"Render {args.output.name} with: python -m benchmarks report"
            + (" --quick" if args.quick else "")
        )
        return
    written = report.write(args.results_dir, args.output)
    print(f"\nall done in {seconds:.0f} s; wrote")
    for path in written:
        print(f"  {path}")
