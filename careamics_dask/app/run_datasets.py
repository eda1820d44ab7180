"""The datasets of a run file: the ``create_*`` call its config's mode asks for."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from careamics_dask.app.runfile import RunFile
    from careamics_dask.factory.dataset import CareamicsDataset

__all__ = ["build_datasets", "select_dataset"]

logger = logging.getLogger(__name__)


def build_datasets(run: RunFile) -> dict[str, CareamicsDataset]:
    """Create the datasets a run's config asks for.

    Training configs make ``train`` (and ``val`` with validation data or
    ``n_val_patches``), validating configs ``val``, predicting configs ``predict``.
    Missing statistics are computed now and written into ``run.config``.

    Parameters
    ----------
    run : RunFile
        The run.

    Returns
    -------
    dict of str to CareamicsDataset
        The datasets by name, the default first.

    Raises
    ------
    ValueError
        When the data does not suit the config's mode.
    """
    from careamics_dask.factory import (
        PredData,
        TrainValData,
        TrainValSplitData,
        create_dataset,
        create_pred_dataset,
        create_train_dataset,
        create_train_val_datasets,
        create_val_split_datasets,
    )

    config, data = run.config, run.data
    if config.mode != "training":
        extras = [
            name
            for name in ("val_inputs", "masks", "n_val_patches")
            if getattr(data, name) is not None
        ]
        if extras:
            raise ValueError(
                f"Run data fields {extras} need a training config: expected mode "
                f"'training', got {config.mode.value!r}. Remove them or change the "
                "config's mode."
            )
    if config.mode == "predicting":
        return {
            "predict": create_pred_dataset(config, PredData(data.inputs, data.targets))
        }
    if config.mode == "validating":
        return {"val": create_dataset(config, data.inputs, data.targets)}
    if data.n_val_patches is not None:
        split = TrainValSplitData(
            data.inputs, data.n_val_patches, data.targets, data.masks
        )
        train, val = create_val_split_datasets(config, split)
        return {"train": train, "val": val}
    if data.val_inputs is not None:
        pair = TrainValData(
            data.inputs, data.val_inputs, data.targets, data.val_targets, data.masks
        )
        train, val = create_train_val_datasets(config, pair)
        return {"train": train, "val": val}
    alone = TrainValData(data.inputs, None, data.targets, None, data.masks)
    return {"train": create_train_dataset(config, alone)}


def select_dataset(
    run: RunFile, datasets: dict[str, CareamicsDataset]
) -> tuple[str, CareamicsDataset]:
    """Return the dataset a run names (or the default one) and its name.

    Parameters
    ----------
    run : RunFile
        The run.
    datasets : dict of str to CareamicsDataset
        The output of :func:`build_datasets`.

    Returns
    -------
    tuple of (str, CareamicsDataset)
        The name and the dataset.

    Raises
    ------
    ValueError
        When the run names a dataset its config does not make.
    """
    name: str = run.dataset or next(iter(datasets))
    if name not in datasets:
        raise ValueError(
            f"Run file dataset {name!r} is not made by this config: expected one of "
            f"{sorted(datasets)}, got {name!r}. Change 'dataset' in the run file."
        )
    return name, datasets[name]
