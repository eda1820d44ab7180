"""The reference's patch constructor, as a view of a dataset's patching and stacks.

CAREamics' dataset holds a ``patch_constructor`` (``BasicPatchConstr``) with the
patching strategy and the extractors; code written for it reaches the strategy as
``dataset.patch_constructor.patching_strategy``. Here the dataset holds them
itself (``dataset.patching``, ``dataset.inputs``, ``dataset.targets``), and
:class:`PatchConstructor` shows them under the reference's names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from careamics_dask.factory.extractors import PatchExtractor
    from careamics_dask.patching import PatchingStrategy

__all__ = ["PatchConstructor"]


@dataclass(frozen=True, slots=True)
class PatchConstructor:
    """A dataset's patching strategy and extractors, by the reference's names.

    Attributes
    ----------
    patching_strategy : PatchingStrategy
        The strategy (``dataset.patching``).
    input_extractor : PatchExtractor
        The input stacks (``dataset.inputs``).
    target_extractor : PatchExtractor or None
        The target stacks (``dataset.targets``; for MicroSplit, its targets).
    channels : sequence of int or None
        The config's input channel selection.

    Examples
    --------
    >>> import numpy as np
    >>> from careamics_dask.factory.extractors import PatchExtractor
    >>> from careamics_dask.loaders import open_images
    >>> from careamics_dask.patching import WholePatching
    >>> extractor = PatchExtractor(open_images([np.ones((8, 8))], "YX"))
    >>> view = PatchConstructor(WholePatching(extractor.shapes), extractor)
    >>> view.n_patches, view.input_shapes, view.target_shapes
    (1, [(1, 1, 8, 8)], None)
    """

    patching_strategy: PatchingStrategy
    input_extractor: PatchExtractor
    target_extractor: Any = None
    channels: Sequence[int] | None = None

    @property
    def n_patches(self) -> int:
        """The number of patches of an epoch (the dataset length)."""
        return int(self.patching_strategy.n_patches)

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        """The input stacks' shapes, ``S C (Z) Y X``."""
        return self.input_extractor.shapes

    @property
    def target_shapes(self) -> list[tuple[int, ...]] | None:
        """The target stacks' shapes, or None without targets."""
        shapes = getattr(self.target_extractor, "shapes", None)
        return None if shapes is None else list(shapes)
