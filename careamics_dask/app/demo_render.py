"""Synthetic cell images for the demo, rendered chunk by chunk with Dask.

The images look like fluorescence microscopy of cells: channel 0 holds flat-topped
nuclei, channel 1 their membranes (rings) and channel 2 puncta inside them (further
channels repeat the pattern). Nuclei sit on a few "tissue" islands per sample, so
large areas hold only the dim background and a background filter has something to
remove. Every chunk is one Dask task that stamps precomputed shapes and adds shot
and read noise: a 1 GiB image takes seconds per core, not minutes, and the same spec
always gives the same pixels.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import dask.array as da
    import numpy.typing as npt

__all__ = ["DemoStoreSpec", "build_demo_image", "render_demo_block"]

logger = logging.getLogger(__name__)

_TILE = 256
"""Side of the tiles nuclei are drawn in (independent of the storage chunks)."""
_RADIUS = 32
"""Half size of the largest stamp: a block needs the nuclei of tiles this close."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoStoreSpec:
    """What the demo store holds; the same spec always gives the same pixels.

    Attributes
    ----------
    n_samples : int
        Images along ``S`` (stored as OME ``t``).
    n_channels : int
        Channels (nuclei, membranes, puncta, then repeating).
    size : int
        Side of every image, in pixels (``Y`` and ``X``).
    chunk : int
        Side of the storage chunks (one sample, one channel each).
    seed : int
        Seed of every random draw.
    background : float
        Mean intensity of the background, in counts.
    nuclei_per_tile : float
        Mean number of nuclei per 256 x 256 tile on tissue.

    Examples
    --------
    >>> spec = DemoStoreSpec()
    >>> spec.nbytes / 2**30
    1.0
    >>> DemoStoreSpec.quick().shape
    (2, 2, 512, 512)
    """

    n_samples: int = 16
    n_channels: int = 2
    size: int = 4096
    chunk: int = 256
    seed: int = 0
    background: float = 100.0
    nuclei_per_tile: float = 22.0

    @classmethod
    def quick(cls) -> DemoStoreSpec:
        """Return the small spec used by ``--quick`` runs, tests and CI (2 MiB).

        Returns
        -------
        DemoStoreSpec
            Two samples of two channels, 512 x 512, chunks of 128.
        """
        return cls(n_samples=2, n_channels=2, size=512, chunk=128)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """The ``S C Y X`` shape of the stored array."""
        return (self.n_samples, self.n_channels, self.size, self.size)

    @property
    def nbytes(self) -> int:
        """Size of the pixels, uncompressed (``uint16``)."""
        return int(np.prod(self.shape)) * 2

    @property
    def threshold(self) -> float:
        """A max-filter threshold that separates the background from nuclei.

        The background is ``background`` counts with shot and read noise (a
        region's maximum stays below about ``background + 8 sqrt(background)``);
        nuclei peak at 600 counts above it or more. The threshold sits between.
        """
        return float(self.background + 250.0)


@functools.lru_cache(maxsize=8)
def _stamps(seed: int) -> tuple[npt.NDArray[np.float32], ...]:
    """Return the stamp banks: nuclei, rings and puncta, ``(k, 2R+1, 2R+1)``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
    axis = np.arange(-_RADIUS, _RADIUS + 1, dtype=np.float32)
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    nuclei, rings = [], []
    for _ in range(16):
        a, b = rng.uniform(8.0, 15.0, size=2)
        angle = rng.uniform(0, np.pi)
        u = xx * np.cos(angle) + yy * np.sin(angle)
        v = -xx * np.sin(angle) + yy * np.cos(angle)
        r2 = (u / a) ** 2 + (v / b) ** 2
        nuclei.append(np.exp(-(r2**2)))
        rings.append(np.exp(-(((np.sqrt(r2) - 1.35) / 0.12) ** 2)))
    punctum = np.exp(-(xx**2 + yy**2) / (2 * 1.3**2))
    return (
        np.asarray(nuclei, np.float32),
        np.asarray(rings, np.float32),
        punctum[None].astype(np.float32),
    )


def _islands(spec: DemoStoreSpec, sample: int) -> npt.NDArray[np.float64]:
    """Return a sample's tissue islands: rows of (y, x, width)."""
    sequence = np.random.SeedSequence(spec.seed, spawn_key=(3, sample))
    rng = np.random.default_rng(sequence)
    centres = rng.uniform(0.1, 0.9, size=(5, 2)) * spec.size
    widths = rng.uniform(0.1, 0.2, size=(5, 1)) * spec.size
    return np.hstack([centres, widths])


