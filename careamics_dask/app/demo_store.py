"""The demo's OME-Zarr store: written once into a cache directory, atomically.

:func:`ensure_demo_store` returns the cached store of a
:class:`~careamics_dask.app.demo_render.DemoStoreSpec`, rendering and writing it first
(into a temporary path renamed when complete) when it is missing, incomplete or of
another spec.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from careamics_dask.app.demo_render import DemoStoreSpec, build_demo_image

if TYPE_CHECKING:
    from collections.abc import Callable

    from distributed import Client

__all__ = [
    "default_cache_dir",
    "demo_store_path",
    "ensure_demo_store",
    "read_demo_spec",
    "write_demo_store",
]

logger = logging.getLogger(__name__)

_ATTRIBUTE = "careamics-dask-demo"
_CHANNEL_NAMES = ("nuclei", "membranes", "puncta")
_FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """Return where the demo keeps its data: ``$XDG_CACHE_HOME/careamics-dask``.

    Returns
    -------
    pathlib.Path
        ``$XDG_CACHE_HOME/careamics-dask``, or ``~/.cache/careamics-dask`` when the
        variable is not set.

    Examples
    --------
    >>> default_cache_dir().name
    'careamics-dask'
    """
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "careamics-dask"


def _ome_attributes(spec: DemoStoreSpec) -> dict[str, Any]:
    axes = [
        {"name": "t", "type": "time"},
        {"name": "c", "type": "channel"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]
    transform = {"type": "scale", "scale": [1.0, 1.0, 0.1, 0.1]}
    datasets = [{"path": "0", "coordinateTransformations": [transform]}]
    labels = [
        _CHANNEL_NAMES[c % 3] + (f"_{c // 3}" if c >= 3 else "")
        for c in range(spec.n_channels)
    ]
    return {
        "version": "0.5",
        "multiscales": [{"name": "demo", "axes": axes, "datasets": datasets}],
        "omero": {"channels": [{"label": label} for label in labels]},
    }


def read_demo_spec(path: str | Path) -> DemoStoreSpec | None:
    """Return the spec a complete demo store was written with, or None.

    Parameters
    ----------
    path : str or pathlib.Path
        The store.

    Returns
    -------
    DemoStoreSpec or None
        None when ``path`` is not a complete demo store of this format version.

    Examples
    --------
    >>> read_demo_spec("no-such-store.zarr") is None
    True
    """
    import zarr

    try:
        group = zarr.open_group(Path(path), mode="r")
        recorded: Any = group.attrs[_ATTRIBUTE]
        array = group["0"]
    except (FileNotFoundError, KeyError, TypeError, ValueError, OSError):
        return None
    if not isinstance(recorded, dict) or not isinstance(array, zarr.Array):
        return None
    fields = dict(recorded)
    if fields.pop("format", None) != _FORMAT_VERSION:
        return None
    try:
        spec = DemoStoreSpec(**fields)
    except TypeError:
        return None
    return spec if tuple(array.shape) == spec.shape else None


def write_demo_store(
    path: str | Path,
    spec: DemoStoreSpec,
    *,
    client: Client | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the demo OME-Zarr store, atomically (a temporary path, then a rename).

    Parameters
    ----------
    path : str or pathlib.Path
        Where the store goes; must not exist.
    spec : DemoStoreSpec
        What to write.
    client : distributed.Client, optional
        Render and write on this cluster; else on local threads.
    on_progress : callable, optional
        Called with ``(done, total)`` rows of chunks as they are written.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileExistsError
        When ``path`` exists already.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "demo.ome.zarr"
    >>> spec = DemoStoreSpec(n_samples=1, size=64, chunk=32)
    >>> read_demo_spec(write_demo_store(out, spec)) == spec
    True
    """
    import dask.array as da
    import zarr
    from zarr.codecs import BloscCodec

    from careamics_dask.app.export import compute_with_progress

    target = Path(path)
    if target.exists():
        raise FileExistsError(
            f"Demo store {str(target)!r} exists already: expected a new path. Delete "
            "it or choose another cache directory."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        group = zarr.open_group(temporary, mode="w-", zarr_format=3)
        array = group.create_array(
            "0",
            shape=spec.shape,
            chunks=(1, 1, spec.chunk, spec.chunk),
            dtype="uint16",
            compressors=BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
            dimension_names=["t", "c", "y", "x"],
        )
        image = build_demo_image(spec)
        rows = [
            da.to_zarr(
                image[s, :, y : y + spec.chunk][None],
                array,
                region=(slice(s, s + 1), slice(None), slice(y, y + spec.chunk)),
                compute=False,
            )
            for s in range(spec.n_samples)
            for y in range(0, spec.size, spec.chunk)
        ]
        compute_with_progress(rows, client, on_progress)
        group.attrs[_ATTRIBUTE] = {"format": _FORMAT_VERSION, **asdict(spec)}
        group.attrs["ome"] = _ome_attributes(spec)
        temporary.rename(target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    logger.info("wrote demo store %s (%d bytes of pixels)", target, spec.nbytes)
    return target


def demo_store_path(cache_dir: str | Path, spec: DemoStoreSpec) -> Path:
    """Return where the store of ``spec`` lives in a cache directory.

    Parameters
    ----------
    cache_dir : str or pathlib.Path
        The cache directory.
    spec : DemoStoreSpec
        The store's spec.

    Returns
    -------
    pathlib.Path
        ``demo.ome.zarr`` for the default spec, ``demo-quick.ome.zarr`` for the
        quick one, a name with the shape otherwise.

    Examples
    --------
    >>> demo_store_path("cache", DemoStoreSpec.quick()).name
    'demo-quick.ome.zarr'
    """
    if spec == DemoStoreSpec():
        name = "demo.ome.zarr"
    elif spec == DemoStoreSpec.quick():
        name = "demo-quick.ome.zarr"
    else:
        name = f"demo-{spec.n_samples}x{spec.n_channels}x{spec.size}.ome.zarr"
    return Path(cache_dir) / name


def ensure_demo_store(
    cache_dir: str | Path,
    spec: DemoStoreSpec,
    *,
    client: Client | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, bool]:
    """Return the cached demo store of ``spec``, writing it first if needed.

    A store at the path that is incomplete or of another spec is replaced.

    Parameters
    ----------
    cache_dir : str or pathlib.Path
        The cache directory (see :func:`default_cache_dir`).
    spec : DemoStoreSpec
        What the store must hold.
    client : distributed.Client, optional
        Render on this cluster.
    on_progress : callable, optional
        Progress callback of :func:`write_demo_store`.

    Returns
    -------
    path : pathlib.Path
        The store.
    written : bool
        Whether it was written now (False: reused).

    Examples
    --------
    >>> import tempfile
    >>> spec = DemoStoreSpec(n_samples=1, size=64, chunk=32)
    >>> cache = tempfile.mkdtemp()
    >>> ensure_demo_store(cache, spec)[1], ensure_demo_store(cache, spec)[1]
    (True, False)
    """
    path = demo_store_path(cache_dir, spec)
    if read_demo_spec(path) == spec:
        return path, False
    if path.exists():
        logger.warning("replacing the incomplete or outdated demo store %s", path)
        stale = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.stale")
        path.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    return write_demo_store(path, spec, client=client, on_progress=on_progress), True
