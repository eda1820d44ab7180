"""Runtime knobs in dask.config under ``careamics-dask``, read on the client."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import dask.config
import yaml

__all__ = ["__version__", "get_option", "reading_options"]

try:
    __version__ = version("careamics-dask")
    """The installed version, written into outputs (exports, predictions)."""
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

_DEFAULTS = Path(__file__).with_name("careamics_dask.yaml")

with _DEFAULTS.open() as _file:
    dask.config.update_defaults(yaml.safe_load(_file))


def get_option(key: str, value: Any = None) -> Any:
    """Return a runtime knob: ``value`` when given, else the dask config's.

    Call it on the client when a graph is built and pass the result into tasks;
    never inside a task (a worker's config may differ).

    Parameters
    ----------
    key : str
        The key below ``careamics-dask``, e.g. ``"batching.prefetch"``.
    value : Any, optional
        An explicit value, which wins (the None-sentinel pattern).

    Returns
    -------
    Any
        The value.

    Examples
    --------
    >>> get_option("batching.prefetch")
    8
    >>> with dask.config.set({"careamics-dask.batching.prefetch": 3}):
    ...     get_option("batching.prefetch")
    3
    >>> get_option("batching.prefetch", 5)
    5
    """
    if value is not None:
        return value
    return dask.config.get(f"careamics-dask.{key}")


def reading_options() -> dict[str, Any]:
    """Return how batch tasks read sources, from the configuration (client side).

    The fields of the same names of a batch plan
    (:class:`~careamics_dask.graph.batch.BatchPlan`,
    :class:`~careamics_dask.graph.microsplit.MicroSplitPlan`).

    Returns
    -------
    dict
        ``threads``, ``cache_bytes``, ``backend`` and ``chunk_cache_bytes``.

    Examples
    --------
    >>> sorted(reading_options())
    ['backend', 'cache_bytes', 'chunk_cache_bytes', 'threads']
    """
    return {
        "threads": int(get_option("batching.read-threads")),
        "cache_bytes": int(get_option("cache.bytes")),
        "backend": str(get_option("batching.backend")),
        "chunk_cache_bytes": int(get_option("cache.chunk-bytes")),
    }
