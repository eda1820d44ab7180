"""The output store: written at a temporary path, journaled, moved into place.

A prediction into ``OUT.zarr`` is written to ``OUT.zarr.partial`` next to it. Each
:class:`~careamics_dask.predict.stitch.Region` (complete output chunks) is written by
one call on a small thread pool, and only then recorded as one line of an append-only
journal inside the partial store. When every region is written, the journal is
removed, the root attributes say ``complete`` and the partial store is renamed to
``OUT.zarr`` (an existing output is swapped out only then, with ``overwrite``). An
interrupted run leaves the partial store; the next run with the same dataset and
layout (the manifest's fingerprint) reads the journal and skips the regions it lists.
A torn last journal line (a crash mid-append) is ignored: its region is redone.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.predict.layout import ATTRIBUTE

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from careamics_dask.predict.layout import ImageLayout
    from careamics_dask.predict.stitch import ChunkGrid, Region

__all__ = ["PredictionStore", "partial_path"]

logger = logging.getLogger(__name__)

JOURNAL = ".careamics-predict-journal"
MANIFEST = ".careamics-predict.json"


def partial_path(path: str | os.PathLike[str]) -> Path:
    """Return where a prediction into ``path`` is written until it is complete.

    Parameters
    ----------
    path : str or os.PathLike
        The output store.

    Returns
    -------
    pathlib.Path
        ``<path>.partial``, in the same folder (so the final move is a rename).

    Examples
    --------
    >>> partial_path("/data/out.zarr").name
    'out.zarr.partial'
    """
    target = Path(path)
    return target.with_name(target.name + ".partial")


class PredictionStore:
    """A prediction store being written: arrays, journal, final move.

    Parameters
    ----------
    path : str or os.PathLike
        The output store (a local folder ``*.zarr``).
    fingerprint : str
        Identifies the dataset and output layout; a partial store of another
        fingerprint is not resumed.
    overwrite : bool, default False
        Replace an existing output (when the new one is complete).
    resume : bool, default True
        Continue a partial store of the same fingerprint (else discard it).
    threads : int, default 2
        Regions written at the same time.
    max_pending : int, default 8
        Regions queued or being written before :meth:`write` blocks.
    compressors : Any, default "auto"
        Compressors of new arrays (``zarr.create_array``'s argument).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fingerprint: str,
        overwrite: bool = False,
        resume: bool = True,
        threads: int = 2,
        max_pending: int = 8,
        compressors: Any = "auto",
    ) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.fingerprint = fingerprint
        self.overwrite = overwrite
        self.resume = resume
        self.resumed = False
        self.compressors = compressors
        self._pool = ThreadPoolExecutor(max(1, threads), "careamics-predict-write")
        self._slots = threading.BoundedSemaphore(max(1, max_pending))
        self._lock = threading.Lock()
        self._errors: list[BaseException] = []
        self._futures: set[Future[None]] = set()
        self._arrays: dict[int, tuple[ImageLayout, Any]] = {}
        self._journal: int | None = None
        self.regions_written = 0

    # --- opening --------------------------------------------------------------

    def open(
        self, grids: Sequence[ChunkGrid], n_samples: Sequence[int]
    ) -> list[npt.NDArray[np.bool_]]:
        """Create the partial store, or reopen one to resume it.

        Parameters
        ----------
        grids : Sequence[ChunkGrid]
            The output chunk grid of every image stack.
        n_samples : Sequence[int]
            The samples of every image stack.

        Returns
        -------
        list of numpy.ndarray
            Per stack, ``(S, *grid.counts)`` booleans: chunks already written.

        Raises
        ------
        FileExistsError
            When the output exists and ``overwrite`` is False, or when the partial
            path holds something that is not a partial prediction.
        ValueError
            When a partial prediction of another dataset or layout is there and
            ``resume`` is True.
        """
        if self.path.exists() and not self.overwrite:
            raise FileExistsError(
                f"The output {str(self.path)!r} exists: expected a new path. Pass "
                "overwrite=True to replace it once the new prediction is complete."
            )
        done = [
            np.zeros((int(s), *g.counts), dtype=np.bool_)
            for g, s in zip(grids, n_samples, strict=True)
        ]
        manifest = self.partial / MANIFEST
        if self.partial.exists():
            if not manifest.is_file():
                raise FileExistsError(
                    f"{str(self.partial)!r} exists but is not a partial prediction "
                    "(no manifest): expected nothing there. Move it away."
                )
            found = json.loads(manifest.read_text()).get("fingerprint")
            if self.resume and found != self.fingerprint:
                raise ValueError(
                    f"The partial prediction {str(self.partial)!r} belongs to "
                    f"another run: expected fingerprint {self.fingerprint}, found "
                    f"{found} (other data, config, chunks or axes). Pass "
                    "resume=False to discard it and start again."
                )
            if self.resume:
                count = self._read_journal(done)
                self.resumed = True
                logger.info(
                    "resuming %s: %d regions already written", self.partial, count
                )
            else:
                shutil.rmtree(self.partial)
        if not self.resumed:
            import zarr

            zarr.open_group(
                self.partial,
                mode="w",
                zarr_format=3,
                attributes={ATTRIBUTE: {"kind": "prediction", "complete": False}},
            )
            manifest.write_text(json.dumps({"fingerprint": self.fingerprint}))
        self._journal = os.open(
            self.partial / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
        )
        return done

    def _read_journal(self, done: list[npt.NDArray[np.bool_]]) -> int:
        path = self.partial / JOURNAL
        if not path.is_file():
            return 0
        count = 0
        for line in path.read_text().splitlines():
            try:
                values = [int(v) for v in line.split()]
                data_idx, sample, *band, first, stop = values
                mask = done[data_idx]
                if len(band) != mask.ndim - 2:
                    continue
                index: tuple[Any, ...] = (sample, *band, slice(first, stop))
                mask[index] = True
                count += 1
            except (ValueError, IndexError):  # a torn or foreign line: redo it
                logger.debug("ignoring journal line %r", line)
        return count

    def prepare(self, layouts: Sequence[ImageLayout]) -> None:
        """Create the output arrays (or check those of a resumed store).

        Parameters
        ----------
        layouts : Sequence[ImageLayout]
            One per image stack.

        Raises
        ------
        ValueError
            When a resumed store holds an array of another shape or axes.
        """
        import zarr

        root = zarr.open_group(self.partial, mode="r+")
        for layout in layouts:
            if layout.path in root:
                array: Any = root[layout.path]
                stored = dict(array.attrs).get(ATTRIBUTE, {}).get("axes")
                if tuple(array.shape) != layout.shape or stored != layout.axes:
                    raise ValueError(
                        f"The partial prediction {str(self.partial)!r} holds "
                        f"{layout.path!r} with shape {tuple(array.shape)} and axes "
                        f"{stored!r}: expected {layout.shape} and {layout.axes!r} "
                        "(did the model's channel count change?). Pass "
                        "resume=False to start again."
                    )
            else:
                parent = root
                if layout.group is not None:
                    parent = root.create_group(
                        layout.group,
                        attributes={"ome": layout.ome, ATTRIBUTE: layout.attributes},
                    )
                name = layout.path.rsplit("/", 1)[-1]
                array = parent.create_array(
                    name,
                    shape=layout.shape,
                    chunks=layout.chunks,
                    compressors=self.compressors,
                    dtype="float32",
                    fill_value=0.0,
                    attributes={ATTRIBUTE: layout.attributes},
                    dimension_names=_dimension_names(layout),
                )
            self._arrays[layout.index] = (layout, array)

    # --- writing ----------------------------------------------------------------

    def write(self, region: Region) -> None:
        """Queue one region; blocks while ``max_pending`` regions are queued.

        Parameters
        ----------
        region : Region
            Complete chunks of one sample.

        Raises
        ------
        Exception
            The first error of an earlier write.
        """
        self._raise_errors()
        self._slots.acquire()
        try:
            future = self._pool.submit(self._write, region)
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._finished)

    def _write(self, region: Region) -> None:
        layout, array = self._arrays[region.data_idx]
        index, data = layout.place(region)
        array[index] = data
        line = " ".join(
            str(v) for v in (region.data_idx, region.sample, *region.band, *region.last)
        )
        with self._lock:
            if self._journal is None:  # closed: the run is over
                raise RuntimeError(f"Region {line} written after the store closed.")
            os.write(self._journal, (line + "\n").encode())
            self.regions_written += 1

    def _finished(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)
            error = future.exception()
            if error is not None:
                self._errors.append(error)
        self._slots.release()

    def _raise_errors(self) -> None:
        with self._lock:
            if self._errors:
                raise self._errors[0]

    def flush(self) -> None:
        """Wait for every queued region; raise the first write error."""
        while True:
            with self._lock:
                pending = list(self._futures)
            if not pending:
                break
            for future in pending:
                future.exception()
        self._raise_errors()

    def close(self) -> None:
        """Wait for queued writes and release the thread pool and the journal."""
        self._pool.shutdown(wait=True)
        if self._journal is not None:
            os.close(self._journal)
            self._journal = None

    # --- finishing ------------------------------------------------------------

    def commit(self, attributes: dict[str, Any]) -> Path:
        """Mark the store complete and move it into place.

        Parameters
        ----------
        attributes : dict
            Root metadata (merged into the ``careamics-dask`` attribute).

        Returns
        -------
        pathlib.Path
            The output path.
        """
        self.flush()
        self.close()
        import zarr

        root = zarr.open_group(self.partial, mode="r+")
        root.attrs[ATTRIBUTE] = {"kind": "prediction", **attributes, "complete": True}
        old = None
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old-{uuid.uuid4().hex[:8]}")
            self.path.rename(old)
        self.partial.rename(self.path)
        # after the move: a crash before it leaves a partial store that resumes
        (self.path / JOURNAL).unlink(missing_ok=True)
        (self.path / MANIFEST).unlink(missing_ok=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        logger.info("prediction complete: %s", self.path)
        return self.path


def _dimension_names(layout: ImageLayout) -> list[str]:
    if layout.ome is not None:
        return [axis["name"] for axis in layout.ome["multiscales"][0]["axes"]]
    return list(layout.axes)
