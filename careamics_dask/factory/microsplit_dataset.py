"""The MicroSplit dataset: lateral-context inputs and multi-channel targets.

A :class:`MicroSplitDataset` is a :class:`~careamics_dask.factory.dataset.
CareamicsDataset` whose batch plan is a
:class:`~careamics_dask.graph.microsplit.MicroSplitPlan`; it is built by
:func:`~careamics_dask.factory.microsplit.create_microsplit_dataset` and
:func:`~careamics_dask.factory.microsplit.create_microsplit_pred_dataset`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from dask.base import tokenize

from careamics_dask.config.support import Mode
from careamics_dask.factory.components import resolve_components
from careamics_dask.factory.dataset import CareamicsDataset
from careamics_dask.factory.validation import validate_shapes_against_patching
from careamics_dask.graph.batch import build_batch
from careamics_dask.graph.microsplit import (
    MicroSplitMode,
    MicroSplitPlan,
    statistics_stacks,
)
from careamics_dask.graph.transforms import Normalizer
from careamics_dask.runtime import reading_options

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.config.microsplit import MicroSplitDataConfig
    from careamics_dask.factory.constraints import ModelConstraints
    from careamics_dask.factory.extractors import PatchExtractor
    from careamics_dask.factory.region_data import ImageRegionData
    from careamics_dask.graph.microsplit import ChannelLocations
    from careamics_dask.patching import PatchingStrategy, PatchTable

__all__ = ["MicroSplitDataset"]

logger = logging.getLogger(__name__)


class MicroSplitDataset(CareamicsDataset):
    """MicroSplit patches: lateral-context inputs and multi-channel targets.

    Built by :func:`create_microsplit_dataset` and
    :func:`create_microsplit_pred_dataset`. Statistics are computed on the
    native-scale input plane and all target channels of epoch 0's patches (the
    reference's rule), as one Dask reduction over batch tasks.

    Parameters
    ----------
    config : MicroSplitDataConfig
        The configuration.
    mode : {"multiplexed", "independent", "paired", "predicting"}
        The MicroSplit mode.
    patchings : sequence of PatchingStrategy
        One per source for ``independent``, else one.
    extractors : sequence of PatchExtractor
        ``(targets,)``, one per source, ``(inputs, targets)`` or ``(inputs,)``.
    seed : int, optional
        Key of the draws; ``config.seed`` by default.
    model_constraints : ModelConstraints, optional
        Checked against the patch size (or whole images) and channel counts.
    """

    def __init__(
        self,
        config: MicroSplitDataConfig,
        mode: MicroSplitMode,
        patchings: Sequence[PatchingStrategy],
        extractors: Sequence[PatchExtractor],
        *,
        seed: int | None = None,
        model_constraints: ModelConstraints | None = None,
    ) -> None:
        self.config = config
        self.mode = mode
        self.extractors = list(extractors)
        self.epoch = 0
        self._reads = 0
        principal = 0
        if mode == "independent":
            principal = int(np.argmax([p.n_patches for p in patchings]))
        self.patching = patchings[principal]
        self.inputs = self.extractors[principal]
        self.targets = {
            "multiplexed": self.extractors[0],
            "independent": self.inputs,
            "paired": self.extractors[-1],
            "predicting": None,
        }[mode]
        for extractor in self.extractors[: len(patchings)]:
            validate_shapes_against_patching(config, extractor.shapes)
        _check_channels(config, mode, self.extractors)
        multiplexed = mode == "multiplexed"
        channels = tuple(config.channels) if multiplexed and config.channels else None
        uncorrelated = config.uncorrelated_channel_prob if multiplexed else 0.0
        plan = MicroSplitPlan.with_private_tables(
            patchings if mode == "independent" or uncorrelated else (),
            mode=mode,
            groups=tuple(e.sources for e in self.extractors),
            normalizer=Normalizer(name="none"),
            principal=principal,
            channels=channels,
            multiscale_count=config.multiscale_count,
            padding_mode=config.padding_mode,
            alpha_ranges=_alpha_ranges(config, mode, self.extractors),
            uncorrelated_channel_prob=uncorrelated,
            seed=config.seed if seed is None else seed,
            vary_by_epoch=config.mode == Mode.TRAINING,
            **reading_options(),
        )
        # a MicroSplitPlan is a BatchBuilder; CareamicsDataset types `plan` BatchPlan
        self.plan = plan  # type: ignore[assignment]
        if model_constraints is not None:
            _check_model(model_constraints, config, self.inputs, plan.n_targets)
        stacks = target_stacks = None
        if _needs_statistics(config, plan.n_targets > 0):
            stacks, target_stacks = statistics_stacks(
                plan, self.patch_table(0), self.token
            )
        components = resolve_components(
            config,
            n_input_channels=config.multiscale_count,
            n_target_channels=plan.n_targets or None,
            input_stacks=stacks,
            target_stacks=target_stacks,
        )
        self.plan = replace(  # type: ignore[assignment]
            plan,
            normalizer=components.normalizer,
            augmentations=components.augmentations,
        )

    @property
    def microsplit_plan(self) -> MicroSplitPlan:
        """The dataset's batch plan (``plan``), typed."""
        plan: MicroSplitPlan = self.plan  # type: ignore[assignment]
        return plan

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[ImageRegionData, ...]:
        epoch, index = self._key(index)
        if not -len(self) <= index < len(self):
            raise IndexError(
                f"Index {index} out of bounds for a dataset of {len(self)} patches."
            )
        indices = np.array([int(index) % len(self)], dtype=np.int64)
        rows = self.patch_table(epoch).take(indices)
        plan = self.microsplit_plan
        inputs, targets = build_batch(plan, rows, indices, epoch)
        locations = plan.locate(rows, indices, epoch)
        spec = _region_spec(rows, locations)
        regions = [self._microsplit_region(inputs[0], spec, target=False)]
        if targets is not None:
            regions.append(self._microsplit_region(targets[0], spec, target=True))
        return tuple(regions)

    def _microsplit_region(
        self, data: np.ndarray[Any, Any], spec: dict[str, Any], *, target: bool
    ) -> ImageRegionData:
        paired_target = target and self.mode == "paired"
        extractor = self.extractors[-1] if paired_target else self.inputs
        region = self._region(data, spec, extractor, target=target)
        if "all_data_idx" not in spec:
            return region
        stacks = [
            self._source_extractor(c).image_stacks[d]
            for c, d in enumerate(spec["all_data_idx"])
        ]
        extra = {
            "all_sources": [str(s.attrs.get("source", "array")) for s in stacks],
            "all_data_shapes": [tuple(int(v) for v in s.shape) for s in stacks],
            "all_original_data_shapes": [
                tuple(s.attrs.get("original_shape", s.shape)) for s in stacks
            ],
        }
        return region._replace(
            additional_metadata={**region.additional_metadata, **extra}
        )

    def _source_extractor(self, channel: int) -> PatchExtractor:
        return self.extractors[channel if self.mode == "independent" else 0]

    def _channel_count(self, target: bool) -> int:
        plan = self.microsplit_plan
        return plan.n_targets if target else plan.multiscale_count

    @property
    def identity(self) -> tuple[Any, ...]:
        """What identifies this dataset's batches: config JSON, mode, seed, sources."""
        plan = self.microsplit_plan
        return (
            self.config.model_dump_json(),
            self.mode,
            plan.seed,
            [
                [
                    (
                        s.source,
                        s.shape,
                        tokenize(s.data if s.binding is None else s.binding),
                    )
                    for s in group
                ]
                for group in plan.groups
            ],
        )


