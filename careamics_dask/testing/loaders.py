"""``LoaderTests``: the conformance suite every loader's tests subclass.

A subclass writes one source in :meth:`LoaderTests.make_case` (using the raw library,
e.g. tifffile or zarr) and inherits tests that prove the loader's contract:

- opening computes nothing and reads no region;
- the result has dims ``S C (Z) Y X``, a ``C`` coordinate and the standard attrs;
- the values equal what the raw library reads, reordered by the axes rules;
- chunks follow the storage layout;
- the stack pickles, holds no open file after opening, and computes after
  unpickling.

Examples
--------
>>> class TestMyLoader(LoaderTests):  # doctest: +SKIP
...     def make_case(self, tmp_path):
...         path = tmp_path / "a.tif"
...         tifffile.imwrite(path, data)
...         return LoaderCase(source=path, axes="SYX", expected=[data], path=path)
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import dask.array as da
import numpy as np
import pytest

from careamics_dask.axes import canonical_dims, to_canonical
from careamics_dask.loaders import clear_handle_cache
from careamics_dask.loaders.open import open_images
from careamics_dask.testing.laziness import (
    open_file_descriptors,
    raise_if_dask_computes,
)

if TYPE_CHECKING:
    from pathlib import Path

    import numpy.typing as npt
    import xarray as xr

__all__ = ["LoaderCase", "LoaderTests"]


@dataclass(kw_only=True)
class LoaderCase:
    """One source written by a test, with what the raw library reads from it.

    Attributes
    ----------
    source : Any
        What is passed to :func:`careamics_dask.open_images`.
    axes : str
        The axes passed with it.
    expected : list of numpy.ndarray
        Per image stack, the pixels as the raw library reads them (own axes).
    expected_axes : list of str, optional
        Per image stack, the axes of ``expected`` when they differ from ``axes``
        (e.g. OME-Zarr axes read from metadata).
    data_type : str, optional
        The data type passed to ``open_images`` (guessed when None).
    open_kwargs : dict
        Further keyword arguments for ``open_images``.
    channel_names : list of list of str, optional
        Per stack, the channel names the source records.
    pixel_sizes : list of dict, optional
        Per stack, the pixel sizes the source records.
    expected_chunks : list of tuple of int, optional
        Per stack, the storage chunk shape in the canonical ``S C (Z) Y X`` order.
    path : pathlib.Path, optional
        The local file or folder, to check that no handle stays open.
    lazy : bool
        Whether the stacks must be Dask-backed.
    """

    source: Any
    axes: str
    expected: list[npt.NDArray[Any]]
    expected_axes: list[str] | None = None
    data_type: str | None = None
    open_kwargs: dict[str, Any] = field(default_factory=dict)
    channel_names: list[list[str]] | None = None
    pixel_sizes: list[dict[str, float]] | None = None
    expected_chunks: list[tuple[int, ...]] | None = None
    path: Path | None = None
    lazy: bool = True

    def axes_of(self, index: int) -> str:
        """Return the axes of stack ``index`` in ``expected``."""
        if self.expected_axes is not None:
            return self.expected_axes[index]
        return self.axes.upper()


class LoaderTests:
    """Base class of loader test classes; subclass it and implement make_case."""

    supports_chunks: ClassVar[bool] = True
    """Whether the loader's chunks must equal ``expected_chunks``."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        """Write a source under ``tmp_path`` and describe it.

        Parameters
        ----------
        tmp_path : pathlib.Path
            A fresh folder.

        Returns
        -------
        LoaderCase
            The source and what it should give.
        """
        raise NotImplementedError

    @pytest.fixture
    def case(self, tmp_path: Path) -> LoaderCase:
        """Build the subclass's case, with the handle cache cleared."""
        clear_handle_cache()
        return self.make_case(tmp_path)

    def open(self, case: LoaderCase) -> list[xr.DataArray]:
        """Open the case's source."""
        return open_images(case.source, case.axes, case.data_type, **case.open_kwargs)

    def test_open_computes_nothing(self, case: LoaderCase) -> None:
        """Opening reads metadata only: no graph computed, no region read."""
        with raise_if_dask_computes():
            stacks = self.open(case)
        assert len(stacks) == len(case.expected)
        if case.lazy:
            for stack in stacks:
                assert isinstance(stack.data, da.Array), type(stack.data)

    def test_dims_coords_attrs(self, case: LoaderCase) -> None:
        """Dims, the C coordinate and the standard attrs are set."""
        stacks = self.open(case)
        for index, (stack, raw) in enumerate(zip(stacks, case.expected, strict=True)):
            axes = case.axes_of(index)
            assert stack.dims == canonical_dims(axes)
            assert stack.attrs["original_axes"] == axes
            assert tuple(stack.attrs["original_shape"]) == raw.shape
            assert stack.attrs["original_dtype"] == str(raw.dtype)
            assert isinstance(stack.attrs["source"], str)
            assert stack.attrs["source"]
            assert "C" in stack.coords
            assert stack.sizes["C"] == len(stack.coords["C"])
            if case.channel_names is not None:
                assert list(stack.coords["C"].values) == case.channel_names[index]
            if case.pixel_sizes is not None:
                assert stack.attrs["pixel_sizes"] == pytest.approx(
                    case.pixel_sizes[index]
                )

    def test_values_equal_raw(self, case: LoaderCase) -> None:
        """The stack holds what the raw library reads, reordered to S C (Z) Y X."""
        stacks = self.open(case)
        for index, (stack, raw) in enumerate(zip(stacks, case.expected, strict=True)):
            expected = to_canonical(raw, case.axes_of(index))
            values = stack.values
            assert values.dtype == raw.dtype
            np.testing.assert_array_equal(values, expected)

    def test_chunks_follow_storage(self, case: LoaderCase) -> None:
        """Dask chunks are the storage chunks (the last chunk may be smaller)."""
        if case.expected_chunks is None or not self.supports_chunks:
            pytest.skip("this case declares no storage chunks")
        for stack, chunk in zip(self.open(case), case.expected_chunks, strict=True):
            assert isinstance(stack.data, da.Array)
            for dim_chunks, size, full in zip(
                stack.data.chunks, chunk, stack.shape, strict=True
            ):
                assert dim_chunks[0] == min(size, full), (stack.data.chunks, chunk)

    def test_pickles_without_open_handles(self, case: LoaderCase) -> None:
        """The stack pickles, holds no open file, and computes after unpickling."""
        stacks = self.open(case)
        if case.path is not None:
            assert open_file_descriptors(case.path) == []
        restored = pickle.loads(pickle.dumps(stacks))
        for index, (stack, raw) in enumerate(zip(restored, case.expected, strict=True)):
            np.testing.assert_array_equal(
                stack.values, to_canonical(raw, case.axes_of(index))
            )
