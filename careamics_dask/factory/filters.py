"""Patch-filter configs to plain background filters, and filtering from configs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from careamics_dask.config.patch_filter import (
    MaskPatchFilterConfig,
    MaxPatchFilterConfig,
    MeanStdPatchFilterConfig,
    ShannonPatchFilterConfig,
)
from careamics_dask.graph import filters

if TYPE_CHECKING:
    from collections.abc import Sequence

    import dask.array as da
    import numpy as np
    import numpy.typing as npt

    from careamics_dask.config.patch_filter import PatchFilterConfig
    from careamics_dask.factory.extractors import PatchExtractor
    from careamics_dask.patching import StratifiedPatching

__all__ = [
    "apply_background_filter",
    "build_background",
    "compute_background",
    "create_background_filter",
    "create_patch_filter",
    "filter_background",
    "filter_background_with_mask",
]


def create_patch_filter(
    config: PatchFilterConfig | MaskPatchFilterConfig,
) -> filters.RegionFilter:
    """Return the region rule a filter config describes.

    Parameters
    ----------
    config : MaxPatchFilterConfig, MeanStdPatchFilterConfig, ShannonPatchFilterConfig
        or MaskPatchFilterConfig
        The config; the mask config is accepted too (the reference builds its
        filter directly).

    Returns
    -------
    RegionFilter
        The filter.

    Raises
    ------
    ValueError
        When the config is of no known kind.

    Examples
    --------
    >>> create_patch_filter(MaxPatchFilterConfig(threshold=0.5, coverage=0.125))
    MaxPatchFilter(threshold=0.5, coverage=0.125)
    """
    if isinstance(config, MaxPatchFilterConfig):
        return filters.MaxPatchFilter(config.threshold, config.coverage)
    if isinstance(config, MeanStdPatchFilterConfig):
        return filters.MeanStdPatchFilter(config.mean_threshold, config.std_threshold)
    if isinstance(config, ShannonPatchFilterConfig):
        return filters.ShannonPatchFilter(config.threshold)
    if isinstance(config, MaskPatchFilterConfig):
        return filters.MaskPatchFilter(config.coverage)
    raise ValueError(
        f"Unknown filter name: {config}. Expected a MaxPatchFilterConfig ('max'), "
        "MeanStdPatchFilterConfig ('mean_std'), ShannonPatchFilterConfig ('shannon') "
        "or MaskPatchFilterConfig ('mask')."
    )


def create_background_filter(
    config: PatchFilterConfig | MaskPatchFilterConfig,
) -> filters.BackgroundFilter:
    """Return the plain background filter of a filter config.

    Parameters
    ----------
    config : PatchFilterConfig or MaskPatchFilterConfig
        The filter config.

    Returns
    -------
    BackgroundFilter
        Its region rule, reference channel and background weight.

    Raises
    ------
    ValueError
        When the config is of no known kind.

    Examples
    --------
    >>> create_background_filter(MaskPatchFilterConfig(ref_channel=1)).ref_channel
    1
    """
    return filters.BackgroundFilter(
        rule=create_patch_filter(config),
        ref_channel=config.ref_channel,
        filtered_patch_prob=config.filtered_patch_prob,
    )


def build_background(
    stacks: Sequence[Any],
    filter_config: PatchFilterConfig | MaskPatchFilterConfig,
    patch_size: Sequence[int],
    *,
    grid_shapes: Sequence[Sequence[int]] | None = None,
) -> list[da.Array]:
    """Build the lazy background decisions of a filter config's filter.

    Parameters
    ----------
    stacks : sequence of xarray.DataArray, dask.array.Array or numpy.ndarray
        Image stacks ``S C (Z) Y X`` (mask stacks for a mask filter).
    filter_config : PatchFilterConfig or MaskPatchFilterConfig
        The filter; ``ref_channel`` indexes the stacks' channels.
    patch_size : sequence of int
        The patch size ``(Z,) Y, X``; regions are twice as large.
    grid_shapes : sequence of sequence of int, optional
        The grid of each stack (see
        :func:`careamics_dask.graph.filters.build_background`).

    Returns
    -------
    list of dask.array.Array
        One lazy bool array ``(S, *grid_shape)`` per stack; True for background.

    Raises
    ------
    ValueError
        As :func:`careamics_dask.graph.filters.build_background`.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((1, 1, 8, 8), bool)
    >>> (lazy,) = build_background([mask], MaskPatchFilterConfig(), [2, 2])
    >>> lazy.shape
    (1, 4, 4)
    """
    return filters.build_background(
        stacks,
        create_background_filter(filter_config),
        patch_size,
        grid_shapes=grid_shapes,
    )


def compute_background(
    stacks: Sequence[Any],
    filter_config: PatchFilterConfig | MaskPatchFilterConfig,
    patch_size: Sequence[int],
    *,
    grid_shapes: Sequence[Sequence[int]] | None = None,
    progress: bool = False,
) -> list[npt.NDArray[np.bool_]]:
    """Decide which grid regions are background for a filter config, in one compute.

    Parameters
    ----------
    stacks : sequence of xarray.DataArray, dask.array.Array or numpy.ndarray
        Image stacks ``S C (Z) Y X`` (mask stacks for a mask filter).
    filter_config : PatchFilterConfig or MaskPatchFilterConfig
        The filter.
    patch_size : sequence of int
        The patch size ``(Z,) Y, X``.
    grid_shapes : sequence of sequence of int, optional
        The grid of each stack.
    progress : bool, default False
        Show Dask's progress bar (local schedulers only).

    Returns
    -------
    list of numpy.ndarray
        One bool array ``(S, *grid_shape)`` per stack; True for background.

    Raises
    ------
    ValueError
        As :func:`build_background`.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((2, 1, 4, 4), np.uint8)
    >>> image[1, 0, :2, :2] = 9
    >>> config = MaxPatchFilterConfig(threshold=5)
    >>> compute_background([image], config, [2, 2])[0][:, 0].tolist()
    [[True, True], [False, True]]
    """
    return filters.compute_background(
        stacks,
        create_background_filter(filter_config),
        patch_size,
        grid_shapes=grid_shapes,
        progress=progress,
    )


def apply_background_filter(
    stratified_patching: StratifiedPatching,
    stacks: Sequence[Any],
    filter_config: PatchFilterConfig | MaskPatchFilterConfig,
    *,
    progress: bool = False,
) -> int:
    """Down-weight the background regions of a stratified patching for a config.

    As :func:`careamics_dask.graph.filters.apply_background_filter` with the
    filter of ``filter_config``: background regions get its
    ``filtered_patch_prob``.

    Parameters
    ----------
    stratified_patching : StratifiedPatching
        The training patching, changed in place.
    stacks : sequence of xarray.DataArray, dask.array.Array or numpy.ndarray
        The input stacks, or the mask stacks for a mask filter, in the patching's
        order.
    filter_config : PatchFilterConfig or MaskPatchFilterConfig
        The filter.
    progress : bool, default False
        Show Dask's progress bar (local schedulers only).

    Returns
    -------
    int
        The number of background regions found.

    Raises
    ------
    TypeError
        When the patching is not stratified.
    ValueError
        When the stacks do not match the patching's stacks and samples.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.patching import StratifiedPatching
    >>> image = np.zeros((1, 1, 64, 64), np.float32)
    >>> image[..., :40] = 1.0
    >>> patching = StratifiedPatching([image.shape], [32, 32], seed=0)
    >>> config = MeanStdPatchFilterConfig(mean_threshold=0.2)
    >>> apply_background_filter(patching, [image], config)
    2
    """
    return filters.apply_background_filter(
        stratified_patching,
        stacks,
        create_background_filter(filter_config),
        progress=progress,
    )


def filter_background(
    config: PatchFilterConfig,
    patching_strategy: StratifiedPatching,
    input_extractor: PatchExtractor,
) -> int:
    """Down-weight background regions of a stratified patching: the reference's form.

    ``careamics.dataset.factory.filter_bg.filter_background``, as
    :func:`apply_background_filter` over the extractor's image stacks: regions
    where the filter of ``config`` finds background (on ``config.ref_channel``)
    get weight ``config.filtered_patch_prob``, in place.

    Parameters
    ----------
    config : PatchFilterConfig
        The filter (max, mean/std or Shannon).
    patching_strategy : StratifiedPatching
        The training patching, changed in place.
    input_extractor : PatchExtractor
        The input stacks, in the patching's order.

    Returns
    -------
    int
        The number of background regions found (the reference returns None).

    Raises
    ------
    TypeError
        When the patching is not stratified.
    ValueError
        When the stacks do not match the patching's.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.factory.extractors import PatchExtractor
    >>> from careamics_dask.loaders import open_images
    >>> from careamics_dask.patching import StratifiedPatching
    >>> image = np.zeros((1, 1, 64, 64), np.float32)
    >>> image[..., :40] = 1.0
    >>> patching = StratifiedPatching([image.shape], [32, 32], seed=0)
    >>> config = MeanStdPatchFilterConfig(mean_threshold=0.2)
    >>> extractor = PatchExtractor(open_images([image], "SCYX"))
    >>> filter_background(config, patching, extractor)
    2
    """
    return apply_background_filter(
        patching_strategy, input_extractor.image_stacks, config
    )


def filter_background_with_mask(
    config: MaskPatchFilterConfig,
    patching_strategy: StratifiedPatching,
    mask_extractor: PatchExtractor,
) -> int:
    """Down-weight regions a mask marks as background: the reference's form.

    ``careamics.dataset.factory.filter_bg.filter_background_with_mask``: regions
    whose mask (channel ``config.ref_channel``) covers less than
    ``config.coverage`` get weight ``config.filtered_patch_prob``, in place.

    Parameters
    ----------
    config : MaskPatchFilterConfig
        The mask filter.
    patching_strategy : StratifiedPatching
        The training patching, changed in place.
    mask_extractor : PatchExtractor
        The mask stacks, in the patching's order.

    Returns
    -------
    int
        The number of background regions found (the reference returns None).

    Raises
    ------
    TypeError
        When the patching is not stratified.
    ValueError
        When the stacks do not match the patching's.
    """
    return apply_background_filter(
        patching_strategy, mask_extractor.image_stacks, config
    )