def _region_spec(rows: PatchTable, locations: ChannelLocations) -> dict[str, Any]:
    """Return the reference's spec of one patch: plain, tile or uncorrelated."""
    spec: dict[str, Any] = dict(rows.row(0))
    if not bool(locations.uncorrelated[0]):
        return spec
    k = locations.principal
    coords = [tuple(int(v) for v in c[0]) for c in locations.coords]
    spec.update(
        data_idx=int(locations.data_idx[k, 0]),
        sample_idx=int(locations.sample_idx[k, 0]),
        coords=coords[k],
        principal_channel=k,
        all_data_idx=[int(v) for v in locations.data_idx[:, 0]],
        all_sample_idx=[int(v) for v in locations.sample_idx[:, 0]],
        all_coords=coords,
    )
    return spec


def _needs_statistics(config: MicroSplitDataConfig, has_targets: bool) -> bool:
    norm = config.normalization
    if norm.name == "none":
        return False
    return bool(
        norm.needs_computation() or (has_targets and norm.target_needs_computation())
    )


def _check_channels(
    config: MicroSplitDataConfig, mode: MicroSplitMode, extractors: list[PatchExtractor]
) -> None:
    """Require single-channel real inputs and sources; check the channel selection."""
    if mode == "multiplexed":
        extractors[0].check_channels(config.channels)
        return
    what = "sources" if mode == "independent" else "inputs"
    for index, extractor in enumerate(
        extractors if mode == "independent" else extractors[:1]
    ):
        if extractor.n_channels != 1:
            source = extractor.image_stacks[0].attrs.get("source", "array")
            raise ValueError(
                f"MicroSplit {mode} {what} must have one channel: expected C=1, got "
                f"C={extractor.n_channels} for {what[:-1]} {index} ({source}). Give "
                "single-channel data (one structure or one acquired input per "
                "source)."
            )


def _alpha_ranges(
    config: MicroSplitDataConfig, mode: MicroSplitMode, extractors: list[PatchExtractor]
) -> tuple[tuple[float, float], ...] | None:
    """Return the ranges of the mixed channels (following ``channels``), checked."""
    ranges = config.alpha_ranges
    if ranges is None or mode not in ("multiplexed", "independent"):
        return None
    expected = len(extractors) if mode == "independent" else extractors[0].n_channels
    if len(ranges) != expected:
        unit = "target source" if mode == "independent" else "target data channel"
        raise ValueError(
            f"MicroSplit alpha_ranges must give one (low, high) per {unit}: expected "
            f"{expected}, got {len(ranges)} ({ranges}). Give one range per channel "
            "(channels not selected by `channels` are ignored)."
        )
    if mode == "multiplexed" and config.channels:
        ranges = [ranges[c] for c in config.channels]
    return tuple((float(lo), float(hi)) for lo, hi in ranges)


def _check_model(
    constraints: ModelConstraints,
    config: MicroSplitDataConfig,
    inputs: PatchExtractor,
    n_targets: int,
) -> None:
    """Check one input channel, the target channels and the spatial sizes."""
    from careamics_dask.factory.constraints import validate_shapes_against_model

    validate_shapes_against_model(
        constraints,
        patching_name=config.patching.name,
        patch_size=getattr(config.patching, "patch_size", None),
        input_shapes=[(s[0], 1, *s[2:]) for s in inputs.shapes],
        target_shapes=(
            [(s[0], n_targets, *s[2:]) for s in inputs.shapes] if n_targets else None
        ),
    )
