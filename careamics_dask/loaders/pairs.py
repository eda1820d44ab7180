"""Open inputs with their targets (or masks) and check that the pairs agree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from careamics_dask.errors import DataPairError
from careamics_dask.loaders.loading import ImageStackLoading, ReadFuncLoading
from careamics_dask.loaders.open import open_images
from careamics_dask.loaders.sources import expand_sources, validate_source_pair

if TYPE_CHECKING:
    from collections.abc import Sequence

    import xarray as xr

    from careamics_dask.loaders.loading import Loading

__all__ = ["open_pair", "validate_stack_pair"]


def validate_stack_pair(
    inputs: Sequence[xr.DataArray],
    targets: Sequence[xr.DataArray],
    *,
    what: str = "target",
) -> None:
    """Check that paired stacks agree in count, samples and spatial shape.

    Channels may differ (a target may have another channel count).

    Parameters
    ----------
    inputs : Sequence[xarray.DataArray]
        Input image stacks.
    targets : Sequence[xarray.DataArray]
        Target (or mask) image stacks, in the same order.
    what : str, default "target"
        The name of the second list, for messages.

    Raises
    ------
    DataPairError
        When counts, sample counts or spatial shapes differ; the message names
        both sources.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.loaders.open import open_images
    >>> a = open_images(np.zeros((2, 8, 8)), "SYX")
    >>> b = open_images(np.zeros((2, 8, 9)), "SYX")
    >>> validate_stack_pair(a, b)
    Traceback (most recent call last):
    ...
    careamics_dask.errors.DataPairError: Input and target image stacks 0 differ ...
    """
    if len(inputs) != len(targets):
        raise DataPairError(
            f"Inputs and {what}s must have the same number of image stacks: got "
            f"{len(inputs)} input and {len(targets)} {what} stacks. Give one {what} "
            "array per input array."
        )
    for index, (image, other) in enumerate(zip(inputs, targets, strict=True)):
        spatial_in = {d: image.sizes[d] for d in image.dims if d != "C"}
        spatial_out = {d: other.sizes[d] for d in other.dims if d != "C"}
        if spatial_in != spatial_out:
            raise DataPairError(
                f"Input and {what} image stacks {index} differ in samples or spatial "
                f"shape: expected {what} sizes {spatial_in} (from "
                f"{image.attrs.get('source')!r}), got {spatial_out} (from "
                f"{other.attrs.get('source')!r}). Pair each input with the {what} "
                "of the same image, and check the axes of both."
            )


def open_pair(
    inputs: Any,
    targets: Any,
    axes: str,
    data_type: str | None = None,
    *,
    target_axes: str | None = None,
    in_memory: bool = False,
    loading: Loading = None,
    what: str = "target",
    **kwargs: Any,
) -> tuple[list[xr.DataArray], list[xr.DataArray]]:
    """Open inputs and their targets, checking file names and shapes agree.

    Parameters
    ----------
    inputs : Any
        Input sources (arrays, paths, folders, URIs or lists of them).
    targets : Any
        Target sources of the same kind.
    axes : str
        Axes of the inputs.
    data_type : str, optional
        The loader; guessed when omitted.
    target_axes : str, optional
        Axes of the targets; defaults to ``axes``.
    in_memory : bool, default False
        Read pixels now.
    loading : ReadFuncLoading or ImageStackLoading or None
        Custom loading specification.
    what : str, default "target"
        Name of the second source for messages (``"mask"`` for masks).
    **kwargs : Any
        Loader options.

    Returns
    -------
    tuple of (list of xarray.DataArray, list of xarray.DataArray)
        Input and target stacks.

    Raises
    ------
    DataPairError
        When the pair disagrees in kind, count, names or shapes.

    Examples
    --------
    >>> import numpy as np
    >>> x, y = open_pair(np.zeros((2, 8, 8)), np.ones((2, 3, 8, 8)), "SYX",
    ...                  target_axes="SCYX")
    >>> y[0].shape
    (2, 3, 8, 8)
    """
    if type(inputs) is not type(targets) and not (
        isinstance(inputs, list | tuple) and isinstance(targets, list | tuple)
    ):
        raise DataPairError(
            f"Inputs and {what}s must be of the same kind: got "
            f"{type(inputs).__name__} and {type(targets).__name__}. Pass both as "
            "arrays, or both as paths."
        )
    if data_type is not None and not isinstance(loading, ImageStackLoading):
        pattern = (
            loading.extension_filter if isinstance(loading, ReadFuncLoading) else None
        )
        validate_source_pair(
            expand_sources(data_type, inputs, extension_filter=pattern or None),
            expand_sources(data_type, targets, extension_filter=pattern or None),
            what=what,
        )
    opened_in = open_images(
        inputs, axes, data_type, in_memory=in_memory, loading=loading, **kwargs
    )
    opened_out = open_images(
        targets,
        target_axes or axes,
        data_type,
        in_memory=in_memory,
        loading=loading,
        **kwargs,
    )
    validate_stack_pair(opened_in, opened_out, what=what)
    return opened_in, opened_out
