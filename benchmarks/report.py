# ruff: noqa: RUF001  (the report writes multiplication signs)
"""Render ``BENCHMARKS.md`` and its plot from the results' JSON files.

Tables come from the JSON each benchmark wrote (``<results>/<part>.json``); the
explanations come from ``benchmarks/notes/<part>.md`` (hand-written: method, what
limits each path, profiles). A part without results is listed as not run.

    .venv/bin/python -m benchmarks report
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NOTES = HERE / "notes"
PARTS = ("patching", "factory", "microsplit", "predict", "stream", "scale", "peers")


# ------------------------------------------------------------------------ helpers


def fmt(value: Any) -> str:
    """A number for a table: thousands separators, 2-3 significant digits."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if abs(value) >= 0.01:
            return f"{value:.2f}"
        return f"{value:.2g}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {fmt(v)}" for k, v in value.items())
    return str(value)


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pairs(values: dict[str, Any], header: tuple[str, str] = ("", "")) -> str:
    rows = [[k, v] for k, v in values.items() if not isinstance(v, dict)]
    return table(list(header), rows)


def find(values: dict[str, Any], *words: str) -> tuple[str, float] | None:
    """The first key holding every word (case-insensitive) and its number."""
    for key, value in values.items():
        if all(w.lower() in key.lower() for w in words) and isinstance(
            value, int | float
        ):
            return key, float(value)
    return None


def ratio(a: float | None, b: float | None) -> float:
    if a is None or b is None or b == 0:
        return float("nan")
    return a / b


def note(name: str) -> str:
    path = NOTES / f"{name}.md"
    if not path.exists():
        return ""
    lines = path.read_text().strip().splitlines()
    return "\n".join("#" + line if line.startswith("###") else line for line in lines)


def load(results: Path) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in (*PARTS, "scale_ltm", "run", "train", *TRAIN_EXTRA):
        path = results / f"{name}.json"
        if path.exists():
            with contextlib.suppress(json.JSONDecodeError):
                data[name] = json.loads(path.read_text())
    saved = HERE / "results" / "scale_ltm.json"  # the long run, kept across runs
    if "scale_ltm" not in data and saved.exists():
        data["scale_ltm"] = json.loads(saved.read_text())
    return data


