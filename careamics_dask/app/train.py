"""``careamics-dask train RUN.yaml``: CAREamics' own modules trained from a run file.

The run file of ``batches``, ``export`` and ``predict`` (data, config, cluster) plus
an ``algorithm:`` section::

    algorithm:
      name: n2v                 # n2v, care or n2n (CAREamics 0.3.5's modules)
      depth: 2                  # the UNet's size
      num_channels_init: 32
      epochs: 10
      steps: 500                # optional: stop after this many training steps
      checkpoints: checkpoints  # the folder (relative to the run file)
      every_n_steps: 100        # a periodic checkpoint; last.ckpt at the end

Batches stream through :class:`~careamics_dask.lightning.CareamicsDataModule` on
the run file's cluster; the progress bar shows the loss and patches/s. ``--resume``
continues from ``last.ckpt`` (the trainer, the model and the stream position).
``predict`` takes a checkpoint as its model::

    model: careamics_dask.app.train:load_model
    model_kwargs: {checkpoint: checkpoints/last.ckpt}

Training needs careamics 0.3.5 and Lightning (the recipe: ``.ci/reference_env.sh``);
without them the command stops before anything starts, naming the recipe.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from careamics_dask.app.runfile import RunFile, RunFileError, load_run_file
from careamics_dask.errors import MissingDependencyError

if TYPE_CHECKING:
    import os

    from careamics_dask.factory.dataset import CareamicsDataset

__all__ = [
    "TrainAlgorithm",
    "TrainRunFile",
    "TrainSummary",
    "load_model",
    "load_train_run",
    "run_training",
]

logger = logging.getLogger(__name__)

_LOSSES = {"n2v": "n2v", "care": "mse", "n2n": "mse"}
_KEY = "careamics_dask"
"""Where a checkpoint keeps the algorithm it was trained with."""


class TrainAlgorithm(BaseModel):
    """The ``algorithm:`` section of a training run file."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["n2v", "care", "n2n"]
    """CAREamics' algorithm: N2V (no targets), CARE or N2N (targets)."""
    depth: int = Field(2, ge=1)
    """The UNet's depth."""
    num_channels_init: int = Field(32, ge=1)
    """The UNet's channels at the first level."""
    epochs: int = Field(10, ge=1)
    """Epochs to train for."""
    steps: int | None = Field(None, ge=1)
    """Stop after this many training steps (default: ``epochs`` decide)."""
    checkpoints: Path = Path("checkpoints")
    """The checkpoint folder, relative to the run file."""
    every_n_steps: int = Field(100, ge=1)
    """Steps between periodic checkpoints."""
    accelerator: str = "auto"
    """Lightning's accelerator: auto, cpu, gpu..."""

    @field_validator("checkpoints")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get("base")
        return value if value.is_absolute() or base is None else Path(base) / value

    def module_config(self, n_in: int, n_out: int) -> dict[str, Any]:
        """CAREamics' algorithm config (a dict its modules validate).

        Parameters
        ----------
        n_in, n_out : int
            Input and output channels.

        Returns
        -------
        dict
            ``{"algorithm", "loss", "model"}``.
        """
        return {
            "algorithm": self.name,
            "loss": _LOSSES[self.name],
            "model": {
                "architecture": "UNet",
                "in_channels": n_in,
                "num_classes": n_out,
                "depth": self.depth,
                "num_channels_init": self.num_channels_init,
            },
        }


class TrainRunFile(RunFile):
    """The run file of ``train``: a ``RunFile`` with an ``algorithm:`` section."""

    algorithm: TrainAlgorithm
    """What to train, how long, and where the checkpoints go."""


@dataclass(frozen=True)
class TrainSummary:
    """What a training run did."""

    algorithm: str
    steps: int
    epochs: int
    seconds: float
    checkpoint: Path

    def describe(self) -> str:
        """One line for the terminal."""
        return (
            f"trained {self.algorithm} for {self.steps:,} steps ({self.epochs} "
            f"epochs) in {self.seconds:.1f} s; checkpoint {self.checkpoint} (predict "
            "with model: careamics_dask.app.train:load_model, model_kwargs: "
            f"{{checkpoint: {self.checkpoint}}})"
        )


