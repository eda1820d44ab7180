"""Construction-time checks of a dataset, and the sampling weights for statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from careamics_dask.config.support import Mode
from careamics_dask.graph.statistics import RegionWeights
from careamics_dask.patching.stratified import StratifiedPatching

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.config import DataConfig
    from careamics_dask.patching import PatchingStrategy

__all__ = ["statistics_weights", "validate_shapes_against_patching"]


def validate_shapes_against_patching(
    config: DataConfig, input_shapes: Sequence[Sequence[int]]
) -> None:
    """Check image sizes against the patching (the reference's rules, §6.4).

    Parameters
    ----------
    config : DataConfig
        The data configuration.
    input_shapes : Sequence[Sequence[int]]
        ``S C (Z) Y X`` shapes of the input stacks.

    Raises
    ------
    ValueError
        In training and validation, when an image is smaller than the patch; in
        prediction without tiling and ``batch_size > 1``, when images differ in
        shape.

    Examples
    --------
    >>> from careamics_dask.config import DataConfig
    >>> config = DataConfig(mode="training", data_type="array", axes="YX",
    ...     patching={"name": "random", "patch_size": [8, 8]},
    ...     normalization={"name": "none"})
    >>> validate_shapes_against_patching(config, [(1, 1, 6, 16)])
    Traceback (most recent call last):
    ...
    ValueError: Not all images sizes are greater or equal than the patch size for training and validation. ...
    """  # noqa: E501
    patch_size = getattr(config.patching, "patch_size", None)
    if config.mode != Mode.PREDICTING and patch_size is not None:
        small = [
            tuple(shape)
            for shape in input_shapes
            if any(s < p for s, p in zip(shape[2:], patch_size, strict=True))
        ]
        if small:
            raise ValueError(
                "Not all images sizes are greater or equal than the patch size for "
                "training and validation. Expected spatial sizes >= "
                f"{list(patch_size)}, got image stacks of shape {small[:5]}. Use a "
                "smaller patch size or remove the small images."
            )
    if (
        config.mode == Mode.PREDICTING
        and config.patching.name == "whole"
        and config.batch_size > 1
        and len({tuple(s) for s in input_shapes}) > 1
    ):
        raise ValueError(
            "For prediction without tiling, all images must have the same size when "
            "batch size is greater than 1. Consider using a batch size of 1 or use "
            "tiling."
        )


def statistics_weights(
    patching: PatchingStrategy, input_shapes: Sequence[Sequence[int]]
) -> list[RegionWeights | None] | None:
    """Return how often each pixel will be sampled, for the statistics.

    Stratified patching samples the regions of its grid with their weights (from
    background filters) and never samples excluded cells; other strategies sample
    pixels uniformly (None).

    Parameters
    ----------
    patching : PatchingStrategy
        The dataset's patching.
    input_shapes : Sequence[Sequence[int]]
        The input stacks' shapes.

    Returns
    -------
    list of RegionWeights or None
        One weight map per stack, or None for uniform weights.
    """
    if not isinstance(patching, StratifiedPatching):
        return None
    values = np.asarray(patching.region_weights, dtype=np.float64) * ~np.asarray(
        patching.excluded_cells
    )
    if np.all(values == 1.0):
        return None
    offsets = patching.region_offsets
    grids = patching.grid_shapes
    weights: list[RegionWeights | None] = []
    first = 0
    for shape in input_shapes:
        n_samples = int(shape[0])
        grid = tuple(int(g) for g in grids[first]) if n_samples else ()
        block = values[offsets[first] : offsets[first + n_samples]]
        if block.size == 0:
            weights.append(None)
        else:
            weights.append(
                RegionWeights(
                    values=block.reshape(n_samples, *grid),
                    cell_size=tuple(int(p) for p in patching.patch_size),
                )
            )
        first += n_samples
    return weights