def factory_module() -> Any:
    """``bench_factory`` as a module, for its ``goals`` (the script owns them)."""
    sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location(
        "bench_factory_goals", HERE / "bench_factory.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def machine(ref: Path | None) -> dict[str, Any]:
    """This machine and the versions of both environments."""
    from importlib.metadata import PackageNotFoundError, version

    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) / 2**20
    versions = {"python": platform.python_version()}
    for name in (
        "numpy", "zarr", "numcodecs", "tensorstore", "dask", "distributed",
        "xarray", "xbatcher", "torch",
    ):  # fmt: skip
        with contextlib.suppress(PackageNotFoundError):
            versions[name] = version(name)
    out: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "CPU": model,
        "memory GiB": round(memory, 1),
        "versions": versions,
    }
    if ref is not None:
        done = subprocess.run(
            [
                str(ref),
                "-c",
                "import careamics, torch; "
                "print(careamics.__version__, torch.__version__)",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            careamics, torch = done.stdout.split()[-2:]
            out["reference"] = {"careamics": careamics, "torch": torch}
    return out


# ------------------------------------------------------------------------ summary


def goal_row(
    figure: str,
    ours: Any,
    ref: Any,
    peers: dict[str, Any],
    ratio_value: Any,
    goal: str,
    met: bool | None,
    command: str,
) -> list[Any]:
    state = "n/a" if met is None else ("**met**" if met else "**missed**")
    return [
        figure,
        ours,
        ref,
        peers.get("xbatcher", ""),
        peers.get("naive", ""),
        peers.get("raw", ""),
        peers.get("zarr", ""),
        ratio_value,
        goal,
        state,
        f"`python -m benchmarks {command}`" if command else "",
    ]


REPO = HERE.parent


def command_of(data: dict[str, Any], part: str) -> str:
    """The exact command of a part (paths relative to the repository)."""
    run = data.get("run", {}).get("parts", {}).get(part, {})
    text = str(run.get("command") or data.get(part, {}).get("command", ""))
    return text.replace(f"{REPO}/", "")


def goal_of(name: str) -> str:
    """The goal inside a goal's name: '>= 4x' gives a Markdown goal."""
    found = re.search(r"(>=|<=|<)\s*([\d.,]+)\s*(x|MiB)?", name)
    if not found:
        found = re.search(r"(<=|<)\s*(data size)", name)
        if not found:
            return "≥ 30 ×" if "statistics" in name else name
    sign = {">=": "≥", "<=": "≤", "<": "<"}[found.group(1)]
    unit = (
        {"x": " ×", "MiB": " MiB"}.get(found.group(3) or "", "")
        if found.lastindex == 3
        else ""
    )
    return f"{sign} {found.group(2)}{unit}"


def summary(data: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    patching = data.get("patching", {}).get("columns", {})
    ref_col = next((c for c in patching if c.startswith("reference")), None)
    if ref_col:
        n = ref_col.split(", ")[1]
        ours = patching[f"ours, {n}"]
        ref = patching[ref_col]
        key = "stratified + weights + split"
        r = ref[key] / ours[key]
        rows.append(
            goal_row(
                f"patching: stratified + weights + split, {n} (s)",
                ours[key], ref[key], {}, f"{r:.0f} ×", "≥ 20 ×", r >= 20,
                "patching",
            )
        )  # fmt: skip
    if patching:
        first = next(iter(patching.values()))
        n = int(first["patches per epoch"])
        for strategy in ("random", "stratified"):
            seconds = first[f"{strategy}: epoch table"]
            scaled = seconds * 1e6 / n
            rows.append(
                goal_row(
                    f"patching: {strategy} epoch table, 10^6 patches (s, scaled "
                    f"from {n:,})",
                    scaled, "", {}, "", "< 0.5 s", scaled < 0.5,
                    "patching",
                )
            )  # fmt: skip
    rows += factory_summary(data)
    micro = data.get("microsplit", {})
    if micro.get("ours") and micro.get("reference"):
        ours_best = max(
            v["patches/s"] if isinstance(v, dict) else 0.0
            for v in micro["ours"].values()
        )
        ref_best = max(
            v["patches/s"] if isinstance(v, dict) else 0.0
            for v in micro["reference"].values()
        )
        rows.append(
            goal_row(
                "MicroSplit patches/s (multiscale 3), best configuration",
                ours_best, ref_best, {}, f"{ratio(ours_best, ref_best):.1f} ×",
                "next to the reference", None, "microsplit",
            )
        )  # fmt: skip
    rows += predict_summary(data)
    stream = data.get("stream", {}).get("step", {})
    if stream:
        best = max(stream.values(), key=lambda r: r["busy"])
        rows.append(
            goal_row(
                "stream: time in a 20 ms training step (best prefetch)",
                f"{best['busy'] * 100:.1f} %", "", {}, "", "≥ 95 %",
                best["busy"] >= 0.95, "stream",
            )
        )  # fmt: skip
    rows += scale_summary(data)
    rows += train_summary(data)
    return rows


TRAIN_COMMAND = ".venv-ref/bin/python benchmarks/bench_train.py"


TRAIN_EXTRA = ("train-seeds3-8", "train-embedded")
"""Later training runs: more seeds (both feeders), the embedded path alone."""


def _train_runs(data: dict[str, Any], feeder: str) -> list[dict[str, Any]]:
    """Every saved run of one feeder; the embedded path's latest file wins."""
    names = ("train", *TRAIN_EXTRA)
    if feeder == "careamics_dask embedded" and "train-embedded" in data:
        names = ("train-embedded",)
    saved = [r for n in names for r in data.get(n, {}).get("runs", [])]
    return [r for r in saved if r["feeder"] == feeder]


def train_summary(data: dict[str, Any]) -> list[list[Any]]:
    """Issue 20's rows: N2V quality next to CAREamics' feeding, the step's share."""
    if not data.get("train", {}).get("summary"):
        return []
    runs = {
        f: _train_runs(data, f)
        for f in ("careamics", "careamics_dask", "careamics_dask embedded")
    }
    psnr = {f: statistics.median(r["psnr"] for r in runs[f]) for f in runs if runs[f]}
    share = {f: statistics.median(r["share"] for r in runs[f]) for f in runs if runs[f]}
    gap = psnr["careamics_dask"] - psnr["careamics"]
    rows = [
        goal_row(
            f"training: N2V median PSNR, our DataModule vs CAREamics' (dB, "
            f"{len(runs['careamics_dask'])} seeds)",
            f"{psnr['careamics_dask']:.2f}", f"{psnr['careamics']:.2f}", {},
            f"{gap:+.2f} dB", "within 0.3 dB", abs(gap) <= 0.3, "",
        )
    ]  # fmt: skip
    paths = {"careamics_dask": "local threads", "careamics_dask embedded": "embedded"}
    for name, path in paths.items():
        rows.append(
            goal_row(
                f"training: time in the training step ({path}, CPU UNet, "
                f"{len(runs[name])} runs)",
                f"{share[name] * 100:.1f} %", f"{share['careamics'] * 100:.1f} %",
                {}, "", "≥ 95 %", share[name] >= 0.95, "",
            )
        )  # fmt: skip
    for row in rows:
        row[-1] = f"`{TRAIN_COMMAND}`"
    return rows


def section_train(data: dict[str, Any]) -> str:
    train = data.get("train")
    if not train:
        return ""
    rows = [
        [r["feeder"], r["seed"], r["steps"], r["psnr"], f"{r['share'] * 100:.1f} %",
         r["fit s"]]
        for r in train["runs"]
    ]  # fmt: skip
    return f"Noisy input PSNR: {train['summary']['noisy psnr']:.2f} dB.\n\n" + table(
        ["feeder", "seed", "steps", "PSNR dB", "in step", "fit s"], rows
    )


def factory_summary(data: dict[str, Any]) -> list[list[Any]]:
    factory = data.get("factory")
    if not factory:
        return []
    rows = []
    command = "factory"
    peers: dict[str, Any] = {}
    for suffix in ("", " per CPU-s"):
        base = factory.get(f"baselines{suffix}", {})
        naive = find(base, "naive")
        raw = find(base, "raw decode limit")
        zarr_ = find(base, "zarr")
        xb = [
            r["patches/s" if not suffix else "patches per CPU-s"]
            for r in data.get("peers", {}).get("xbatcher", [])
        ]
        peers[suffix] = {
            "naive": naive[1] if naive else "",
            "raw": raw[1] if raw else "",
            "zarr": zarr_[1] if zarr_ else "",
            "xbatcher": max(xb) if xb else "",
        }
    if "reference" in factory:
        try:
            goals = factory_module().goals(factory)
        except Exception as error:  # the script changed under the report
            goals = [(f"factory goals unavailable: {error}", "", False)]
        for name, text, met in goals:
            per_cpu = "per CPU" in name or "CPU)" in name
            throughput = name.startswith(("(1)", "(2)"))
            rows.append(
                goal_row(
                    f"factory {name}", text if not throughput else text.split(" / ")[0],
                    text.split(" / ")[1].split(" = ")[0] if throughput else "",
                    peers[" per CPU-s" if per_cpu else ""] if throughput else {},
                    text.rsplit(" = ", 1)[-1] if " = " in text else "",
                    goal_of(name), met, "factory",
                )
            )  # fmt: skip
    else:
        rows.append(
            goal_row(
                "factory (no reference in this run)", "", "", peers[""], "", "",
                None, command,
            )
        )  # fmt: skip
    return rows


def predict_summary(data: dict[str, Any]) -> list[list[Any]]:
    predict = data.get("predict")
    if not predict or not predict.get("ours"):
        return []
    biggest = max(predict["ours"], key=lambda r: r["shape"][0])
    store_mib = math.prod(biggest["shape"]) * 2 / 2**20
    peak = max(biggest["client peak RSS MiB"], *biggest["worker peak RSS MiB"])
    ref = predict.get("reference", {})
    return [
        goal_row(
            f"prediction: largest process peak RSS, {store_mib / 1024:.2f} GiB store "
            "(MiB)",
            peak, ref.get("peak rss MiB", ""), {},
            f"{peak / store_mib:.2f} × store",
            "well under the store size (judged from 1 GiB)",
            peak < store_mib / 2 if store_mib >= 1024 else None, "predict",
        )
    ]  # fmt: skip


def scale_summary(data: dict[str, Any]) -> list[list[Any]]:
    rows = []
    ltm = data.get("scale_ltm", {}).get("ltm")
    cmd = "ltm"
    if ltm and "skipped" not in ltm:
        gib = ltm["store"]["GiB"]
        rows.append(
            goal_row(
                f"larger than memory ({gib:.1f} GiB, "
                f"{ltm['store / memory']:.2f} × RAM): client peak RSS (MiB)",
                ltm["client peak RSS MiB"], "", {}, "", "< 600 MiB",
                ltm["client peak RSS MiB"] < 600, cmd,
            )
        )  # fmt: skip
        limit = ltm["worker memory limit MiB"]
        rows.append(
            goal_row(
                "larger than memory: each worker's peak RSS (MiB)",
                ltm["worker peak RSS MiB"], "", {}, "",
                f"< its limit, {limit:,.0f} MiB",
                ltm["goals"]["each worker under its limit"], cmd,
            )
        )  # fmt: skip
        spilled = sum(s["spilled bytes (cumulative)"] for s in ltm["spilled"])
        rows.append(
            goal_row(
                "larger than memory: bytes spilled to disk by distributed",
                spilled, "", {}, "", "0", spilled == 0, cmd,
            )
        )  # fmt: skip
    elif ltm:
        rows.append(goal_row("larger than memory", ltm["skipped"], "", {}, "", "",
                             None, cmd))  # fmt: skip
    graph = data.get("scale", {}).get("graph", {}).get("rows", [])
    if graph:
        per_batch = [r["batch_tasks"] / r["batches"] for r in graph]
        us = [r["us per batch (batch_tasks)"] for r in graph]
        growth = max(us) / min(us)
        rows.append(
            goal_row(
                f"graph: tasks per batch, {graph[0]['patches']:,} to "
                f"{graph[-1]['patches']:,} patches",
                per_batch, "", {}, "", "1 (tasks ∝ batches)",
                all(p == 1 for p in per_batch), "scale",
            )
        )  # fmt: skip
        rows.append(
            goal_row(
                "graph: batch_tasks µs per batch across sizes (max / min)",
                us, "", {}, f"{growth:.1f}", "linear (≤ 2)", growth <= 2,
                "scale",
            )
        )  # fmt: skip
    return rows


# ------------------------------------------------------------------------ sections


def section_patching(data: dict[str, Any]) -> str:
    columns = data.get("patching", {}).get("columns")
    if not columns:
        return ""
    names = list(next(iter(columns.values())))
    rows = [[n, *(columns[c].get(n, float("nan")) for c in columns)] for n in names]
    return table(["step (s)", *columns], rows)


def rates_table(values: dict[str, Any], per_cpu: dict[str, Any]) -> str:
    rows = []
    for key, value in values.items():
        if isinstance(value, int | float):
            rows.append([key, value, per_cpu.get(key, "")])
    return table(["path", "patches/s (wall) or value", "per CPU-s"], rows)


def section_factory(data: dict[str, Any]) -> str:
    factory = data.get("factory")
    if not factory:
        return ""
    out = [
        f"**{name}**\n\n"
        + rates_table(factory[name], factory.get(f"{name} per CPU-s", {}))
        for name in ("reference", "ours", "baselines")
        if name in factory
    ]
    out.extend(
        f"**sample diversity: {name}**\n\n" + pairs(rows)
        for name, rows in factory.get("diversity", {}).items()
    )
    out.extend(
        f"**{name}**\n\n" + pairs(factory[name])
        for name in ("memory", "in memory", "user client", "store")
        if factory.get(name)
    )
    return "\n\n".join(out)


def section_microsplit(data: dict[str, Any]) -> str:
    micro = data.get("microsplit")
    if not micro:
        return ""
    rows = []
    for side in ("reference", "ours"):
        for key, value in micro.get(side, {}).items():
            if isinstance(value, dict):
                rows.append([f"{side}: {key}", *value.values()])
    stats = [
        [side, k, v]
        for side in ("reference", "ours")
        for k, v in micro.get(side, {}).items()
        if not isinstance(v, dict)
    ]
    first = next(
        (v for s in ("ours",) for v in micro[s].values() if isinstance(v, dict)), {}
    )
    return (
        table(["what", *first.keys()], rows)
        + "\n\n"
        + table(["", "figure", "value"], stats)
    )


def section_predict(data: dict[str, Any]) -> str:
    predict = data.get("predict")
    if not predict:
        return ""
    rows = [
        [
            r["label"], r["tiles"], r["seconds"], r["tiles/s"], r["input MiB/s"],
            f"{r['client peak RSS MiB']:.0f} ({r['client RSS before MiB']:.0f})",
            r["worker peak RSS MiB"],
        ]
        for r in predict["ours"]
    ]  # fmt: skip
    ref = predict.get("reference")
    if ref:
        rows.append(
            [
                f"reference, {ref.get('samples')} samples", "",
                f"{ref['tiles s']:.1f} + {ref['stitch s']:.1f}", "", "",
                f"{ref['peak rss MiB']:.0f} (growth {ref['rss growth MiB']:.0f})", "",
            ]
        )  # fmt: skip
    return table(
        ["run", "tiles", "s", "tiles/s", "input MiB/s", "client peak MiB (before)",
         "worker peak MiB"],
        rows,
    )  # fmt: skip


def section_stream(data: dict[str, Any]) -> str:
    stream = data.get("stream")
    if not stream:
        return ""
    out = []
    for title, key in (("training step", "step"), ("free-running", "capacity")):
        rows = [
            [
                name, f"{r['busy'] * 100:.1f} %" if r.get("busy") else "",
                r["batches/s"], r["patches/s"], r["p50"], r["p95"], r["max"],
                r["first"], r["worker cpu"] * 1e3, r["client cpu"] * 1e3,
                r["client MiB"],
            ]
            for name, r in stream.get(key, {}).items()
        ]  # fmt: skip
        out.append(
            f"**{title}**\n\n"
            + table(
                ["prefetch", "in step", "batches/s", "patches/s", "wait p50 ms",
                 "p95 ms", "max ms", "first batch ms", "worker CPU ms/batch",
                 "client CPU ms/batch", "client peak MiB"],
                rows,
            )
        )  # fmt: skip
    return "\n\n".join(out)


def section_peers(data: dict[str, Any]) -> str:
    peers = data.get("peers")
    if not peers:
        return ""
    rows = [
        [r["backend"], r["DataLoader workers"], r["patches/s"], r["patches per CPU-s"],
         r["first batch s"]]
        for r in peers["xbatcher"]
    ]  # fmt: skip
    return (
        f"Store {peers['store']['shape']}; versions {fmt(peers['versions'])}; load "
        f"average {peers['load average at start']:.1f} → "
        f"{peers['load average at end']:.1f}.\n\n"
        + table(
            ["xbatcher backend", "DataLoader workers", "patches/s", "per CPU-s",
             "first batch s"],
            rows,
        )
    )  # fmt: skip


def section_scale(data: dict[str, Any], plot: Path | None, output: Path) -> str:
    out = []
    ltm = data.get("scale_ltm", {}).get("ltm")
    if ltm and "skipped" not in ltm:
        store = ltm["store"]
        ltm_command = str(data["scale_ltm"].get("command", "")).replace(f"{REPO}/", "")
        out.append(
            f"**Larger than memory** (`{ltm_command}`, "
            f"{data['scale_ltm'].get('started', '')}): "
            f"{store['GiB']:.1f} GiB of uint16 pixels ({ltm['store / memory']:.2f} × "
            f"this machine's {ltm['machine memory GiB']:.1f} GiB; "
            f"{store['disk GiB']:.1f} GiB on disk, written in {store['write s']:.0f} "
            f"s), shape {store['shape']}, chunks {store['chunks']}; "
            f"{ltm['patch']} × {ltm['patch']} patches, batches of {ltm['batch']}, "
            f"{ltm['order']}, {ltm['workers']} workers × 1 thread, memory limit "
            f"{ltm['worker memory limit']} each, prefetch {ltm['prefetch']}.\n\n"
            + table(
                ["figure", "value"],
                [
                    ["statistics at construction (s)", ltm["statistics s"]],
                    ["statistics (mean, std)", ltm["statistics"]],
                    ["epoch: patches", ltm["epoch patches"]],
                    ["epoch: wall s", ltm["epoch s"]],
                    ["patches/s", ltm["patches/s"]],
                    ["MiB/s of source pixels", ltm["MiB/s (source pixels)"]],
                    ["client + scheduler CPU s", ltm["client + scheduler CPU s"]],
                    ["workers' CPU s", ltm["worker CPU s"]],
                    ["client peak RSS MiB (with the scheduler)",
                     ltm["client peak RSS MiB"]],
                    ["client peak RSS MiB after statistics",
                     ltm["client peak RSS MiB after statistics"]],
                    ["worker peak RSS MiB", ltm["worker peak RSS MiB"]],
                    ["spilled to disk (bytes, per worker)",
                     [s["spilled bytes (cumulative)"] for s in ltm["spilled"]]],
                    ["load average (1 min) during the run", ltm["load average"]],
                ],
            )
        )  # fmt: skip
    elif ltm:
        out.append(f"**Larger than memory**: {ltm['skipped']}")
    else:
        out.append("**Larger than memory**: not run (`python -m benchmarks ltm`).")
    scale = data.get("scale", {})
    if plot is not None:
        out.append(f"![scale]({os.path.relpath(plot, output.parent)})")
    workers = scale.get("workers")
    if workers:
        rows = [
            [r["workers"], r["order"], r["patches/s"], r["batches/s"],
             r["worker CPU ms/batch"], r["client + scheduler CPU ms/batch"],
             r.get("first batch s (fresh cluster)", ""),
             r.get("first batch s (warm)", ""), r["cluster start s"]]
            for r in workers["rows"]
        ]  # fmt: skip
        out.append(
            f"**Workers** ({workers['store']['GiB']:.2f} GiB store, "
            f"{workers['patch']} × {workers['patch']} patches, batches of "
            f"{workers['batch']}, `BatchStream` prefetch 8)\n\n"
            + table(
                ["workers", "order", "patches/s", "batches/s", "worker CPU ms/batch",
                 "client + scheduler CPU ms/batch", "first batch s (fresh cluster)",
                 "first batch s (warm)", "cluster start s"],
                rows,
            )
        )  # fmt: skip
    if scale.get("overhead"):
        out.append(
            "**Scheduler overhead** (no-op tasks)\n\n" + pairs(scale["overhead"])
        )
    if scale.get("extrapolation"):
        out.append(
            "**How many workers one scheduler could feed** (batches of 32 patches)"
            "\n\n" + pairs(scale["extrapolation"])
        )
    graph = scale.get("graph", {}).get("rows")
    if graph:
        rows = [
            [r["patches"], r["batches"], r["batch_tasks"],
             r["graph keys (batch_tasks)"], r.get("graph keys (to_dask)", ""),
             r["construction s"], r["patch_table s"], r["batch_tasks s"],
             r.get("to_dask s", ""), r["us per batch (batch_tasks)"],
             r["client RSS growth MiB"]]
            for r in graph
        ]  # fmt: skip
        out.append(
            "**Graph size and building time** (statistics given, 64 × 64 patches, "
            "batches of 32; metadata-only stores)\n\n"
            + table(
                ["patches", "batches", "batch tasks", "graph keys (batch_tasks)",
                 "graph keys (to_dask)", "construction s", "patch_table s",
                 "batch_tasks s", "to_dask s", "µs per batch", "RSS growth MiB"],
                rows,
            )
        )  # fmt: skip
    sizes = scale.get("sizes", {}).get("rows")
    if sizes:
        rows = [
            [r["GiB"], r["disk GiB"], r["patches/s"], r["MiB/s (source pixels)"],
             r["worker CPU ms/batch"], r["client + scheduler CPU ms/batch"]]
            for r in sizes
        ]  # fmt: skip
        if ltm and "skipped" not in ltm:
            rows.append(
                [ltm["store"]["GiB"], ltm["store"]["disk GiB"], ltm["patches/s"],
                 ltm["MiB/s (source pixels)"], "", ""]
            )  # fmt: skip
        s = scale["sizes"]
        out.append(
            f"**Store size** ({s['patch']} × {s['patch']} patches, batches of "
            f"{s['batch']}, {s['order']}, {s['workers']} workers limited to "
            f"{s['memory limit']}"
            + (
                "; the last row is the full larger-than-memory epoch)\n\n"
                if ltm and "skipped" not in ltm
                else ")\n\n"
            )
            + table(
                ["store GiB", "disk GiB", "patches/s", "MiB/s", "worker CPU ms/batch",
                 "client CPU ms/batch"],
                rows,
            )
        )  # fmt: skip
    if scale:
        out.append(
            "Load average (1 min) during the scale run: "
            f"{fmt(scale.get('load average', {}))}."
        )
    return "\n\n".join(out)


# --------------------------------------------------------------------------- plot


def plot_scale(data: dict[str, Any], path: Path) -> Path | None:
    scale = data.get("scale", {})
    ltm = data.get("scale_ltm", {}).get("ltm")
    if not scale and not ltm:
        return None
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    workers = scale.get("workers", {}).get("rows", [])
    for order in ("shuffled", "chunk-aware"):
        rows = [r for r in workers if r["order"] == order]
        if rows:
            axes[0].plot(
                [r["workers"] for r in rows], [r["patches/s"] for r in rows], "o-",
                label=order,
            )  # fmt: skip
    axes[0].set(
        title="BatchStream, 64×64 patches, batches of 32",
        xlabel="worker processes",
        ylabel="patches/s",
    )
    if workers:
        axes[0].legend()
        axes[0].set_xticks(sorted({r["workers"] for r in workers}))
    sizes = scale.get("sizes", {}).get("rows", [])
    xs = [r["GiB"] for r in sizes]
    ys = [r["MiB/s (source pixels)"] for r in sizes]
    n_batches = sizes[0]["batches"] if sizes else 0
    axes[1].plot(xs, ys, "o-", label=f"{n_batches} batches after a warm-up")
    if ltm and "skipped" not in ltm:
        axes[1].plot(
            [ltm["store"]["GiB"]], [ltm["MiB/s (source pixels)"]], "s",
            label="full epoch, > RAM",
        )  # fmt: skip
        axes[1].axvline(ltm["machine memory GiB"], color="grey", ls=":", label="RAM")
    axes[1].set(
        xscale="log",
        title="256×256 patches, chunk-aware, 2 workers",
        xlabel="store size (GiB)",
        ylabel="MiB/s of source pixels",
    )
    axes[1].legend()
    graph = scale.get("graph", {}).get("rows", [])
    if graph:
        n = [r["patches"] for r in graph]
        axes[2].loglog(
            n, [r["batch_tasks s"] for r in graph], "o-", label="batch_tasks"
        )
        axes[2].loglog(
            n, [r["construction s"] for r in graph], "o-", label="construction"
        )
        axes[2].loglog(
            n, [r["patch_table s"] for r in graph], "o-", label="patch_table"
        )
        axes[2].legend()
    axes[2].set(title="building an epoch", xlabel="patches per epoch", ylabel="s")
    axes[0].set_ylim(bottom=0)
    axes[1].set_ylim(bottom=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# -------------------------------------------------------------------------- write


INTRO = """\
# Benchmarks

Generated by `python -m benchmarks all` (`benchmarks/run_all.py`) from the JSON files
in `{results}`; the explanations under each section come from `benchmarks/notes/`.
Each benchmark runs in its own process; the reference (CAREamics 0.3.5) runs in its
own environment (`.venv-ref`, created by `benchmarks/reference_env.py` when missing).
Regenerate the text from saved results with `python -m benchmarks report`."""


def write(results: Path, output: Path) -> list[Path]:
    """Write the report and its plot; return the paths written."""
    data = load(results)
    plot = plot_scale(data, results / "scale.png")
    run = data.get("run", {})
    last = run.get("last run", {})
    text = [INTRO.format(results=os.path.relpath(results, output.parent))]
    if last.get("quick"):
        text.append(
            "**A quick (smoke) run**: small stores and few batches; the figures "
            "only show that everything runs."
        )
    text.append("## Summary\n")
    text.append(
        "Ratios are this project over the reference (times: reference over this "
        "project). Peers: xbatcher (best of its backends), naive `dask.array` "
        "slicing, the raw chunk-decode limit and zarr-python slicing, each on the "
        "same store and patches as the factory benchmark; throughput in patches/s "
        "(rows marked per CPU-s in patches per CPU second)."
    )
    text.append(
        table(
            ["figure", "this project", "reference", "xbatcher", "naive dask.array",
             "raw decode limit", "zarr-python", "ratio", "goal", "", "command"],
            summary(data),
        )
    )  # fmt: skip
    mach = run.get("machine") or machine(None)
    if mach:
        lines = [
            f"Machine: `nproc` = {mach['nproc']}, {mach['CPU']}, "
            f"{mach['memory GiB']} GiB; {fmt(mach['versions'])}"
            + (f"; reference: {fmt(mach['reference'])}" if "reference" in mach else ""),
        ]
        if last:
            lines.append(
                f"Last run: `{last['command']}` ({', '.join(last['parts'])}), "
                f"{last['seconds'] / 60:.0f} min, finished {last['finished']}; load "
                f"average (1 min) during the run {fmt(last['load average'])}."
            )
        parts = run.get("parts", {})
        if parts:
            lines.append(
                table(
                    ["part", "exit", "s", "load before", "load after", "finished"],
                    [
                        [p, s["exit"], s["seconds"], s["load average before"],
                         s["load average after"], s.get("finished", "")]
                        for p, s in parts.items()
                    ],
                )
            )  # fmt: skip
        text.append("\n\n".join(lines))
    sections = [
        ("Patching", "patching", section_patching(data)),
        ("Factory throughput", "factory", section_factory(data)),
        ("Peers: xbatcher", "peers", section_peers(data)),
        ("MicroSplit", "microsplit", section_microsplit(data)),
        ("Prediction", "predict", section_predict(data)),
        ("Stream", "stream", section_stream(data)),
        ("Scale", "scale", section_scale(data, plot, output)),
        ("Training (issue 20)", "train", section_train(data)),
    ]
    for title, name, generated in sections:
        text.append(f"## {title}")
        command = command_of(data, name)
        if generated:
            text.append(
                f"### This run\n\nCommand: `{command}`.\n\n{generated}"
                if command
                else f"### This run\n\n{generated}"
            )
        else:
            text.append(f"_No results for `{name}` in `{results}`._")
        prose = note(name)
        if prose:
            text.append(f"### Notes\n\n{prose}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n\n".join(text).rstrip() + "\n")
    return [output] + ([plot] if plot else [])
