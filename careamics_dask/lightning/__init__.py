"""Lightning feeding: a ``LightningDataModule`` over ``BatchStream`` (extra).

:class:`CareamicsDataModule` streams training and validation batches through a
:class:`~careamics_dask.feeding.BatchStream` (local threads or processes, or a
``distributed`` cluster), with what Lightning and CAREamics' own modules need:

- the epoch comes from the trainer (``trainer.current_epoch``), the rank and world
  size from the trainer too: every rank gets disjoint batches and the same number
  of batches, ``floor(batches / world_size)`` per epoch (the remainder of an
  epoch's batches is dropped, on every rank alike, so no collective waits for a
  rank that has run out);
- ``cluster="embedded"``: one Dask cluster per node, started by the node's local
  rank 0; the other ranks of the node connect to its scheduler as clients;
- the stream position is in the checkpoint (:meth:`state_dict`, counted from the
  batches the training steps received, not the ones fetched ahead), so a resumed
  run continues with exactly the batches an uninterrupted one would have had; a
  mid-epoch checkpoint resumes only with the same world size (refused with a clear
  message otherwise), an end-of-epoch one with any;
- what CAREamics 0.3.5's ``N2VModule`` / ``CAREModule`` read: ``_data`` (a
  ``careamics`` ``TrainValData`` / ``TrainValSplitData`` when careamics is
  installed), batches as tuples of ``ImageRegionData`` whose ``data`` is a tensor,
  a validation loader, and ``predict_dataset.normalization``.
"""

from __future__ import annotations

from careamics_dask.lightning.datamodule import CareamicsDataModule
from careamics_dask.lightning.loader import StreamLoader, region_batch

__all__ = ["CareamicsDataModule", "StreamLoader", "region_batch"]
