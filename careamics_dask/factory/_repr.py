"""The notebook display of a dataset: an HTML summary built from metadata only."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

    from careamics_dask.config import DataConfig
    from careamics_dask.factory.extractors import PatchExtractor
    from careamics_dask.patching import PatchingStrategy

__all__ = ["DescribedDataset", "dataset_html"]


class DescribedDataset(Protocol):
    """What the summary reads of a dataset (metadata only)."""

    config: DataConfig
    patching: PatchingStrategy
    inputs: PatchExtractor
    targets: PatchExtractor | None

    @property
    def batch_size(self) -> int:
        """Patches per batch."""
        ...

    def __len__(self) -> int: ...

    def n_batches(self) -> int:
        """Return the number of batches per epoch."""
        ...


MAX_STACKS = 8
"""Image stacks listed; the rest are counted."""

_STYLE = (
    "<style>.cd-repr table{border-collapse:collapse;font-size:12px}"
    ".cd-repr th{text-align:left;padding:2px 10px 2px 0;vertical-align:top;"
    "font-weight:600}.cd-repr td{text-align:left;padding:2px 10px 2px 0}"
    ".cd-repr code{font-size:11px}</style>"
)


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"  # pragma: no cover - the loop returns


def _chunks(stack: xr.DataArray) -> str:
    chunks = getattr(stack.data, "chunksize", None)
    if chunks is None:
        return "in memory"
    return " &times; ".join(str(int(c)) for c in chunks)


def _stack_row(index: int, stack: xr.DataArray) -> str:
    source = str(stack.attrs.get("source", "array"))
    array = stack.attrs.get("array")
    where = source + (f" [{array}]" if array not in (None, "") else "")
    dims = " ".join(
        f"{d} {int(n)}" for d, n in zip(stack.dims, stack.shape, strict=True)
    )
    channels = ""
    if "C" in stack.coords:
        channels = ", ".join(str(v) for v in stack.coords["C"].values)
    return (
        f"<tr><td>{index}</td><td><code>{html.escape(where)}</code></td>"
        f"<td>{html.escape(dims)}</td><td>{_chunks(stack)}</td>"
        f"<td>{html.escape(str(stack.attrs.get('original_dtype', stack.dtype)))}</td>"
        f"<td>{_size(float(stack.nbytes))}</td><td>{html.escape(channels)}</td></tr>"
    )


def _sources(dataset: DescribedDataset, target: bool) -> str:
    extractor = dataset.targets if target else dataset.inputs
    if extractor is None:
        return ""
    stacks = extractor.image_stacks
    rows = "".join(_stack_row(i, s) for i, s in enumerate(stacks[:MAX_STACKS]))
    more = (
        f"<tr><td colspan='7'>… and {len(stacks) - MAX_STACKS} more</td></tr>"
        if len(stacks) > MAX_STACKS
        else ""
    )
    total = _size(float(sum(s.nbytes for s in stacks)))
    head = (
        "<tr><th>#</th><th>source</th><th>dims</th><th>chunks</th><th>dtype</th>"
        "<th>size</th><th>channels</th></tr>"
    )
    kind = "targets" if target else "inputs"
    return (
        f"<details open><summary>{kind}: {len(stacks)} image stack(s), {total}"
        f"</summary><table>{head}{rows}{more}</table></details>"
    )


def _format_values(values: Any) -> str:
    if values is None:
        return "not computed"
    return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"


def _normalization(config: Any) -> str:
    fields = [
        (name, value)
        for name, value in config.model_dump().items()
        if name != "name" and value is not None
    ]
    parts = [f"<b>{html.escape(str(config.name))}</b>"]
    for name, value in fields:
        shown = (
            _format_values(value)
            if isinstance(value, list | tuple)
            else html.escape(str(value))
        )
        parts.append(f"{html.escape(name)} {shown}")
    return "; ".join(parts)


def _strategy(dataset: DescribedDataset) -> str:
    patching = dataset.config.patching
    size = getattr(patching, "patch_size", None)
    text = f"{type(dataset.patching).__name__} ({patching.name}"
    if size:
        text += ", patch " + "x".join(str(int(v)) for v in size)
    overlaps = getattr(patching, "overlaps", None)
    if overlaps:
        text += ", overlap " + "x".join(str(int(v)) for v in overlaps)
    text += f", seed {dataset.config.seed})"
    weights = getattr(dataset.patching, "region_weights", None)
    excluded = getattr(dataset.patching, "excluded_cells", None)
    if weights is not None and excluded is not None:
        low = int(((np.asarray(weights) < 1) & ~np.asarray(excluded)).sum())
        text += (
            f"; {np.asarray(weights).size:,} grid cells, {low:,} weighted down, "
            f"{int(np.asarray(excluded).sum()):,} held out"
        )
    return html.escape(text)


def dataset_html(dataset: DescribedDataset) -> str:
    """Return an HTML summary of a dataset, from metadata only (no pixel is read).

    It shows the mode, patch and batch counts, the patching strategy, the sources
    (dims, storage-aligned chunks, dtype, size, channel names), the normalization
    statistics, the background filter, augmentations, and the first input stack's
    own xarray display (a lazy Dask array).

    Parameters
    ----------
    dataset : DescribedDataset
        The dataset.

    Returns
    -------
    str
        An HTML fragment.

    Examples
    --------
    >>> from careamics_dask.config import DataConfig
    >>> from careamics_dask.factory import create_dataset
    >>> config = DataConfig(mode="validating", data_type="array", axes="SYX",
    ...     patching={"name": "fixed_random", "patch_size": [8, 8]},
    ...     normalization={"name": "none"}, seed=1)
    >>> text = dataset_html(create_dataset(config, np.ones((2, 16, 16)), None))
    >>> "8 per epoch" in text and "FixedRandomPatching" in text
    True
    """
    config = dataset.config
    filter_config = config.patch_filter
    augmentations = ", ".join(a.name for a in config.augmentations or []) or "none"
    channels = ", ".join(str(c) for c in config.channels) if config.channels else "all"
    rows = [
        ("mode", html.escape(str(getattr(config.mode, "value", config.mode)))),
        (
            "patches",
            f"{len(dataset):,} per epoch, {dataset.n_batches():,} batches of "
            f"{dataset.batch_size}",
        ),
        ("strategy", _strategy(dataset)),
        ("axes", f"{html.escape(config.axes)}; input channels {channels}"),
        ("normalization", _normalization(config.normalization)),
        (
            "filter",
            html.escape(
                "none"
                if filter_config is None
                else ", ".join(
                    f"{k} {v}" for k, v in filter_config.model_dump().items()
                )
            ),
        ),
        ("augmentations", html.escape(augmentations)),
    ]
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    first = dataset.inputs.image_stacks[0]
    lazy = first._repr_html_()
    return (
        f"{_STYLE}<div class='cd-repr'><b>CareamicsDataset</b><table>{table}</table>"
        f"{_sources(dataset, target=False)}{_sources(dataset, target=True)}"
        f"<details><summary>image stack 0 (lazy)</summary>{lazy}</details></div>"
    )
