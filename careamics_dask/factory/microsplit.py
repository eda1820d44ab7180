"""MicroSplit datasets: the reference's data containers and create_* functions.

``create_microsplit_dataset`` picks the MicroSplit mode from the data container
(``reference_semantics.md`` §6.5): :class:`MultiChannelTarget` (synthetic inputs
mixed from target channels acquired together), :class:`IndependentTargets`
(synthetic inputs mixed from single-structure sources of any shape) or
:class:`PairedInputTarget` (a real input and its targets);
``create_microsplit_pred_dataset`` builds tiles of real inputs. The result is a
:class:`MicroSplitDataset`, whose patches come as ``dataset[i]``, batches and lazy
Dask arrays like every dataset here: inputs ``(L, (Z), Y, X)`` with
``L = multiscale_count`` lateral-context planes, targets ``(C, (Z), Y, X)``.

Differences from CAREamics
--------------------------
- ``rng`` only seeds the draws: one integer is taken from it, and every patch's
  draws are keyed by that integer (by ``config.seed`` without ``rng``), the epoch
  and the patch index, so patches do not depend on access order or workers.
- Unused config fields are reported with ``warnings.warn(...,
  CareamicsDaskWarning)`` (the reference logged them); prediction also reports an
  unused ``channels``.
- Inputs of the paired mode and of prediction, and every source of the
  independent mode, must have one channel, and ``alpha_ranges`` one range per
  mixed channel: clear errors at construction (the reference failed in
  ``squeeze`` or ``numpy`` broadcasting, or silently used one range for all).
- Every source's images are checked against the patch size (the reference only
  checked the principal source), and paired targets against their inputs.
- Model constraints check one input channel (the mixed or real input plane) and
  the target channels; the reference checked the target channel count as input.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
from dask.base import tokenize

from careamics_dask.config.microsplit import MicroSplitDataConfig
from careamics_dask.config.support import Mode
from careamics_dask.errors import CareamicsDaskWarning
from careamics_dask.factory.dataset import CareamicsDataset
from careamics_dask.factory.extractors import (
    PatchExtractor,
    init_patch_extractor,
    select_image_stack_loader,
    select_patch_extractor_type,
)
from careamics_dask.factory.validation import validate_shapes_against_patching
from careamics_dask.graph.augment import create_augmentations
from careamics_dask.graph.batch import build_batch
from careamics_dask.graph.microsplit import (
    MicroSplitMode,
    MicroSplitPlan,
    statistics_stacks,
)
from careamics_dask.graph.normalize import Normalizer, create_normalizer
from careamics_dask.graph.statistics import resolve_normalization
from careamics_dask.loaders.loading import ReadFuncLoading
from careamics_dask.loaders.pairs import validate_stack_pair
from careamics_dask.patching.factory import create_patching
from careamics_dask.runtime import reading_options

if TYPE_CHECKING:
    from careamics_dask.factory.constraints import ModelConstraints
    from careamics_dask.factory.region_data import ImageRegionData
    from careamics_dask.graph.augment import SpatialAugmentation
    from careamics_dask.graph.microsplit import ChannelLocations
    from careamics_dask.loaders.loading import Loading
    from careamics_dask.patching import PatchingStrategy, PatchTable

__all__ = [
    "IndependentTargets",
    "MicroSplitDataset",
    "MultiChannelTarget",
    "PairedInputTarget",
    "create_microsplit_dataset",
    "create_microsplit_pred_dataset",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class MultiChannelTarget(Generic[T]):
    """MicroSplit data with target channels acquired together.

    The input is a synthetic superposition of the target channels.

    Attributes
    ----------
    target_data : T
        The multi-channel targets (arrays, paths, URIs or custom sources).
    """

    target_data: T


@dataclass
class IndependentTargets(Generic[T]):
    """MicroSplit data with independent target structures.

    The data of different structures may have different shapes; the input is a
    synthetic superposition of patches from random locations of each.

    Attributes
    ----------
    target_channel_data : sequence of T
        One single-channel source per target structure.
    """

    target_channel_data: Sequence[T]


@dataclass
class PairedInputTarget(Generic[T]):
    """MicroSplit data with paired inputs and multi-channel targets.

    Attributes
    ----------
    input_data : T
        The real (single-channel) inputs.
    target_data : T
        The multi-channel targets, same images.
    """

    input_data: T
    target_data: T


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
        if _needs_statistics(config, plan.n_targets > 0):
            stacks, target_stacks = statistics_stacks(
                plan, self.patch_table(0), self.token
            )
            resolve_normalization(config.normalization, stacks, target_stacks)
        normalizer = create_normalizer(config.normalization)
        normalizer.check_channels(config.multiscale_count, plan.n_targets or None)
        augmentations: tuple[SpatialAugmentation, ...] = ()
        if config.mode == Mode.TRAINING:
            augmentations = create_augmentations(
                config.augmentations,
                patch_size=getattr(config.patching, "patch_size", None),
            )
        self.plan = replace(  # type: ignore[assignment]
            plan, normalizer=normalizer, augmentations=tuple(augmentations)
        )

    @property
    def microsplit_plan(self) -> MicroSplitPlan:
        """The dataset's batch plan (``plan``), typed."""
        plan: MicroSplitPlan = self.plan  # type: ignore[assignment]
        return plan

    def __getitem__(self, index: int) -> tuple[ImageRegionData, ...]:
        if not -len(self) <= index < len(self):
            raise IndexError(
                f"Index {index} out of bounds for a dataset of {len(self)} patches."
            )
        indices = np.array([int(index) % len(self)], dtype=np.int64)
        rows = self.patch_table(self.epoch).take(indices)
        plan = self.microsplit_plan
        inputs, targets = build_batch(plan, rows, indices, self.epoch)
        locations = plan.locate(rows, indices, self.epoch)
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


