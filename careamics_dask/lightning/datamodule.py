"""The ``LightningDataModule``: datasets, ranks, the cluster, checkpoints.

A little over 400 lines: one Lightning class whose hooks (setup, loaders, state)
share their fields; the loaders and helpers live in ``loader``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from careamics_dask.factory import (
    CareamicsDataset,
    PredData,
    TrainValData,
    TrainValSplitData,
    create_pred_dataset,
    create_train_val_datasets,
    create_val_split_datasets,
)
from careamics_dask.feeding import BatchStream, get_client
from careamics_dask.lightning.loader import (
    StreamLoader,
    as_data_config,
    check_mode,
    share_address,
)

if TYPE_CHECKING:
    from distributed import Client

    from careamics_dask.config import DataConfig

__all__ = ["CareamicsDataModule"]

logger = logging.getLogger(__name__)

EPOCHS = 2**31 - 1
"""The streams' epoch bound: the trainer decides when training stops."""
_RESUME_KEYS = ("seed", "shuffle", "n_patches", "batch_size")


class CareamicsDataModule(pl.LightningDataModule):
    """A ``LightningDataModule`` streaming batches of careamics_dask datasets.

    Parameters
    ----------
    train_dataset : CareamicsDataset, optional
        A training dataset (``mode="training"``).
    val_dataset : CareamicsDataset, optional
        A validation dataset (``mode="validating"``); CAREamics' modules need one
        (their learning-rate scheduler monitors ``val_loss``).
    predict_dataset : CareamicsDataset, optional
        A prediction dataset (``mode="predicting"``), read as the reference's
        ``DataLoader`` reads it (``dataset[i]``, collated regions).
    data : TrainValData or TrainValSplitData, optional
        The data the datasets were built from, handed to CAREamics' modules as
        ``_data``; default: the datasets' image stacks.
    cluster : None, "embedded", str or distributed.Client, optional
        Where batches are built: ``None`` local threads (or processes, see
        ``local``; the default client if one exists), ``"embedded"`` one local
        cluster per node, started by the node's local rank 0 (``n_workers``
        workers), a scheduler address, or a client.
    n_workers : int, optional
        Workers of an embedded cluster.
    form : {"regions", "tensors"}, default "regions"
        Batches as tuples of ``ImageRegionData`` (CAREamics' modules), or tensors.
    **stream_kwargs : Any
        :class:`~careamics_dask.feeding.BatchStream` arguments (``prefetch``,
        ``shuffle``, ``chunk_aware``, ``local``...), for the training stream.

    Raises
    ------
    TypeError, ValueError
        When a dataset is not a careamics_dask dataset or in the wrong mode.

    Examples
    --------
    >>> dm = CareamicsDataModule.from_config(config, data)  # doctest: +SKIP
    >>> trainer.fit(N2VModule(algorithm_config), datamodule=dm)  # doctest: +SKIP
    """

    def __init__(
        self,
        train_dataset: CareamicsDataset | None = None,
        val_dataset: CareamicsDataset | None = None,
        predict_dataset: CareamicsDataset | None = None,
        *,
        data: TrainValData[Any] | TrainValSplitData[Any] | None = None,
        cluster: str | Client | None = None,
        n_workers: int | None = None,
        form: str = "regions",
        **stream_kwargs: Any,
    ) -> None:
        super().__init__()
        check_mode(train_dataset, "train")
        check_mode(val_dataset, "val")
        check_mode(predict_dataset, "predict")
        if form not in ("regions", "tensors"):
            raise ValueError(
                f"Batch form unknown: expected 'regions' or 'tensors', got {form!r}."
            )
        stray = sorted({"epochs", "rank", "world_size", "client"} & set(stream_kwargs))
        if stray:
            raise TypeError(
                f"The trainer decides {stray}: expected no such stream arguments. "
                "Set them on the Trainer (max_epochs, devices, num_nodes), and the "
                "cluster with cluster=..."
            )
        self.train_dataset = train_dataset
        self.val_dataset = val_dataset
        self.predict_dataset = predict_dataset
        self.data = data
        self.cluster = cluster
        self.n_workers = n_workers
        self.form = form
        self.stream_kwargs = stream_kwargs
        self.client: Client | None = None
        self._own_client: Client | None = None
        self._train: StreamLoader | None = None
        self._val: StreamLoader | None = None
        self._train_epoch = 0
        self._consumed = 0
        self._resume: dict[str, Any] | None = None

    @classmethod
    def from_config(
        cls,
        config: DataConfig | Any,
        data: TrainValData[Any] | TrainValSplitData[Any],
        *,
        pred_data: PredData[Any] | None = None,
        pred_config: DataConfig | None = None,
        loading: Any = None,
        **kwargs: Any,
    ) -> CareamicsDataModule:
        """Build the datasets from a config and data, as the ``create_*`` functions.

        Parameters
        ----------
        config : DataConfig, careamics DataConfig or careamics Configuration
            A training config: ours, or CAREamics' own (``create_n2v_config(...)``
            or its ``data_config``), validated as ours.
        data : TrainValData or TrainValSplitData
            Training and validation data, or training data and a validation split.
        pred_data : PredData, optional
            Data to predict.
        pred_config : DataConfig, optional
            The prediction config; default ``config`` (converted, as the reference).
        loading : Loading, optional
            How to read the data (the ``create_*`` functions' ``loading``).
        **kwargs : Any
            :class:`CareamicsDataModule` arguments.

        Returns
        -------
        CareamicsDataModule
            The data module.

        Raises
        ------
        TypeError
            When ``data`` is neither ``TrainValData`` nor ``TrainValSplitData``.
        """
        config = as_data_config(config)
        if pred_config is not None:
            pred_config = as_data_config(pred_config)
        if isinstance(data, TrainValSplitData):
            train, val = create_val_split_datasets(config, data, loading)
        elif isinstance(data, TrainValData):
            train, val = create_train_val_datasets(config, data, loading)
        else:
            raise TypeError(
                "Training data must say where validation comes from: expected "
                "careamics_dask.TrainValData or TrainValSplitData, got "
                f"{type(data).__name__}. Wrap the arrays or paths, e.g. "
                "TrainValSplitData(train_data, n_val_patches=64)."
            )
        pred = None
        if pred_data is not None:
            pred = create_pred_dataset(pred_config or config, pred_data, loading)
        return cls(train, val, pred, data=data, **kwargs)

    # --- what CAREamics' modules read ---------------------------------------------

    @property
    def _data(self) -> Any:
        """The training data as CAREamics' modules check it in ``on_fit_start``."""
        data = self.data
        if data is None:
            train, val = self.train_dataset, self.val_dataset
            data = TrainValData(
                train_data=train.inputs if train is not None else None,
                val_data=val.inputs if val is not None else None,
                train_data_target=train.targets if train is not None else None,
                val_data_target=val.targets if val is not None else None,
            )
        try:
            from careamics.dataset.factory import (  # type: ignore[import-not-found]
                TrainValData as RefTrainValData,
            )
            from careamics.dataset.factory import (
                TrainValSplitData as RefTrainValSplitData,
            )
        except ImportError:
            return data
        if isinstance(data, TrainValSplitData):
            return RefTrainValSplitData(
                train_data=data.train_data,
                n_val_patches=data.n_val_patches,
                train_data_target=data.train_data_target,
                train_data_mask=data.train_data_mask,
            )
        return RefTrainValData(
            train_data=data.train_data,
            val_data=data.val_data,
            train_data_target=data.train_data_target,
            val_data_target=data.val_data_target,
            train_data_mask=data.train_data_mask,
        )

    # --- ranks and the cluster ------------------------------------------------------

    def _ranks(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def _connect(self) -> Client | None:
        if self.client is not None or self.cluster is None:
            return self.client
        if self.cluster != "embedded":
            self.client = get_client(self.cluster)
            return self.client
        trainer = self.trainer
        local_rank = int(trainer.local_rank) if trainer is not None else 0
        node = int(trainer.node_rank) if trainer is not None else 0
        address = None
        if local_rank == 0:
            self._own_client = get_client(
                n_workers=self.n_workers, threads_per_worker=1
            )
            address = str(self._own_client.scheduler_info()["address"])
            logger.info("node %d: embedded cluster at %s", node, address)
        address = share_address(address, node)
        self.client = self._own_client or get_client(address)
        return self.client

    def _stream(
        self, dataset: CareamicsDataset, role: str, **kwargs: Any
    ) -> BatchStream:
        rank, world_size = self._ranks()
        stream = BatchStream(
            dataset,
            self._connect(),
            epochs=EPOCHS,
            rank=rank,
            world_size=world_size,
            **kwargs,
        )
        if stream.batches_per_epoch == 0:
            raise ValueError(
                f"The {role} dataset has fewer batches than ranks: expected at least "
                f"{world_size} batches of {dataset.batch_size} patches, got "
                f"{len(dataset)} patches. Use a smaller batch_size, more data, or "
                "fewer devices."
            )
        return stream

    def setup(self, stage: str) -> None:
        """Build the streams for ``stage``, with the trainer's ranks.

        Parameters
        ----------
        stage : str
            ``"fit"``, ``"validate"``, ``"test"`` or ``"predict"``.
        """
        if stage == "fit" and self.train_dataset is not None and self._train is None:
            stream = self._stream(self.train_dataset, "train", **self.stream_kwargs)
            self._train = StreamLoader(
                stream,
                self.train_dataset,
                epoch=self._trainer_epoch,
                start=self._start,
                form=self.form,
            )
        val = self.val_dataset
        if stage in ("fit", "validate") and val is not None and self._val is None:
            stream = self._stream(val, "val", shuffle=False)
            self._val = StreamLoader(
                stream, val, epoch=lambda: 0, start=lambda epoch: 0, form=self.form
            )

    def teardown(self, stage: str) -> None:
        """Close the clients this module opened (and the cluster it started).

        Parameters
        ----------
        stage : str
            The stage that ends.
        """
        if stage != "fit":
            return
        for loader in (self._train, self._val):
            if loader is not None:
                loader.close()
        self._train = self._val = None
        client, own = self.client, self._own_client
        self.client = self._own_client = None
        if client is not None and client is not own and client is not self.cluster:
            client.close()
        if self.cluster == "embedded":
            # the node's other ranks disconnect before its cluster goes
            distributed = torch.distributed
            if distributed.is_available() and distributed.is_initialized():
                distributed.barrier()
        if own is not None:
            own.close()

    # --- loaders --------------------------------------------------------------------

    def train_dataloader(self) -> StreamLoader:
        """Return the training loader: one epoch per iteration.

        Returns
        -------
        StreamLoader
            Batches of this rank, the trainer's epoch.
        """
        if self._train is None:
            self.setup("fit")
        if self._train is None:
            raise ValueError(
                "No training dataset: expected CareamicsDataModule(train_dataset, "
                "val_dataset) or CareamicsDataModule.from_config(config, data)."
            )
        return self._train

    def val_dataloader(self) -> StreamLoader:
        """Return the validation loader (unshuffled, split across ranks).

        Returns
        -------
        StreamLoader
            This rank's validation batches.
        """
        if self._val is None:
            self.setup("validate")
        if self._val is None:
            raise ValueError(
                "No validation dataset: CAREamics' modules monitor val_loss, so "
                "expected a val_dataset, or from_config(config, data) with "
                "TrainValData or TrainValSplitData."
            )
        return self._val

    def predict_dataloader(self) -> DataLoader[Any]:
        """Return the prediction loader: ``dataset[0, i]`` collated, as the reference.

        Returns
        -------
        torch.utils.data.DataLoader
            Batches of the reference's ``ImageRegionData``, in tile order.
        """
        dataset = self.predict_dataset
        if dataset is None:
            raise ValueError(
                "No prediction dataset: expected CareamicsDataModule(..., "
                "predict_dataset=create_pred_dataset(config, data)) or "
                "from_config(config, data, pred_data=PredData(...))."
            )
        if self._ranks()[1] > 1:
            raise ValueError(
                "Prediction runs on one device: expected world size 1, got "
                f"{self._ranks()[1]} (tiles of one image must be stitched together). "
                "Predict with Trainer(devices=1), or careamics-dask predict."
            )
        keys = [(0, i) for i in range(len(dataset))]
        return DataLoader(
            dataset,  # type: ignore[arg-type]  # a map-style dataset
            batch_size=dataset.batch_size,
            sampler=keys,  # dataset[epoch, i] keys
        )

    # --- the stream position in checkpoints ------------------------------------------

    def _trainer_epoch(self) -> int:
        trainer = self.trainer
        return int(trainer.current_epoch) if trainer is not None else 0

    def _start(self, epoch: int) -> int:
        """Return the batch the epoch starts at: a resumed position, else 0."""
        self._train_epoch = epoch
        resume = self._resume
        position = 0
        if resume is not None and int(resume["epoch"]) == epoch:
            position = int(resume["batch"])
        self._consumed = position
        return position

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Count the training batches the steps receive (the checkpointed position).

        Parameters
        ----------
        batch : Any
            The batch.
        dataloader_idx : int
            The loader's index.

        Returns
        -------
        Any
            The batch, unchanged.
        """
        trainer = self.trainer
        if trainer is not None and trainer.training:
            self._consumed += 1
            self._resume = None
        return batch

    def state_dict(self) -> dict[str, Any]:
        """Return the training stream's position: the next batch a step receives.

        Returns
        -------
        dict
            ``epoch``, ``batch``, ``world_size`` and the settings a resumed stream
            must share; empty before training.
        """
        if self._train is None:
            return {}
        stream = self._train.stream
        epoch, batch = self._train_epoch, self._consumed
        if batch >= stream.batches_per_epoch:
            epoch, batch = epoch + 1, 0
        state = {k: v for k, v in stream.state_dict().items() if k in _RESUME_KEYS}
        return {
            **state,
            "epoch": epoch,
            "batch": batch,
            "world_size": stream.world_size,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume the training stream at a checkpoint's position.

        Parameters
        ----------
        state_dict : dict
            The output of :meth:`state_dict`.

        Raises
        ------
        ValueError
            When a mid-epoch position is resumed with another world size, or the
            checkpoint's stream had another seed, shuffle, dataset size or batch
            size.
        """
        if not state_dict:
            return
        world_size = self._ranks()[1]
        saved = int(state_dict["world_size"])
        if int(state_dict["batch"]) > 0 and saved != world_size:
            raise ValueError(
                "Cannot resume mid-epoch with another world size: the checkpoint was "
                f"saved by {saved} rank(s) at batch {state_dict['batch']} of epoch "
                f"{state_dict['epoch']}, this run has {world_size}; the per-rank split "
                "of the epoch would repeat or skip patches. Resume with the same "
                "number of devices x nodes, or from an end-of-epoch checkpoint "
                "(any world size)."
            )
        if self.train_dataset is not None:
            mine = BatchStream(
                self.train_dataset, epochs=1, **self.stream_kwargs
            ).state_dict()
            different = {
                k: (state_dict.get(k), mine[k])
                for k in _RESUME_KEYS
                if state_dict.get(k) != mine[k]
            }
            if different:
                raise ValueError(
                    "Cannot resume from another data stream's checkpoint: these "
                    f"settings differ (saved, current): {different}. Resume with "
                    "the same data, config (seed, batch_size) and shuffle."
                )
        self._resume = dict(state_dict)
