"""The reference's create_* functions: configuration and sources in, datasets out."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from careamics_dask.config.support import Mode
from careamics_dask.factory.containers import PredData, TrainValData, TrainValSplitData
from careamics_dask.factory.dataset import CareamicsDataset
from careamics_dask.factory.extractors import (
    PatchExtractor,
    init_patch_extractor,
    select_image_stack_loader,
    select_patch_extractor_type,
)
from careamics_dask.factory.patching import create_patching
from careamics_dask.loaders.pairs import validate_stack_pair
from careamics_dask.patching.random import RandomPatching
from careamics_dask.patching.stratified import StratifiedPatching
from careamics_dask.patching.val_split import create_random_val_split, create_val_split

if TYPE_CHECKING:
    import numpy.typing as npt

    from careamics_dask.config import DataConfig
    from careamics_dask.factory.constraints import ModelConstraints
    from careamics_dask.loaders.loading import Loading
    from careamics_dask.patching import PatchingStrategy

__all__ = [
    "create_dataset",
    "create_pred_dataset",
    "create_train_dataset",
    "create_train_val_datasets",
    "create_val_split_datasets",
]

logger = logging.getLogger(__name__)


def _extractors(
    config: DataConfig,
    inputs: Any,
    targets: Any,
    loading: Loading,
    *,
    masks: Any = None,
) -> tuple[PatchExtractor, PatchExtractor | None, PatchExtractor | None]:
    """Open inputs, targets and masks, and check that they agree."""
    loader = select_image_stack_loader(config.data_type, config.in_memory, loading)
    kind = select_patch_extractor_type(config.data_type, config.in_memory)
    input_extractor = init_patch_extractor(kind, loader, inputs, config.axes)
    target_extractor = None
    if targets is not None:
        target_axes = config.target_axes or config.axes
        target_extractor = init_patch_extractor(kind, loader, targets, target_axes)
        validate_stack_pair(input_extractor.image_stacks, target_extractor.image_stacks)
    mask_extractor = None
    if masks is not None:
        mask_extractor = init_patch_extractor(kind, loader, masks, config.axes)
        validate_stack_pair(
            input_extractor.image_stacks, mask_extractor.image_stacks, what="mask"
        )
    return input_extractor, target_extractor, mask_extractor


def _check_training(config: DataConfig) -> None:
    if config.mode != Mode.TRAINING:
        raise ValueError(
            f"CAREamicsDataModule configured for {config.mode} cannot be used for "
            "training. Please create a new CareamicsDataModule with a configuration "
            "with mode='training'."
        )


def create_dataset(
    config: DataConfig,
    inputs: Any,
    targets: Any,
    loading: Loading = None,
    model_constraints: ModelConstraints | None = None,
) -> CareamicsDataset:
    """Create a dataset from a configuration, without filtering.

    Parameters
    ----------
    config : DataConfig
        The data configuration (any mode).
    inputs : Any
        Input sources (arrays, paths, folders, URIs or custom sources).
    targets : Any
        Target sources, or None.
    loading : ReadFuncLoading or ImageStackLoading or None
        Custom loading specification (``data_type="custom"``).
    model_constraints : ModelConstraints, optional
        Checked against the patch size or whole images.

    Returns
    -------
    CareamicsDataset
        The dataset; missing normalization statistics are computed and written
        into ``config``.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.config import DataConfig
    >>> config = DataConfig(mode="validating", data_type="array", axes="SYX",
    ...     patching={"name": "fixed_random", "patch_size": [16, 16]},
    ...     normalization={"name": "mean_std"}, seed=1)
    >>> dataset = create_dataset(config, np.ones((2, 32, 32), "uint8"), None)
    >>> len(dataset), config.normalization.input_means
    (8, [1.0])
    """
    inputs_ext, targets_ext, _ = _extractors(config, inputs, targets, loading)
    patching = create_patching(inputs_ext.shapes, config.patching)
    return CareamicsDataset(
        config, patching, inputs_ext, targets_ext, model_constraints=model_constraints
    )


def create_train_dataset(
    config: DataConfig,
    data: TrainValData[Any] | TrainValSplitData[Any],
    loading: Loading = None,
    model_constraints: ModelConstraints | None = None,
) -> CareamicsDataset:
    """Create the training dataset, with background and mask filtering.

    Parameters
    ----------
    config : DataConfig
        The configuration (``mode="training"``).
    data : TrainValData or TrainValSplitData
        Training inputs, and optional targets and masks.
    loading : ReadFuncLoading or ImageStackLoading or None
        Custom loading specification.
    model_constraints : ModelConstraints, optional
        Checked against the patch size.

    Returns
    -------
    CareamicsDataset
        The training dataset.

    Raises
    ------
    ValueError
        When the config is not for training, or a mask is given without a mask
        filter.
    TypeError
        When filtering is asked with non-stratified patching, or ``data`` is not a
        training container.
    """
    _check_training(config)
    if not isinstance(data, TrainValData | TrainValSplitData):
        raise TypeError(
            "Training data must be a TrainValData or TrainValSplitData container, "
            f"got {type(data).__name__}."
        )
    inputs, targets, masks = _extractors(
        config,
        data.train_data,
        data.train_data_target,
        loading,
        masks=data.train_data_mask,
    )
    patching = create_patching(inputs.shapes, config.patching)
    if config.patch_filter is not None:
        _require_stratified(patching, "Background patch filtering", config)
        _filter(patching, inputs, config.patch_filter)
    if masks is not None:
        if config.mask_filter is None:
            raise ValueError("No `MaskFilterConfig` found for mask filtering.")
        _require_stratified(patching, "Mask filtering", config)
        _filter(patching, masks, config.mask_filter)
    return CareamicsDataset(
        config, patching, inputs, targets, model_constraints=model_constraints
    )


def _require_stratified(patching: object, what: str, config: DataConfig) -> None:
    if not isinstance(patching, StratifiedPatching):
        raise TypeError(
            f"{what} is only compatible with stratified patching. Found "
            f"{config.patching.name} patching in the configuration."
        )


def _filter(patching: Any, extractor: PatchExtractor, filter_config: Any) -> None:
    from careamics_dask.factory.filters import apply_background_filter

    apply_background_filter(patching, extractor.image_stacks, filter_config)


def create_train_val_datasets(
    config: DataConfig,
    data: TrainValData[Any],
    loading: Loading = None,
    model_constraints: ModelConstraints | None = None,
) -> tuple[CareamicsDataset, CareamicsDataset]:
    """Create training and validation datasets from separate validation data.

    The validation dataset uses ``config.convert_mode("validating")``, so it reuses
    the statistics the training dataset computed and is not augmented.

    Parameters
    ----------
    config : DataConfig
        The configuration (``mode="training"``).
    data : TrainValData
        Training and validation sources.
    loading : ReadFuncLoading or ImageStackLoading or None
        Custom loading specification.
    model_constraints : ModelConstraints, optional
        Checked against the patch size.

    Returns
    -------
    tuple of (CareamicsDataset, CareamicsDataset)
        ``(train_dataset, val_dataset)``.
    """
    train = create_train_dataset(config, data, loading, model_constraints)
    val = create_dataset(
        config.convert_mode("validating"),
        data.val_data,
        data.val_data_target,
        loading,
        model_constraints,
    )
    return train, val


def create_val_split_datasets(
    config: DataConfig,
    data: TrainValSplitData[Any],
    loading: Loading = None,
    rng: np.random.Generator | None = None,
    model_constraints: ModelConstraints | None = None,
) -> tuple[CareamicsDataset, CareamicsDataset]:
    """Create training and validation datasets by splitting the training data.

    Validation patches are grid cells of the stratified grid, excluded from
    training: no pixel a validation patch reads is read by a training patch of any
    epoch, and the reverse (training patches stay inside the image and off the
    validation cells; see :mod:`careamics_dask.patching.val_split`). The
    held-out cells are written into ``config.val_split_cells``, like computed
    statistics; a config that has them (saved and loaded, or reused) holds out
    the same cells again instead of drawing.

    Parameters
    ----------
    config : DataConfig
        The configuration (``mode="training"``, stratified patching).
    data : TrainValSplitData
        Training sources and the number of validation patches.
    loading : ReadFuncLoading or ImageStackLoading or None
        Custom loading specification.
    rng : numpy.random.Generator, optional
        Draws the validation cells; defaults to one seeded by ``config.seed``.
    model_constraints : ModelConstraints, optional
        Checked against the patch size.

    Returns
    -------
    tuple of (CareamicsDataset, CareamicsDataset)
        ``(train_dataset, val_dataset)``.

    Raises
    ------
    ValueError
        When the patching is neither stratified nor random (random patching is
        split here, not in the reference: its patches are drawn off the held-out
        cells), or too many validation patches are asked for.
    """
    _check_training(config)
    if config.patching.name not in ("stratified", "random"):
        raise ValueError(
            "Validation split is only compatible with stratified patching (or "
            f"random patching here): got {config.patching.name!r}."
        )
    train = create_train_dataset(config, data, loading, model_constraints)
    patching = train.patching
    generator = rng if rng is not None else np.random.default_rng(config.seed)
    held_out = config.val_split_cells
    if held_out is not None and len(held_out) != data.n_val_patches:
        logger.warning(
            "config.val_split_cells holds %d validation cells of an earlier split; "
            "they are held out again and n_val_patches=%d is not used. Set "
            "config.val_split_cells = None to draw a new split.",
            len(held_out),
            data.n_val_patches,
        )
    training: PatchingStrategy
    if isinstance(patching, StratifiedPatching):
        training, validation = create_val_split(
            patching, data.n_val_patches, generator, held_out=held_out
        )
    elif isinstance(patching, RandomPatching):
        training, validation = create_random_val_split(
            patching, data.n_val_patches, generator, held_out=held_out
        )
    else:  # pragma: no cover - see above
        raise TypeError("Validation split needs stratified or random patching.")
    config.val_split_cells = held_out_cells(validation, patching.patch_size)
    train.patching = training
    val = CareamicsDataset(
        config.convert_mode("validating"),
        validation,
        train.inputs,
        train.targets,
        model_constraints=model_constraints,
    )
    return train, val


def held_out_cells(
    validation: PatchingStrategy, patch_size: npt.ArrayLike
) -> list[list[int]]:
    """Return the grid cells of a split's validation patches, to persist.

    Parameters
    ----------
    validation : PatchingStrategy
        The validation patching of :func:`create_val_split` (grid-aligned).
    patch_size : array_like of int
        The stratified patch size.

    Returns
    -------
    list of list of int
        Rows ``(data_idx, sample_idx, *grid cell)``.
    """
    table = validation.table()
    cells = np.asarray(table.coords) // np.asarray(patch_size, dtype=np.int64)
    rows = np.column_stack([table.data_idx, table.sample_idx, cells])
    return [[int(v) for v in row] for row in rows]


def create_pred_dataset(
    config: DataConfig,
    data: PredData[Any],
    loading: Loading = None,
    model_constraints: ModelConstraints | None = None,
) -> CareamicsDataset:
    """Create a prediction dataset (tiles or whole images).

    Parameters
    ----------
    config : DataConfig
        A predicting config, or a training config (converted to whole-image
        prediction as the reference does).
    data : PredData
        Prediction sources and optional targets.
    loading : ReadFuncLoading or ImageStackLoading or None
        Custom loading specification.
    model_constraints : ModelConstraints, optional
        Checked against the tile size or whole images.

    Returns
    -------
    CareamicsDataset
        The prediction dataset.

    Raises
    ------
    ValueError
        For a validating config.
    """
    if config.mode == Mode.VALIDATING:
        raise ValueError(
            "CAREamicsDataModule configured for validating cannot be used for "
            "prediction. Please create a new CareamicsDataModule with a "
            "configuration with mode='predicting'."
        )
    if config.mode == Mode.TRAINING:
        config = config.convert_mode("predicting")
    return create_dataset(
        config, data.pred_data, data.pred_data_target, loading, model_constraints
    )
