"""MicroSplit batch tasks: lateral context, channel mixing and uncorrelated channels.

A :class:`MicroSplitPlan` is the :class:`~careamics_dask.graph.batch.BatchBuilder` of
MicroSplit datasets (``reference_semantics.md`` §6.2). It receives the rows of the
principal patch table, like every batch task, and builds for each row:

- ``multiplexed``: lateral context of the selected target channels at the row (or,
  with probability ``uncorrelated_channel_prob``, channel ``c >= 1`` at row
  ``floor(u_c n)`` of the same epoch's table); the input is the weighted sum of
  the channels' planes and the target the native planes.
- ``independent``: one single-channel source per target channel, each with its
  own patching; the principal source (most patches) uses the row, every other
  source a row of its own epoch table drawn uniformly; always uncorrelated.
- ``paired``: lateral context of the real single-channel input; the target is the
  plain multi-channel target patch.
- ``predicting``: lateral context of the real input over tiles; no target.

Every random number (the uncorrelated decision, the mixing weights, the other
channels' rows) is a counter-based draw keyed by ``(seed, epoch, global patch
index)`` (:func:`~careamics_dask.graph.transforms.draw_uniforms`; epoch 0 outside
training, so validation patches do not change), so a patch is the same in any
batch, on any worker, in any order: ``dataset[i]``, ``batch``, ``to_dask`` and
``BatchStream`` agree.

Differences from CAREamics
--------------------------
- The reference drew from one shared generator in dataset-index order, so a patch
  depended on the patches built before it (and DataLoader workers repeated each
  other's draws).
- Other channels' locations are rows of the epoch's patch table (the reference
  called ``get_patch_spec`` again, drawing fresh coordinates).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from careamics_dask.graph.batch import read_patches
from careamics_dask.graph.microsplit.lateral_context import read_lateral_contexts
from careamics_dask.graph.microsplit.locations import ChannelLocations, epoch_table
from careamics_dask.graph.reading import PatchReader
from careamics_dask.graph.transforms.augment import augment_batch
from careamics_dask.graph.transforms.draws import draw_uniforms
from careamics_dask.loaders import CHUNK_CACHE_BYTES

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.graph.microsplit.windows import PaddingMode
    from careamics_dask.graph.reading import StackSource
    from careamics_dask.graph.transforms.normalize import Normalizer
    from careamics_dask.graph.transforms.spatial import SpatialAugmentation
    from careamics_dask.patching import PatchingStrategy, PatchTable

__all__ = ["MicroSplitMode", "MicroSplitPlan"]

logger = logging.getLogger(__name__)

MicroSplitMode = Literal["multiplexed", "independent", "paired", "predicting"]
"""The reference's training modes i, ii and iii, and prediction."""

_DRAW_KEY = 0x6D73706C  # "mspl": the stream of MicroSplit draws (never an aug index)

