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
- Unused config fields are logged with ``logger.warning`` and the reference's
  message, as the reference; prediction also reports an unused ``channels``.
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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from careamics_dask.config.microsplit import MicroSplitDataConfig
from careamics_dask.config.support import Mode
from careamics_dask.factory.extractors import (
    init_patch_extractor,
    select_image_stack_loader,
    select_patch_extractor_type,
)
from careamics_dask.factory.microsplit_dataset import MicroSplitDataset
from careamics_dask.factory.patching import create_patching
from careamics_dask.loaders.loading import ReadFuncLoading
from careamics_dask.loaders.pairs import validate_stack_pair

if TYPE_CHECKING:
    import numpy as np

    from careamics_dask.factory.constraints import ModelConstraints
    from careamics_dask.graph.microsplit import MicroSplitMode
    from careamics_dask.loaders.loading import Loading

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


def _warn_unused(
    config: MicroSplitDataConfig, fields: Sequence[str], mode_name: str
) -> None:
    """Log once (WARNING) the explicitly set, non-None fields this mode ignores."""
    unused = sorted(
        name
        for name in set(fields) & config.model_fields_set
        if getattr(config, name) is not None
    )
    if unused:
        logger.warning(
            "MicroSplit %s does not use config field(s): %s.",
            mode_name,
            ", ".join(unused),
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

    Notes
    -----
    Logs one WARNING (``careamics_dask.factory.microsplit``) naming the
    explicitly set config fields the mode does not use, as the reference.

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

    Notes
    -----
    Logs a WARNING when ``channels`` is set (prediction reads the single input
    channel).

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
