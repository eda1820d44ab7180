"""Whole patching: every sample as one patch of its full spatial size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from careamics_dask.patching._shapes import SampleLayout, check_shapes
from careamics_dask.patching.strategy import TableStrategy
from careamics_dask.patching.table import PatchTable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.patching.specs import PatchSpecs

__all__ = ["WholePatching", "WholeSamplePatching"]


class WholePatching(TableStrategy):
    """One patch per sample: coords 0 and the stack's spatial shape (prediction).

    Parameters
    ----------
    data_shapes : sequence of sequence of int
        Image-stack shapes, axes ``S C (Z) Y X``; all with the same number of
        spatial axes.

    Raises
    ------
    ValueError
        When no shape is given or they differ in their number of axes.

    Examples
    --------
    >>> patching = WholePatching([(2, 1, 64, 64), (1, 1, 43, 71)])
    >>> patching.n_patches
    3
    >>> patching.get_patch_spec(2)
    {'data_idx': 1, 'sample_idx': 0, 'coords': (0, 0), 'patch_size': (43, 71)}
    """

    _label = "WholePatching"

    def __init__(self, data_shapes: Sequence[Sequence[int]]) -> None:
        if not data_shapes:
            raise ValueError("Whole patching needs image-stack shapes: got none.")
        ndim = len(data_shapes[0]) - 2
        self.data_shapes = check_shapes(data_shapes, ndim)
        layout = SampleLayout.from_shapes(self.data_shapes)
        self._table = PatchTable.from_columns(
            data_idx=layout.data_idx,
            sample_idx=layout.sample_idx,
            coords=layout.spatial * 0,
            patch_size=layout.spatial,
        )
        self._data_idx = self._table.data_idx

    @property
    def patch_specs(self) -> list[PatchSpecs]:
        """The patches as the reference's list of spec dicts (its attribute)."""
        return list(self._table)

    def _build_table(self, epoch: int) -> PatchTable:
        return self._table


WholeSamplePatching = WholePatching
"""The reference's name (``careamics.dataset.patching.WholeSamplePatching``)."""