def _warn_unused(
    config: MicroSplitDataConfig, fields: Sequence[str], mode_name: str
) -> None:
    """Warn once about explicitly set, non-None fields this mode ignores."""
    unused = sorted(
        name
        for name in set(fields) & config.model_fields_set
        if getattr(config, name) is not None
    )
    if unused:
        warnings.warn(
            f"MicroSplit {mode_name} does not use config field(s): "
            f"{', '.join(unused)}.",
            CareamicsDaskWarning,
            stacklevel=3,
        )


def _require_config(config: object) -> MicroSplitDataConfig:
    if not isinstance(config, MicroSplitDataConfig):
        raise TypeError(
            "MicroSplit datasets need a MicroSplitDataConfig: expected "
            f"MicroSplitDataConfig, got {type(config).__name__}. Build the config "
            "with careamics_dask.config.MicroSplitDataConfig."
        )
    return config


def create_microsplit_dataset(
    config: MicroSplitDataConfig,
    data: MultiChannelTarget[Any] | IndependentTargets[Any] | PairedInputTarget[Any],
    loading: Loading = None,
    model_constraints: ModelConstraints | None = None,
    rng: np.random.Generator | None = None,
) -> MicroSplitDataset:
    """Create a MicroSplit training or validation dataset.

    The container picks the mode: :class:`MultiChannelTarget` sums the target
    channels into a synthetic input, :class:`IndependentTargets` sums patches of
    separately acquired structures, :class:`PairedInputTarget` uses a real input.

    Parameters
    ----------
    config : MicroSplitDataConfig
        A training or validating config.
    data : MultiChannelTarget, IndependentTargets or PairedInputTarget
        The sources.
    loading : ReadFuncLoading or ImageStackLoading or None
        Custom loading specification.
    model_constraints : ModelConstraints, optional
        Checked against the patch size and channels.
    rng : numpy.random.Generator, optional
        Seeds the draws (one integer is taken from it); ``config.seed`` otherwise.

    Returns
    -------
    MicroSplitDataset
        The dataset; missing statistics are computed into ``config``.

    Raises
    ------
    ValueError
        For a predicting config, fewer than two independent sources, or sources
        that break the channel or shape rules.
    TypeError
        For another data container or config type.

    Warns
    -----
    CareamicsDaskWarning
        Once, naming the explicitly set config fields the mode does not use.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.config import MicroSplitDataConfig
    >>> config = MicroSplitDataConfig(mode="training", data_type="array",
    ...     axes="SCYX", patching={"name": "stratified", "patch_size": [16, 16]},
    ...     normalization={"name": "mean_std"}, multiscale_count=3, seed=1)
    >>> targets = np.random.default_rng(0).random((2, 2, 64, 64))
    >>> dataset = create_microsplit_dataset(config, MultiChannelTarget(targets))
    >>> inputs, target = dataset[0]
    >>> inputs.data.shape, target.data.shape
    ((3, 16, 16), (2, 16, 16))
    """
    config = _require_config(config)
    if config.mode == Mode.PREDICTING:
        raise ValueError(
            "Use `create_microsplit_pred_dataset` to create prediction datasets."
        )
    loader = select_image_stack_loader(config.data_type, config.in_memory, loading)
    kind = select_patch_extractor_type(config.data_type, config.in_memory)
    target_axes = config.target_axes or config.axes
    mode: MicroSplitMode
    unused: tuple[str, ...]
    if isinstance(data, MultiChannelTarget):
        mode, unused, name = "multiplexed", (), "multiplexed-target mode"
        extractors = [init_patch_extractor(kind, loader, data.target_data, target_axes)]
    elif isinstance(data, IndependentTargets):
        mode, name = "independent", "separate-target mode"
        unused = ("channels", "uncorrelated_channel_prob")
        if len(data.target_channel_data) < 2:
            raise ValueError("At least two target channel sources must be provided.")
        extractors = [
            init_patch_extractor(kind, loader, source, target_axes)
            for source in data.target_channel_data
        ]
    elif isinstance(data, PairedInputTarget):
        mode, name = "paired", "paired-input-target mode"
        unused = ("alpha_ranges", "channels", "uncorrelated_channel_prob")
        inputs = init_patch_extractor(kind, loader, data.input_data, config.axes)
        targets = init_patch_extractor(kind, loader, data.target_data, target_axes)
        validate_stack_pair(inputs.image_stacks, targets.image_stacks)
        extractors = [inputs, targets]
    else:
        raise TypeError(
            "`data` must be one of MicroSplitJointTargetData, "
            "MicroSplitSeparateTargetData or MicroSplitPairedData."
        )
    sources = extractors if mode == "independent" else extractors[:1]
    patchings = [create_patching(e.shapes, config.patching) for e in sources]
    seed = int(rng.integers(1, 2**63)) if rng is not None else None
    dataset = MicroSplitDataset(
        config,
        mode,
        patchings,
        extractors,
        seed=seed,
        model_constraints=model_constraints,
    )
    _warn_unused(config, unused, name)
    return dataset


