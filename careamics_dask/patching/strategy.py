"""The patching-strategy protocol and the behaviour every strategy shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from careamics_dask.patching.specs import PatchSpecs
    from careamics_dask.patching.table import PatchTable

__all__ = ["Patching", "PatchingStrategy", "TableStrategy"]


@runtime_checkable
class PatchingStrategy(Protocol):
    """What the dataset layer needs from a patching strategy.

    A strategy turns image-stack shapes into a :class:`PatchTable` per epoch. It is
    compatible with the reference's ``Patching`` protocol (``n_patches``,
    ``get_patch_spec``, ``get_patch_indices``), with an optional epoch added.
    """

    @property
    def n_patches(self) -> int:
        """The number of patches per epoch (the dataset length)."""
        ...

    @property
    def is_random(self) -> bool:
        """Whether every epoch has a new table (training) or not (validation)."""
        ...

    def table(self, epoch: int = 0) -> PatchTable:
        """Return the patch table of one epoch."""
        ...

    def get_patch_spec(self, index: int, epoch: int = 0) -> PatchSpecs:
        """Return one row of the table of one epoch as the reference's dict."""
        ...

    def get_patch_indices(self, data_idx: int) -> npt.NDArray[np.int64]:
        """Return the indices of the patches of one image stack."""
        ...


Patching = PatchingStrategy
"""The reference's name of the protocol (``careamics.dataset.patching.Patching``)."""


class TableStrategy:
    """Shared behaviour: the reference's per-index access on top of ``table``.

    Subclasses implement ``_build_table(epoch)`` and set ``_data_idx``, the image
    stack of every row (the same in every epoch), and ``is_random``. The most
    recently built table is kept, so ``get_patch_spec`` over one epoch builds it
    once.
    """

    _index_error = "Index {index} out of bounds for {label} with number of patches {n}"
    _label = "patching strategy"
    is_random = False
    _data_idx: npt.NDArray[np.int64]
    _last: tuple[int, PatchTable] | None = None

    def _build_table(self, epoch: int) -> PatchTable:
        raise NotImplementedError

    def __getstate__(self) -> dict[str, object]:
        # the last table is a cache: rebuilt on demand, never pickled
        return {**self.__dict__, "_last": None}

    @property
    def n_patches(self) -> int:
        """The number of patches per epoch."""
        return int(self._data_idx.shape[0])

    def table(self, epoch: int = 0) -> PatchTable:
        """Return the patch table of one epoch.

        Parameters
        ----------
        epoch : int, default 0
            The epoch, ``>= 0``. Strategies that are not random ignore it.

        Returns
        -------
        PatchTable
            ``n_patches`` rows in dataset index order.

        Raises
        ------
        ValueError
            When the epoch is negative.

        Examples
        --------
        >>> from careamics_dask.patching import RandomPatching
        >>> patching = RandomPatching([(1, 1, 32, 32)], [16, 16], seed=5)
        >>> len(patching.table(epoch=2)), patching.table(2) == patching.table(2)
        (4, True)
        """
        if epoch < 0:
            raise ValueError(f"Epoch must not be negative: expected >= 0, got {epoch}.")
        key = int(epoch) if self.is_random else 0
        if self._last is None or self._last[0] != key:
            self._last = (key, self._build_table(key))
        return self._last[1]

    def get_patch_spec(self, index: int, epoch: int = 0) -> PatchSpecs:
        """Return one patch as the reference's spec dict.

        Parameters
        ----------
        index : int
            The patch, ``0 <= index < n_patches``.
        epoch : int, default 0
            The epoch whose table is read.

        Returns
        -------
        PatchSpecs
            Row ``index`` of ``table(epoch)``.

        Raises
        ------
        IndexError
            When the index is out of range (the reference's message).

        Examples
        --------
        >>> from careamics_dask.patching import WholePatching
        >>> WholePatching([(1, 1, 32, 48)]).get_patch_spec(0)
        {'data_idx': 0, 'sample_idx': 0, 'coords': (0, 0), 'patch_size': (32, 48)}
        """
        if not 0 <= index < self.n_patches:
            raise IndexError(
                self._index_error.format(
                    index=index, label=self._label, n=self.n_patches
                )
            )
        return self.table(epoch).row(int(index))

    def get_patch_indices(self, data_idx: int) -> npt.NDArray[np.int64]:
        """Return the indices of the patches of one image stack.

        Parameters
        ----------
        data_idx : int
            The image stack.

        Returns
        -------
        numpy.ndarray
            Increasing patch indices, int64 (the same in every epoch).

        Examples
        --------
        >>> from careamics_dask.patching import WholePatching
        >>> WholePatching([(2, 1, 8, 8), (1, 1, 8, 8)]).get_patch_indices(1).tolist()
        [2]
        """
        return np.flatnonzero(self._data_idx == data_idx).astype(np.int64)