def load_train_run(path: str | os.PathLike[str]) -> TrainRunFile:
    """Read a training run file and check it suits training, reading no pixel.

    Parameters
    ----------
    path : str or os.PathLike
        The YAML run file.

    Returns
    -------
    TrainRunFile
        The validated run.

    Raises
    ------
    RunFileError
        When the file is invalid, has no ``algorithm:``, or its config is not a
        training config.
    """
    run = load_run_file(Path(path), TrainRunFile)
    if run.config.mode != "training":
        raise RunFileError(
            f"Run file {str(path)!r}, field 'config.mode': train needs a training "
            f"config, got mode {run.config.mode.value!r}; set `mode: training`.",
            path=str(path),
        )
    if run.algorithm.name != "n2v" and run.data.targets is None:
        raise RunFileError(
            f"Run file {str(path)!r}, field 'data.targets': {run.algorithm.name} "
            "trains on input/target pairs, got no targets; add `targets:` (and "
            "`val_targets:`) or use `name: n2v`.",
            path=str(path),
        )
    return run


def require_careamics() -> None:
    """Stop at once, naming the recipe, when careamics or Lightning is missing.

    Raises
    ------
    MissingDependencyError
        When ``careamics`` or ``lightning`` cannot be imported.
    """
    try:
        importlib.import_module("careamics.lightning.modules")
        importlib.import_module("lightning.pytorch")
    except ImportError as exc:
        raise MissingDependencyError(
            "careamics-dask train needs careamics 0.3.5 and Lightning, which cannot "
            f"be imported ({exc}). Install the `lightning` extra and careamics 0.3.5 "
            "with the recipe `bash .ci/reference_env.sh .venv-ref` (notes: "
            "../shared/notes/reference_env.md), then run .venv-ref/bin/careamics-dask"
            " train.",
            extra="lightning",
        ) from exc


def _module(config: dict[str, Any]) -> Any:
    modules = importlib.import_module("careamics.lightning.modules")
    cls = modules.N2VModule if config["algorithm"] == "n2v" else modules.CAREModule
    return cls(config)


def _checkpoint_meta(path: Path) -> dict[str, Any]:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    meta = state.get(_KEY) if isinstance(state, dict) else None
    if not isinstance(meta, dict) or "algorithm" not in meta:
        raise ValueError(
            f"Checkpoint {str(path)!r} was not written by careamics-dask train: "
            "expected its algorithm section. Use a last.ckpt of `careamics-dask "
            "train`, or another checkpoints folder to start afresh."
        )
    return {"state": state, **meta}


def load_model(checkpoint: str | os.PathLike[str]) -> Any:
    """Load a ``careamics-dask train`` checkpoint as the trained UNet.

    ``predict``'s ``model: careamics_dask.app.train:load_model`` with
    ``model_kwargs: {checkpoint: ...}``.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        A checkpoint written by ``careamics-dask train``.

    Returns
    -------
    torch.nn.Module
        The UNet, in eval mode, on the CPU.

    Raises
    ------
    ValueError
        When the checkpoint was not written by ``careamics-dask train``.
    """
    require_careamics()
    meta = _checkpoint_meta(Path(checkpoint))
    module = _module(meta["config"])
    module.load_state_dict(meta["state"]["state_dict"])
    return module.model.eval()


def _check_resume(run: TrainRunFile, config: dict[str, Any], resume: bool) -> Path:
    folder = run.algorithm.checkpoints
    last = folder / "last.ckpt"
    if not resume:
        if last.exists():
            raise FileExistsError(
                f"Checkpoint folder {str(folder)!r} holds a run already "
                "(last.ckpt): expected an empty folder. Pass --resume to continue "
                "it, or set algorithm.checkpoints to another folder."
            )
        return last
    if not last.exists():
        raise FileNotFoundError(
            f"Nothing to resume in {str(folder)!r}: expected last.ckpt of an earlier "
            "`careamics-dask train`. Run without --resume to start."
        )
    theirs = _checkpoint_meta(last)["config"]
    if theirs != config:
        raise ValueError(
            f"Checkpoint {str(last)!r} was trained with {theirs['algorithm']} "
            f"{theirs['model']}, expected the run file's {config['algorithm']} "
            f"{config['model']}. Set the run file's algorithm to the checkpoint's, or "
            "algorithm.checkpoints to another folder to start afresh."
        )
    return last


