"""Build a normalizer from a scheme name and its input and target statistics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from careamics_dask.graph.transforms._normalize_arrays import loc_scale
from careamics_dask.graph.transforms.normalize import NormalizationName, Normalizer

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["build_normalizer"]

logger = logging.getLogger(__name__)


_MISSING_INPUT: dict[str, str] = {
    "mean_std": "Mean and standard deviation values",
    "min_max": "Min and max values",
    "quantile": "Quantile values",
}


def build_normalizer(
    name: str,
    input_first: Sequence[float] | None = None,
    input_second: Sequence[float] | None = None,
    target_first: Sequence[float] | None = None,
    target_second: Sequence[float] | None = None,
    *,
    skip_target: bool = False,
    n_input_channels: int | None = None,
    n_target_channels: int | None = None,
) -> Normalizer:
    """Build a :class:`Normalizer` from a scheme name and its statistics.

    Parameters
    ----------
    name : {"mean_std", "min_max", "quantile", "none"}
        The normalization scheme.
    input_first, input_second : sequence of float or None, optional
        Input means and standard deviations (``mean_std``), or lower and upper
        values (``min_max``: minima and maxima; ``quantile``: quantile values).
    target_first, target_second : sequence of float or None, optional
        The same statistics of the targets; ``None`` when not known.
    skip_target : bool, default False
        Leave targets unnormalized (their statistics are dropped).
    n_input_channels : int or None, optional
        When given, check now that the input statistics broadcast to it.
    n_target_channels : int or None, optional
        When given, check the target statistics (if any) likewise.

    Returns
    -------
    Normalizer
        The normalizer; ranges are stored as ``max - min`` computed in float32.

    Raises
    ------
    ValueError
        ``"Quantile values must be computed before creating the normalization
        transform."`` (and the same rule for ``mean_std`` and ``min_max``) when the
        input statistics are missing; ``"Unknown normalization strategy: {name}"``;
        and the broadcast message when channel counts are given and do not match.

    Examples
    --------
    >>> build_normalizer("quantile")
    Traceback (most recent call last):
    ...
    ValueError: Quantile values must be computed before creating the normalization ...
    >>> build_normalizer("min_max", [1.0], [3.0]).input_scale
    (2.0,)
    """
    if name == "none":
        return Normalizer(name="none")
    if name not in _MISSING_INPUT:
        raise ValueError(f"Unknown normalization strategy: {name}")
    if input_first is None or input_second is None:
        raise ValueError(
            f"{_MISSING_INPUT[name]} must be computed before creating the "
            "normalization transform."
        )
    ranged = name != "mean_std"
    input_loc, input_scale = loc_scale(input_first, input_second, ranged)
    target_loc, target_scale = (
        (None, None) if skip_target else loc_scale(target_first, target_second, ranged)
    )
    normalizer = Normalizer(
        name=cast("NormalizationName", name),
        input_loc=cast("tuple[float, ...]", input_loc),
        input_scale=cast("tuple[float, ...]", input_scale),
        target_loc=target_loc,
        target_scale=target_scale,
        skip_target=skip_target,
    )
    if n_input_channels is not None:
        normalizer.check_channels(n_input_channels, n_target_channels)
    logger.debug("created %s normalizer", name)
    return normalizer
