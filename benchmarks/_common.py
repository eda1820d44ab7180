"""Shared helpers of the benchmarks: synthetic stores, timing and memory sampling."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import numpy.typing as npt

__all__ = [
    "CpuMeter",
    "PeakMemory",
    "ensure_store",
    "rss_bytes",
    "store_shape",
    "timed",
]

CHUNK = 256
ARRAY = "image"


def store_shape(size_gib: float, side: int = 4096) -> tuple[int, int, int]:
    """Return ``(S, side, side)`` uint16 closest to ``size_gib`` (at least one sample).

    Sides shrink (by halves, down to 1024) when one sample of ``side`` is too big.
    """
    target = size_gib * 2**30
    while side > 1024 and side * side * 2 > target:
        side //= 2
    n = max(1, round(target / (side * side * 2)))
    return (n, side, side)


def _sample(rng: np.random.Generator, side: int) -> npt.NDArray[np.uint16]:
    """One synthetic microscopy-like image: smooth structure, blobs and noise."""
    coarse = rng.integers(100, 1500, (side // 128, side // 128)).astype(np.uint16)
    image = np.repeat(np.repeat(coarse, 128, axis=0), 128, axis=1)
    image += rng.integers(0, 200, (side, side), dtype=np.uint16)
    return image


def ensure_store(root: Path, shape: tuple[int, int, int], *, seed: int = 0) -> Path:
    """Create (or reuse) a Zarr v3 store ``root`` with one uint16 array ``image``.

    Chunks are ``1 x 256 x 256``, compressed with zstd (zarr's default level). A
    store with a finished marker (``<root>.json``, beside the store) of the same
    shape is reused as is.
    """
    import zarr
    from zarr.codecs import ZstdCodec

    marker = root.with_name(root.name + ".json")
    if marker.exists() and json.loads(marker.read_text()).get("shape") == list(shape):
        return root
    start = time.perf_counter()
    array = zarr.create_array(
        store=str(root),
        name=ARRAY,
        shape=shape,
        chunks=(1, CHUNK, CHUNK),
        dtype="uint16",
        compressors=ZstdCodec(level=3),
        overwrite=True,
        zarr_format=3,
    )
    rng = np.random.default_rng(seed)
    for s in range(shape[0]):
        array[s] = _sample(rng, shape[1])
    marker.write_text(json.dumps({"shape": list(shape), "chunk": CHUNK}))
    print(
        f"wrote {root} {shape} uint16 in {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    return root


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """Return the wall time of one call and its result."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def rss_bytes(pid: int | None = None) -> int:
    """Return the resident set size of a process (this one by default)."""
    import psutil  # type: ignore[import-untyped]

    return int(psutil.Process(pid or os.getpid()).memory_info().rss)


class PeakMemory:
    """Sample the RSS of some processes in a thread; keep the peak of their sum.

    Use as a context manager; ``peak`` is in bytes. ``pids`` defaults to this
    process; a callable is evaluated at each sample (e.g. the workers of a cluster).
    """

    def __init__(
        self,
        pids: Callable[[], list[int]] | None = None,
        interval: float = 0.02,
    ) -> None:
        self._pids = pids or (lambda: [os.getpid()])
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        total = 0
        for pid in self._pids():
            try:
                total += rss_bytes(pid)
            except Exception:  # a process that just ended
                continue
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def cpu_seconds(pids: list[int]) -> float:
    """Return the user + system CPU seconds of some processes (vanished ones: 0)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class CpuMeter:
    """CPU seconds some processes spend between ``start()`` and ``stop()``.

    On a shared machine wall-clock rates move with the other processes' load;
    work per CPU second does much less, so the benchmarks report both.
    ``pids`` is called at ``start()``; processes must outlive ``stop()``.
    """

    def __init__(self, pids: Callable[[], list[int]] | None = None) -> None:
        self._pids = pids or (lambda: [os.getpid()])
        self._watched: list[int] = []
        self._start = 0.0
        self.seconds = float("nan")

    def start(self) -> CpuMeter:
        self._watched = self._pids()
        self._start = cpu_seconds(self._watched)
        return self

    def stop(self) -> float:
        self.seconds = cpu_seconds(self._watched) - self._start
        return self.seconds
