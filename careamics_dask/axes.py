"""Axes strings: validate them, reorder data to ``S C (Z) Y X`` and back.

CAREamics describes the layout of every source with an axes string over the letters
``S T C Z Y X`` in any order. Internally every image stack is ``S C Y X`` or
``S C Z Y X``: ``S`` and ``T`` merge into one sample axis with index ``s * T + t``,
and a missing ``S`` or ``C`` becomes a singleton. :func:`to_canonical` does that on
NumPy or Dask arrays without computing anything, :func:`from_canonical` undoes it for
writing results in the user's layout.

Longer than 400 lines: validation, the reorder to canonical order and its inverse
share one set of letter rules, and every other room imports them from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np

from careamics_dask.errors import AxesError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import dask.array as da
    import numpy.typing as npt

__all__ = [
    "REFERENCE_ORDER",
    "AxesLayout",
    "canonical_dims",
    "check_axes_validity",
    "check_czi_axes_validity",
    "from_canonical",
    "is_3d_axes",
    "suggest_axes",
    "to_canonical",
    "validate_axes",
]

REFERENCE_ORDER = "STCZYX"
"""The order axes are moved into before S and T merge (the reference's order)."""

ArrayT = TypeVar("ArrayT")
ScalarT = TypeVar("ScalarT", bound=np.generic)


def check_axes_validity(axes: str) -> None:
    """Check an axes string with the reference's configuration rules.

    Any order of two to six distinct letters of ``STCZYX`` is accepted, as long as
    ``YX`` or ``XY`` appear next to each other. The check is case-insensitive.

    Parameters
    ----------
    axes : str
        The axes string, e.g. ``"SYX"`` or ``"TCZYX"``.

    Raises
    ------
    AxesError
        With the reference's messages: an unknown letter (named), wrong
        length, ``Y`` and ``X`` not consecutive, or a duplicated letter.

    Examples
    --------
    >>> check_axes_validity("TCYXZS")
    >>> check_axes_validity("YZX")
    Traceback (most recent call last):
    ...
    careamics_dask.errors.AxesError: Invalid axes YZX. Must contain at least X and Y axes consecutively.
    """  # noqa: E501
    upper = axes.upper()
    unknown = sorted({letter for letter in upper if letter not in REFERENCE_ORDER})
    if unknown:  # named first: "SCYQ" is wrong because of Q, not because of X
        raise AxesError(
            f"Invalid axes {axes}. Must be a combination of STCZYX (got unknown "
            f"{', '.join(unknown)}). Use only the letters S, T, C, Z, Y and X, "
            "e.g. 'SCYX'."
        )
    if not 2 <= len(upper) <= 6:
        raise AxesError(
            f"Invalid axes {axes}. Must contain at least 2 and at most 6 axes."
            + (" Got none: give the axes, e.g. 'SCYX'." if not upper else "")
        )
    if "YX" not in upper and "XY" not in upper:
        raise AxesError(
            f"Invalid axes {axes}. Must contain at least X and Y axes consecutively."
        )
    for letter in upper:
        if upper.count(letter) > 1:
            raise AxesError(
                f"Invalid axes {axes}. Cannot contain duplicate axes "
                f"(got multiple {letter})."
            )


def check_czi_axes_validity(axes: str) -> bool:
    """Tell whether an axes string is valid for CZI files.

    CZI stacks are always ``SCYX``, ``SCZYX`` or ``SCTYX``: ``S`` and ``C`` are
    required (possibly singleton), and ``Z`` or ``T`` (not both) is the depth axis.

    Parameters
    ----------
    axes : str
        The axes string.

    Returns
    -------
    bool
        True when the axes are one of the three CZI layouts.

    Examples
    --------
    >>> check_czi_axes_validity("SCTYX"), check_czi_axes_validity("CZYX")
    (True, False)
    """
    return axes in ("SCYX", "SCZYX", "SCTYX")


def is_3d_axes(axes: str, data_type: str | None = None) -> bool:
    """Tell whether axes describe volumes (``Z``; for CZI also ``T``).

    Parameters
    ----------
    axes : str
        The axes string.
    data_type : str, optional
        The data type; for ``"czi"`` the ``T`` axis is a depth axis too.

    Returns
    -------
    bool
        True for 3-D data.

    Examples
    --------
    >>> is_3d_axes("SYX"), is_3d_axes("SCTYX", "czi"), is_3d_axes("TYX")
    (False, True, False)
    """
    upper = axes.upper()
    if data_type == "czi":
        return "Z" in upper or "T" in upper
    return "Z" in upper


def validate_axes(
    axes: str, shape: Sequence[int] | None = None, *, source: str | None = None
) -> str:
    """Validate axes for a loader and return them in upper case.

    Parameters
    ----------
    axes : str
        The axes string of the source.
    shape : Sequence[int], optional
        The source's shape; when given, its length must equal the number of axes.
    source : str, optional
        The source's name, used in error messages.

    Returns
    -------
    str
        The upper-case axes.

    Raises
    ------
    AxesError
        When the axes break a rule of :func:`check_axes_validity` or do not match
        the number of dimensions of ``shape``.

    Examples
    --------
    >>> validate_axes("syx", (2, 8, 8))
    'SYX'
    """
    where = f" for source {source!r}" if source is not None else ""
    if not isinstance(axes, str):
        raise AxesError(
            f"Axes must be a string of the letters STCZYX{where}, got "
            f"{type(axes).__name__} {axes!r}. Pass e.g. axes='SYX'."
        )
    try:
        check_axes_validity(axes)
    except AxesError as exc:
        raise AxesError(f"{exc}{where.rstrip()}") from None
    upper = axes.upper()
    if shape is not None and len(shape) != len(upper):
        raise AxesError(
            f"Axes {axes!r} have {len(upper)} letters but the data{where} has "
            f"{len(shape)} dimensions (shape {tuple(shape)}). Expected one letter "
            f"per dimension; pass axes with {len(shape)} letters from STCZYX "
            f"that describe the shape, e.g. {suggest_axes(len(shape))!r}."
        )
    return upper


def suggest_axes(ndim: int) -> str:
    """Return a typical axes string for data with ``ndim`` dimensions.

    Parameters
    ----------
    ndim : int
        The number of dimensions.

    Returns
    -------
    str
        ``YX``, ``SYX``, ``SCYX``, ``SCZYX`` or ``STCZYX`` (``YX`` otherwise).

    Examples
    --------
    >>> suggest_axes(4)
    'SCYX'
    """
    return {2: "YX", 3: "SYX", 4: "SCYX", 5: "SCZYX", 6: "STCZYX"}.get(ndim, "YX")


def canonical_dims(axes: str) -> tuple[str, ...]:
    """Return the canonical dims of data described by ``axes``.

    Parameters
    ----------
    axes : str
        A valid axes string.

    Returns
    -------
    tuple of str
        ``("S", "C", "Y", "X")`` or ``("S", "C", "Z", "Y", "X")``.

    Examples
    --------
    >>> canonical_dims("TZYX")
    ('S', 'C', 'Z', 'Y', 'X')
    """
    return ("S", "C", "Z", "Y", "X") if "Z" in axes.upper() else ("S", "C", "Y", "X")


@dataclass(frozen=True, slots=True, kw_only=True)
class AxesLayout:
    """How a source's own layout maps onto ``S C (Z) Y X``.

    Attributes
    ----------
    axes : str
        The source's axes, upper case.
    shape : tuple of int
        The source's shape, in its own axes order.
    """

    axes: str
    shape: tuple[int, ...]

    @classmethod
    def from_source(
        cls, axes: str, shape: Sequence[int], *, source: str | None = None
    ) -> AxesLayout:
        """Validate ``axes`` against ``shape`` and build the layout.

        Parameters
        ----------
        axes : str
            The source's axes.
        shape : Sequence[int]
            The source's shape.
        source : str, optional
            Name used in error messages.

        Returns
        -------
        AxesLayout
            The validated layout.
        """
        upper = validate_axes(axes, shape, source=source)
        return cls(axes=upper, shape=tuple(int(s) for s in shape))

    @property
    def sizes(self) -> dict[str, int]:
        """Size of each axis present in the source."""
        return dict(zip(self.axes, self.shape, strict=True))

    @property
    def ordered_axes(self) -> str:
        """The source's axes sorted into the reference order ``STCZYX``."""
        return "".join(a for a in REFERENCE_ORDER if a in self.axes)

    @property
    def canonical_shape(self) -> tuple[int, ...]:
        """The shape after reordering: ``(S*T, C, [Z,] Y, X)``."""
        sizes = self.sizes
        samples = math.prod(sizes.get(a, 1) for a in "ST")
        spatial = tuple(sizes[a] for a in "ZYX" if a in sizes)
        return (samples, sizes.get("C", 1), *spatial)

    def sample_index(self, merged: int) -> dict[str, int]:
        """Split a merged sample index into the source's ``S`` and ``T`` indices.

        Parameters
        ----------
        merged : int
            Index along the canonical ``S`` axis.

        Returns
        -------
        dict of str to int
            ``{"S": s, "T": t}`` restricted to the axes the source has.
        """
        sizes = self.sizes
        if "S" in sizes and "T" in sizes:
            return {"S": merged // sizes["T"], "T": merged % sizes["T"]}
        for axis in "ST":
            if axis in sizes:
                return {axis: merged}
        return {}


def _reshape(array: ArrayT, shape: tuple[int, ...]) -> ArrayT:
    """Reshape NumPy or Dask arrays; Dask keeps its chunks instead of merging."""
    import dask.array as da

    if isinstance(array, da.Array):
        return array.reshape(shape, merge_chunks=False)  # type: ignore[no-untyped-call, no-any-return]
    return np.reshape(array, shape)  # type: ignore[call-overload, no-any-return]


@overload
def to_canonical(array: npt.NDArray[ScalarT], axes: str) -> npt.NDArray[ScalarT]: ...
@overload
def to_canonical(array: da.Array, axes: str) -> da.Array: ...
def to_canonical(array: Any, axes: str) -> Any:
    """Reorder a NumPy or Dask array to ``S C (Z) Y X`` without computing it.

    Parameters
    ----------
    array : numpy.ndarray or dask.array.Array
        The data in its own layout.
    axes : str
        The data's axes, one letter per dimension.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        The same data, 4-D or 5-D; a NumPy input gives a view where possible.

    Raises
    ------
    AxesError
        When the axes are invalid or do not match ``array.ndim``.

    Examples
    --------
    >>> import numpy as np
    >>> data = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    >>> out = to_canonical(data, "TSYX")
    >>> out.shape
    (6, 1, 4, 5)
    >>> bool((out[1 * 2 + 0, 0] == data[0, 1]).all())  # s * T + t
    True
    """
    layout = AxesLayout.from_source(axes, array.shape)
    order = [layout.axes.index(a) for a in layout.ordered_axes]
    moved = np.transpose(array, order)
    return _reshape(moved, layout.canonical_shape)


@overload
def from_canonical(
    array: npt.NDArray[ScalarT],
    original_axes: str,
    original_shape: Sequence[int],
    target_axes: str | None = None,
) -> npt.NDArray[ScalarT]: ...
@overload
def from_canonical(
    array: da.Array,
    original_axes: str,
    original_shape: Sequence[int],
    target_axes: str | None = None,
) -> da.Array: ...
def from_canonical(
    array: Any,
    original_axes: str,
    original_shape: Sequence[int],
    target_axes: str | None = None,
) -> Any:
    """Undo :func:`to_canonical`: back to the original (or target) axes.

    The channel count may differ from the original (a model may predict another
    number of channels); a singleton ``C`` is dropped when the output axes have no
    ``C``.

    Parameters
    ----------
    array : numpy.ndarray or dask.array.Array
        Data in ``S C (Z) Y X`` order.
    original_axes : str
        The axes of the source the data came from.
    original_shape : Sequence[int]
        The shape of that source.
    target_axes : str, optional
        Axes to write instead of ``original_axes`` (same sample and spatial axes,
        ``C`` may be added or dropped).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        The data in the requested axes order.

    Raises
    ------
    AxesError
        When the array does not match the canonical shape of the source, or when
        a multi-channel array is written to axes without ``C``.

    Examples
    --------
    >>> import numpy as np
    >>> data = np.zeros((4, 3, 5, 6))  # T Y X C
    >>> back = from_canonical(to_canonical(data, "TYXC"), "TYXC", data.shape)
    >>> back.shape
    (4, 3, 5, 6)
    """
    layout = AxesLayout.from_source(original_axes, original_shape)
    out_axes = validate_axes(target_axes or original_axes)
    shape = tuple(array.shape)
    expected = layout.canonical_shape
    if (
        len(shape) != len(expected)
        or shape[0] != expected[0]
        or shape[2:] != expected[2:]
    ):
        raise AxesError(
            f"Cannot restore axes {original_axes!r}: expected data of shape "
            f"{expected} (channels may differ), got {shape}. Pass the array the "
            "dataset produced for this source."
        )
    sizes = layout.sizes
    sample_axes = [a for a in "ST" if a in sizes]
    sample_shape = tuple(sizes[a] for a in sample_axes)
    unmerged = _reshape(array, (*sample_shape, *shape[1:]))
    current = "".join(sample_axes) + "C" + "".join(a for a in "ZYX" if a in sizes)
    if "C" not in out_axes:
        if shape[1] != 1:
            raise AxesError(
                f"Cannot write {shape[1]} channels to axes {out_axes!r} without 'C'. "
                "Add 'C' to the target axes."
            )
        unmerged = unmerged[(slice(None),) * len(sample_axes) + (0,)]
        current = current.replace("C", "")
    missing = set(out_axes) ^ set(current)
    if missing:
        raise AxesError(
            f"Cannot restore to axes {out_axes!r} from {original_axes!r}: the "
            "sample and spatial axes must be the same, found a difference in "
            f"{sorted(missing)}."
        )
    order = [current.index(a) for a in out_axes]
    return np.transpose(unmerged, order)