def _channels(dataset: CareamicsDataset, targets: bool) -> int:
    if targets and dataset.targets is not None:
        return int(dataset.targets.n_channels)
    if dataset.config.channels:
        return len(dataset.config.channels)
    return int(dataset.inputs.n_channels)


def _callbacks(run: TrainRunFile, config: dict[str, Any]) -> list[Any]:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint

    class Record(pl.Callback):
        """The algorithm in every checkpoint, and patches/s in the progress bar."""

        def __init__(self) -> None:
            self.start = time.perf_counter()
            self.patches = 0

        def on_train_start(self, trainer: Any, module: Any) -> None:
            self.start = time.perf_counter()

        def on_train_batch_end(self, trainer: Any, module: Any, *args: Any) -> None:
            batch = args[1]
            self.patches += int(batch[0].data.shape[0])
            rate = self.patches / max(time.perf_counter() - self.start, 1e-9)
            module.log("patches/s", rate, prog_bar=True, logger=False)

        def on_save_checkpoint(
            self, trainer: Any, module: Any, checkpoint: dict[str, Any]
        ) -> None:
            checkpoint[_KEY] = {"algorithm": config["algorithm"], "config": config}

    periodic = ModelCheckpoint(
        dirpath=run.algorithm.checkpoints,
        filename="{step}",
        every_n_train_steps=run.algorithm.every_n_steps,
        save_top_k=1,
        save_last=True,
    )
    return [Record(), periodic]


def run_training(
    run_file: str | os.PathLike[str], *, resume: bool = False, progress: bool = True
) -> TrainSummary:
    """Train CAREamics' module of a run file's algorithm from its data.

    Parameters
    ----------
    run_file : str or os.PathLike
        The run file (data, config, cluster, algorithm).
    resume : bool, default False
        Continue from the checkpoint folder's ``last.ckpt``.
    progress : bool, default True
        Show Lightning's progress bar (loss, patches/s).

    Returns
    -------
    TrainSummary
        The steps, epochs, time and the final checkpoint.

    Raises
    ------
    RunFileError
        When the run file is invalid or has no ``algorithm:``.
    MissingDependencyError
        When careamics or Lightning is missing.
    ValueError, FileExistsError, FileNotFoundError
        When the data has no validation part, or the checkpoints do not suit.
    """
    run = load_train_run(run_file)
    require_careamics()
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import CSVLogger

    from careamics_dask.app.run_datasets import build_datasets
    from careamics_dask.lightning import CareamicsDataModule

    datasets = build_datasets(run)
    train, val = datasets["train"], datasets.get("val")
    if val is None:
        raise ValueError(
            f"Run file {str(run_file)!r}: CAREamics' modules validate every epoch, "
            "got no validation data. Add data.n_val_patches or data.val_inputs."
        )
    n_in = _channels(train, targets=False)
    n_out = _channels(train, targets=run.algorithm.name != "n2v")
    config = run.algorithm.module_config(n_in, n_out)
    last = _check_resume(run, config, resume)
    client = run.cluster.connect()
    try:
        datamodule = CareamicsDataModule(
            train, val, cluster=client, prefetch=run.prefetch
        )
        trainer = pl.Trainer(
            accelerator=run.algorithm.accelerator,
            devices=1,
            max_epochs=run.algorithm.epochs,
            max_steps=run.algorithm.steps or -1,
            callbacks=_callbacks(run, config),
            logger=CSVLogger(run.algorithm.checkpoints, name="logs"),
            enable_progress_bar=progress,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        start = time.perf_counter()
        trainer.fit(
            _module(config), datamodule=datamodule, ckpt_path=last if resume else None
        )
        trainer.save_checkpoint(last)
    finally:
        if client is not None:
            client.close()
    return TrainSummary(
        run.algorithm.name,
        int(trainer.global_step),
        int(trainer.current_epoch),
        time.perf_counter() - start,
        last,
    )