Int64Array = npt.NDArray[np.int64]
Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class MicroSplitPlan:
    """What every batch task of a MicroSplit dataset shares.

    Attributes
    ----------
    mode : {"multiplexed", "independent", "paired", "predicting"}
        The MicroSplit mode.
    groups : tuple of tuple of StackSource
        ``multiplexed``: (targets,); ``independent``: one group per target
        channel; ``paired``: (inputs, targets); ``predicting``: (inputs,).
    patchings : tuple of PatchingStrategy
        Private copies of the strategies whose tables other channels are drawn
        from: one per source (``independent``), the principal's (``multiplexed``
        with uncorrelated channels), or none.
    normalizer : Normalizer
        Normalization of inputs (every plane) and targets.
    principal : int
        The channel (source) whose table gives the rows.
    channels : tuple of int or None
        Selected target channels (``multiplexed``); None keeps all.
    multiscale_count : int
        Lateral-context planes per input.
    padding_mode : {"reflect", "wrap"}
        Padding of lateral-context windows.
    alpha_ranges : tuple of (float, float) or None
        ``(low, high)`` per mixed channel (already following ``channels``); None
        weighs every channel ``1 / n``.
    uncorrelated_channel_prob : float
        Probability of uncorrelated channels (``multiplexed``).
    seed : int
        Key of every draw.
    vary_by_epoch : bool
        Draw anew every epoch (training); False keys every epoch's draws like
        epoch 0, so validation patches are the same in every epoch.
    augmentations : tuple
        Augmentations applied in order (empty outside training).
    threads : int
        Storage chunks read at the same time inside one task.
    cache_bytes : int
        Per-worker budget for whole blocks of sources without a region reader.
    backend : {"auto", "tensorstore", "zarr"}
        How boxes of local Zarr arrays are read (see
        :class:`~careamics_dask.graph.reading.PatchReader`).
    chunk_cache_bytes : int
        Per-process budget for storage chunks TensorStore keeps decoded.

    Examples
    --------
    >>> from careamics_dask.graph.transforms.normalize import Normalizer
    >>> from careamics_dask.graph.reading import StackSource
    >>> from careamics_dask.patching import PatchTable
    >>> data = np.stack([np.full((1, 32, 32), 2.0), np.full((1, 32, 32), 4.0)], 1)
    >>> source = StackSource(source="array", shape=data.shape, dtype="float64",
    ...     data=data)
    >>> plan = MicroSplitPlan(mode="multiplexed", groups=((source,),),
    ...     normalizer=Normalizer(name="none"), multiscale_count=2)
    >>> rows = PatchTable.from_columns(data_idx=[0], sample_idx=[0],
    ...     coords=[[8, 8]], patch_size=[8, 8])
    >>> inputs, targets = plan.build(rows, np.array([0]), epoch=0)
    >>> inputs.shape, float(inputs[0, 1, 0, 0]), targets[0, :, 0, 0].tolist()
    ((1, 2, 8, 8), 3.0, [2.0, 4.0])
    """

    mode: MicroSplitMode
    groups: tuple[tuple[StackSource, ...], ...]
    patchings: tuple[PatchingStrategy, ...] = ()
    normalizer: Normalizer
    principal: int = 0
    channels: tuple[int, ...] | None = None
    multiscale_count: int = 1
    padding_mode: PaddingMode = "reflect"
    alpha_ranges: tuple[tuple[float, float], ...] | None = None
    uncorrelated_channel_prob: float = 0.0
    seed: int = 0
    vary_by_epoch: bool = True
    augmentations: tuple[SpatialAugmentation, ...] = ()
    threads: int = 4
    cache_bytes: int = 512 * 2**20
    backend: str = "auto"
    chunk_cache_bytes: int = CHUNK_CACHE_BYTES

    @classmethod
    def with_private_tables(
        cls, patchings: Sequence[PatchingStrategy], **fields: object
    ) -> MicroSplitPlan:
        """Build a plan holding deep copies of ``patchings`` (see ``patchings``).

        Parameters
        ----------
        patchings : sequence of PatchingStrategy
            The strategies to copy.
        **fields : object
            The other attributes.

        Returns
        -------
        MicroSplitPlan
            The plan.
        """
        private = tuple(copy.deepcopy(p) for p in patchings)
        return cls(patchings=private, **fields)  # type: ignore[arg-type]

    @property
    def n_targets(self) -> int:
        """The number of target channels (0 when predicting)."""
        if self.mode == "paired":
            return self.groups[1][0].n_channels
        if self.mode == "predicting":
            return 0
        return self.n_mixed

    @property
    def n_mixed(self) -> int:
        """The number of channels mixed into the input (1 for real inputs)."""
        if self.mode == "independent":
            return len(self.groups)
        if self.mode == "multiplexed":
            if self.channels is not None:
                return len(self.channels)
            return self.groups[0][0].n_channels
        return 1

    def locate(
        self, rows: PatchTable, indices: Int64Array, epoch: int
    ) -> ChannelLocations:
        """Return where every channel of the batch's patches is read, and weights.

        Parameters
        ----------
        rows : PatchTable
            The batch's rows of the principal table.
        indices : numpy.ndarray
            Global patch indices of the rows (key the draws).
        epoch : int
            The epoch (keys the draws and the other channels' tables).

        Returns
        -------
        ChannelLocations
            One location per channel and patch.
        """
        n, b = self.n_mixed, len(rows)
        data = np.repeat(rows.data_idx[None], n, axis=0)
        samples = np.repeat(rows.sample_idx[None], n, axis=0)
        coords = np.repeat(rows.coords[None], n, axis=0)
        if self.mode in ("paired", "predicting"):
            return ChannelLocations(
                data_idx=data,
                sample_idx=samples,
                coords=coords,
                uncorrelated=np.zeros(b, dtype=np.bool_),
                alphas=np.ones((b, 1)),
                principal=0,
            )
        epoch = epoch if self.vary_by_epoch else 0
        draws = draw_uniforms(self.seed, _DRAW_KEY, epoch, indices, 1 + 2 * n)
        if self.mode == "independent":
            uncorrelated = np.ones(b, dtype=np.bool_)
        else:
            uncorrelated = draws[0] < self.uncorrelated_channel_prob
        for c in range(n):
            if c == self.principal or not uncorrelated.any():
                continue
            strategy = self.patchings[c if self.mode == "independent" else 0]
            table = epoch_table(strategy, epoch)
            pick = np.minimum(
                (draws[1 + n + c] * len(table)).astype(np.int64), len(table) - 1
            )
            other = table.take(pick)
            data[c] = np.where(uncorrelated, other.data_idx, data[c])
            samples[c] = np.where(uncorrelated, other.sample_idx, samples[c])
            coords[c] = np.where(uncorrelated[:, None], other.coords, coords[c])
        return ChannelLocations(
            data_idx=data,
            sample_idx=samples,
            coords=coords,
            uncorrelated=uncorrelated,
            alphas=self._alphas(draws[1 : 1 + n]),
            principal=self.principal,
        )

    def _alphas(self, uniforms: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Mixing weights ``(B, n)``: ``low + (high - low) u``, or ``1 / n``."""
        n, b = uniforms.shape
        if self.alpha_ranges is None:
            return np.full((b, n), 1 / n)
        low = np.array([r[0] for r in self.alpha_ranges], dtype=np.float64)
        high = np.array([r[1] for r in self.alpha_ranges], dtype=np.float64)
        alphas: npt.NDArray[np.float64] = low + (high - low) * uniforms.T
        return alphas

    def build(
        self, rows: PatchTable, indices: Int64Array, epoch: int
    ) -> tuple[Float32Array, Float32Array | None]:
        """Build one batch: lateral-context inputs and targets, normalized.

        Parameters
        ----------
        rows : PatchTable
            The batch's rows of the principal table (one patch size).
        indices : numpy.ndarray
            Global patch indices of the rows.
        epoch : int
            The epoch.

        Returns
        -------
        tuple of (numpy.ndarray, numpy.ndarray or None)
            Inputs ``(B, L, (Z), Y, X)`` and targets ``(B, C, (Z), Y, X)`` float32
            (None when predicting).

        Raises
        ------
        ValueError
            When the rows have different patch sizes.
        """
        sizes = np.unique(rows.patch_size, axis=0)
        if len(sizes) > 1:
            raise ValueError(
                f"Patches of one batch must have one size: got {sizes.tolist()}. Use "
                "batch_size=1 for whole images of different shapes, or tiling."
            )
        patch = tuple(int(v) for v in sizes[0]) if len(rows) else ()
        locations = self.locate(rows, np.asarray(indices, dtype=np.int64), epoch)
        readers = [
            PatchReader(
                group,
                threads=self.threads,
                cache_bytes=self.cache_bytes,
                backend=self.backend,
                chunk_cache_bytes=self.chunk_cache_bytes,
            )
            for group in self.groups
        ]
        targets: Float32Array | None = None
        if self.mode in ("paired", "predicting"):
            planes = self._contexts(readers[0], locations, 0, None, patch)
            inputs = planes[:, 0]
            if self.mode == "paired":
                targets = read_patches(
                    self.groups[1],
                    rows,
                    None,
                    threads=self.threads,
                    cache_bytes=self.cache_bytes,
                    backend=self.backend,
                    chunk_cache_bytes=self.chunk_cache_bytes,
                )
        else:
            planes = self._mixed_contexts(readers, locations, patch)
            weights = locations.alphas.reshape(
                *locations.alphas.shape, *((1,) * (1 + len(patch)))
            )
            inputs = (weights * planes).sum(axis=1).astype(np.float32)
            targets = np.ascontiguousarray(planes[:, :, 0])
        inputs, targets = self.normalizer.normalize(inputs, targets, inplace=True)
        if self.augmentations:
            inputs, targets = augment_batch(
                inputs, targets, self.augmentations, epoch=epoch, indices=indices
            )
        logger.debug(
            "built MicroSplit batch of %d patches (epoch %d)", len(rows), epoch
        )
        return inputs, targets

    def _mixed_contexts(
        self,
        readers: list[PatchReader],
        locations: ChannelLocations,
        patch: tuple[int, ...],
    ) -> Float32Array:
        """Return ``(B, n, L, *patch)`` planes of every mixed channel."""
        n = self.n_mixed
        b = locations.data_idx.shape[1]
        out = np.empty((b, n, self.multiscale_count, *patch), dtype=np.float32)
        if self.mode == "independent":
            for c in range(n):
                out[:, c] = self._contexts(readers[c], locations, c, None, patch)[:, 0]
            return out
        selected = self.channels or tuple(range(n))
        together = ~locations.uncorrelated
        if together.any():
            out[together] = self._contexts(
                readers[0], locations, 0, selected, patch, together
            )
        apart = locations.uncorrelated
        if apart.any():
            for c in range(n):
                out[apart, c] = self._contexts(
                    readers[0], locations, c, (selected[c],), patch, apart
                )[:, 0]
        return out

    def _contexts(
        self,
        reader: PatchReader,
        locations: ChannelLocations,
        channel: int,
        channels: Sequence[int] | None,
        patch: tuple[int, ...],
        mask: npt.NDArray[np.bool_] | None = None,
    ) -> Float32Array:
        """Read lateral context of one channel's locations: ``(B', C, L, *patch)``."""
        keep = np.arange(locations.data_idx.shape[1])
        if mask is not None:
            keep = keep[mask]
        where = zip(
            locations.data_idx[channel, keep].tolist(),
            locations.sample_idx[channel, keep].tolist(),
            locations.coords[channel, keep].tolist(),
            strict=True,
        )
        return read_lateral_contexts(
            reader,
            list(where),
            patch,
            self.multiscale_count,
            self.padding_mode,
            channels,
        )