def create_microsplit_pred_dataset(
    config: MicroSplitDataConfig,
    input_data: Any,
    loading: Loading = None,
    model_constraints: ModelConstraints | None = None,
) -> MicroSplitDataset:
    """Create a MicroSplit prediction dataset: lateral context of real inputs.

    Parameters
    ----------
    config : MicroSplitDataConfig
        A predicting config (tiled or whole-image patching).
    input_data : sequence of arrays or paths, or Any
        The inputs; any source a custom ``ImageStackLoading`` accepts.
    loading : ReadFuncLoading or ImageStackLoading or None
        Loading specification.
    model_constraints : ModelConstraints, optional
        Checked against the tile size or whole images.

    Returns
    -------
    MicroSplitDataset
        The dataset, without targets.

    Raises
    ------
    ValueError
        When the config is not a predicting config, or inputs have more than one
        channel.
    TypeError
        When standard loading gets something other than a sequence.

    Warns
    -----
    CareamicsDaskWarning
        When ``channels`` is set (prediction reads the single input channel).

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.config import MicroSplitDataConfig
    >>> config = MicroSplitDataConfig(mode="predicting", data_type="array",
    ...     axes="YX", patching={"name": "tiled", "patch_size": [16, 16],
    ...     "overlaps": [4, 4]}, normalization={"name": "none"}, multiscale_count=2)
    >>> dataset = create_microsplit_pred_dataset(config, [np.ones((40, 40))])
    >>> dataset.to_dask().shape
    (9, 2, 16, 16)
    """
    config = _require_config(config)
    if config.mode != Mode.PREDICTING:
        raise ValueError(
            "`create_microsplit_pred_dataset` requires a config with mode='predicting'."
        )
    standard = loading is None or isinstance(loading, ReadFuncLoading)
    if standard and not isinstance(input_data, Sequence):
        raise TypeError(
            "Prediction input must be a sequence of numpy arrays or paths for standard "
            "loading."
        )
    loader = select_image_stack_loader(config.data_type, config.in_memory, loading)
    kind = select_patch_extractor_type(config.data_type, config.in_memory)
    inputs = init_patch_extractor(kind, loader, input_data, config.axes)
    patching = create_patching(inputs.shapes, config.patching)
    dataset = MicroSplitDataset(
        config,
        "predicting",
        [patching],
        [inputs],
        model_constraints=model_constraints,
    )
    _warn_unused(config, ("channels",), "prediction")
    return dataset