def _tile_range(start: int, stop: int, size: int) -> range:
    """Return the tiles whose nuclei reach into ``[start, stop)``."""
    n_tiles = -(-size // _TILE)
    return range(
        max(0, (start - _RADIUS) // _TILE), min(n_tiles, (stop + _RADIUS) // _TILE + 1)
    )


def _nuclei(
    spec: DemoStoreSpec, sample: int, box: tuple[int, int, int, int]
) -> npt.NDArray[np.float64]:
    """Return the nuclei near a box: rows of (y, x, amplitude, stamp, seed)."""
    y0, y1, x0, x1 = box
    islands = _islands(spec, sample)
    rows = [np.zeros((0, 5))]
    for ty in _tile_range(y0, y1, spec.size):
        for tx in _tile_range(x0, x1, spec.size):
            sequence = np.random.SeedSequence(spec.seed, spawn_key=(1, sample, ty, tx))
            rng = np.random.default_rng(sequence)
            n = int(rng.poisson(spec.nuclei_per_tile * 2))
            yx = (np.array([ty, tx]) + rng.random((n, 2))) * _TILE
            distance2 = ((yx[:, None, :] - islands[None, :, :2]) ** 2).sum(-1)
            tissue = np.exp(-distance2 / (2 * islands[None, :, 2] ** 2)).sum(1)
            keep = rng.random(n) < np.clip(1.6 * tissue - 0.3, 0.0, 0.5)
            amplitude = rng.uniform(600.0, 2500.0, n)
            stamp = rng.integers(0, 16, n)
            seeds = rng.integers(0, 2**31, n)
            rows.append(np.column_stack([yx, amplitude, stamp, seeds])[keep])
    return np.concatenate(rows)


def _splat(
    canvas: npt.NDArray[np.float32],
    origin: tuple[int, int],
    points: npt.NDArray[np.float64],
    stamps: npt.NDArray[np.float32],
) -> None:
    """Add ``amplitude * stamp`` at every (y, x, amplitude, stamp) point, clipped."""
    height, width = canvas.shape
    side = 2 * _RADIUS + 1
    for y, x, amplitude, index in points[:, :4]:
        top, left = int(y) - origin[0] - _RADIUS, int(x) - origin[1] - _RADIUS
        y_lo, x_lo = max(0, top), max(0, left)
        y_hi, x_hi = min(height, top + side), min(width, left + side)
        if y_lo >= y_hi or x_lo >= x_hi:
            continue
        stamp = stamps[int(index), y_lo - top : y_hi - top, x_lo - left : x_hi - left]
        canvas[y_lo:y_hi, x_lo:x_hi] += np.float32(amplitude) * stamp


def _puncta(nuclei: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Return puncta inside each nucleus: rows of (y, x, amplitude, 0)."""
    rows = [np.zeros((0, 4))]
    for y, x, amplitude, _, seed in nuclei:
        rng = np.random.default_rng(int(seed))
        offsets = rng.normal(0.0, 5.0, size=(6, 2)) + np.array([y, x])
        brightness = rng.uniform(0.3, 0.9, 6) * amplitude
        rows.append(np.column_stack([offsets, brightness, np.zeros(6)]))
    return np.concatenate(rows)


def render_demo_block(
    spec: DemoStoreSpec, block_info: dict[Any, Any] | None = None
) -> npt.NDArray[np.uint16]:
    """Render one block ``(1, 1, h, w)`` of the demo image, given its location.

    Parameters
    ----------
    spec : DemoStoreSpec
        What the store holds.
    block_info : dict, optional
        Dask's ``block_info``; ``block_info[None]["array-location"]`` is the block's
        ``(start, stop)`` along ``S C Y X``.

    Returns
    -------
    numpy.ndarray
        The ``uint16`` pixels of the block.

    Raises
    ------
    ValueError
        When no location is given or the block spans several samples or channels.

    Examples
    --------
    >>> spec = DemoStoreSpec.quick()
    >>> where = {None: {"array-location": [(0, 1), (1, 2), (0, 64), (0, 32)]}}
    >>> render_demo_block(spec, where).shape
    (1, 1, 64, 32)
    """
    if block_info is None or None not in block_info:
        raise ValueError(
            "render_demo_block needs the block's location: expected Dask's "
            "block_info, got None. Call it through dask.array.map_blocks."
        )
    (s0, s1), (c0, c1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
    if s1 - s0 != 1 or c1 - c0 != 1:
        raise ValueError(
            "Demo blocks hold one sample and one channel: expected chunks of 1 "
            f"along S and C, got {s1 - s0} and {c1 - c0}."
        )
    nuclei = _nuclei(spec, s0, (y0, y1, x0, x1))
    canvas = np.zeros((y1 - y0, x1 - x0), np.float32)
    nucleus_stamps, ring_stamps, punctum = _stamps(spec.seed)
    kind = c0 % 3
    if kind == 0:
        _splat(canvas, (y0, x0), nuclei, nucleus_stamps)
    elif kind == 1:
        _splat(canvas, (y0, x0), nuclei * [1, 1, 0.6, 1, 1], ring_stamps)
    else:
        _splat(canvas, (y0, x0), _puncta(nuclei), punctum)
    key = (4, s0, c0, y0, x0)
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=key))
    canvas += np.float32(spec.background)
    # shot noise (variance = signal) and read noise (4 counts) in one draw
    noise = np.empty_like(canvas)
    rng.standard_normal(dtype=np.float32, out=noise)
    noise *= np.sqrt(canvas + np.float32(16.0))
    canvas += noise
    np.clip(canvas, 0, 65535, out=canvas)
    return canvas.astype(np.uint16)[None, None]


def build_demo_image(spec: DemoStoreSpec) -> da.Array:
    """Return the demo image as a lazy ``S C Y X`` array, one task per chunk.

    Parameters
    ----------
    spec : DemoStoreSpec
        What to render.

    Returns
    -------
    dask.array.Array
        ``uint16``, chunked like the store.

    Examples
    --------
    >>> image = build_demo_image(DemoStoreSpec.quick())
    >>> image.shape, image.chunksize, image.dtype.name
    ((2, 2, 512, 512), (1, 1, 128, 128), 'uint16')
    """
    import dask.array as da
    from dask.base import tokenize

    chunks = (spec.chunk, spec.chunk)
    normalized = da.core.normalize_chunks(
        (1, 1, *chunks), shape=spec.shape, dtype=np.uint16
    )
    image: da.Array = da.map_blocks(
        render_demo_block,
        spec,
        chunks=normalized,
        dtype=np.uint16,
        meta=np.empty((0, 0, 0, 0), np.uint16),
        name=f"careamics-demo-{tokenize(asdict(spec))}",
    )
    return image
