"""Run files of ``careamics-dask predict RUN.yaml OUT.zarr``: read one, run it.

The run file of ``batches`` and ``export`` (:mod:`careamics_dask.app.runfile`: data,
config, cluster, prefetch) plus the model and where it runs::

    data:
      inputs: images.zarr            # paths, folders, stores or URIs (or a list)
    config: predict_config.yml       # a file written by save_config, or inline fields
    cluster:
      address: tcp://127.0.0.1:8786  # omit for an embedded local cluster
    model: my_package.models:denoise # an importable callable, "module:attribute"
    model_kwargs: {depth: 2}         # optional: call the attribute with these first
    device: cuda                     # optional: device of a torch module
    run_on: client                   # optional: client (default) or workers
    resources: {GPU: 1}              # optional: worker resources of the model tasks
    chunks: [256, 256]               # optional: output chunks along (Z,) Y, X
    overwrite: false                 # optional: replace a complete output
    resume: true                     # optional: continue OUT.zarr.partial

The config should be a predicting config (tiled or whole patching); a training
config is converted to whole-image prediction, as ``create_pred_dataset`` does. The
same file also runs ``batches`` and ``export`` (they ignore the model's fields, and
``predict`` ignores ``batches``, ``epochs`` and ``dataset``). An interrupted run
leaves ``OUT.zarr.partial``, which the same command resumes (``resume: false``
starts again); a complete ``OUT.zarr`` is replaced only with ``overwrite: true``
(or ``--overwrite``).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from careamics_dask.app.runfile import RunFile, load_run_file
from careamics_dask.factory import PredData, create_pred_dataset
from careamics_dask.predict.pipeline import predict_to_zarr

if TYPE_CHECKING:
    import os

    from careamics_dask.predict.pipeline import PredictionSummary

__all__ = [
    "PredictionRunFile",
    "import_object",
    "load_prediction_run",
    "run_prediction",
]

logger = logging.getLogger(__name__)


class PredictionRunFile(RunFile):
    """The run file of ``predict``: a ``RunFile`` with a model and its options.

    Examples
    --------
    >>> run = PredictionRunFile.model_validate({
    ...     "data": {"inputs": "images.zarr"},
    ...     "config": {"mode": "predicting", "data_type": "zarr", "axes": "SYX",
    ...                "patching": {"name": "tiled", "patch_size": [64, 64],
    ...                             "overlaps": [16, 16]},
    ...                "normalization": {"name": "none"}},
    ...     "model": "numpy:negative",
    ... })
    >>> run.model, run.run_on, run.resume
    ('numpy:negative', 'client', True)
    """

    model: str
    """The model: an importable callable or torch module, ``"module:attribute"``."""

    model_kwargs: dict[str, Any] | None = None
    """When given, ``model`` is a factory called with these to build the model."""

    device: str | None = None
    """The device of a torch module (default: ``cuda`` where available)."""

    run_on: Literal["client", "workers"] = "client"
    """Run the model in the command's process or inside worker tasks."""

    resources: dict[str, float] | None = None
    """Worker resources of the model tasks, e.g. ``{GPU: 1}``."""

    chunks: list[int] | None = None
    """Output chunk sizes along ``(Z,) Y, X`` (default: the source's)."""

    overwrite: bool = False
    """Replace an existing output once the new one is complete."""

    resume: bool = True
    """Continue an interrupted prediction into the same output."""

    def check_data_suits_config(self) -> tuple[str, str] | None:
        """Return None: prediction uses neither the validation split nor filters.

        Returns
        -------
        None
            ``n_val_patches``, masks and filters only shape training patches.
        """
        return None


def import_object(name: str) -> Any:
    """Import ``"package.module:attribute"`` (or ``"package.module.attribute"``).

    Parameters
    ----------
    name : str
        The object's import path; the attribute may be dotted.

    Returns
    -------
    Any
        The object.

    Raises
    ------
    ValueError
        When the module or the attribute cannot be found.

    Examples
    --------
    >>> import_object("numpy:negative").__name__
    'negative'
    >>> import_object("os.path.join").__name__
    'join'
    """
    module_name, _, attribute = name.partition(":")
    if not attribute:
        module_name, _, attribute = name.rpartition(".")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(
            f"Cannot import the model {name!r}: expected 'package.module:attribute' "
            f"of an importable module ({exc}). Check the name and that the package "
            "is installed in this environment."
        ) from exc
    return value


def load_prediction_run(path: str | os.PathLike[str]) -> PredictionRunFile:
    """Read and validate the run file of ``predict``.

    Parameters
    ----------
    path : str or os.PathLike
        The YAML run file.

    Returns
    -------
    PredictionRunFile
        The run, with paths resolved against the file's folder.

    Raises
    ------
    RunFileError
        When the file is missing, not YAML, not a mapping, or invalid; the message
        is one line naming the field and the fix.
    """
    return load_run_file(Path(path), PredictionRunFile)


def _check_output(out: Path, run: PredictionRunFile, run_file: Path) -> None:
    """Refuse a complete output unless the run file says to overwrite it."""
    if out.exists() and not run.overwrite:
        raise FileExistsError(
            f"The prediction output {str(out)!r} exists already (a complete "
            "prediction): expected a new path. Set `overwrite: true` in the run "
            f"file {str(run_file)!r} (or pass --overwrite) to replace it once the "
            "new prediction is complete; only an interrupted prediction "
            f"({out.name}.partial) is resumed by running the same command again."
        )


_API_WORDS = {
    "Pass resume=False": "Set `resume: false` in the run file",
    "Pass overwrite=True": "Set `overwrite: true` in the run file",
}


def _in_run_file_words(exc: Exception) -> Exception:
    """Return ``exc`` with API wording (``resume=False``) in run-file keys."""
    message = str(exc)
    changed = message
    for api, key in _API_WORDS.items():
        changed = changed.replace(api, key)
    if changed == message or type(exc) not in (ValueError, FileExistsError):
        return exc
    return type(exc)(changed)


def run_prediction(
    run_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    progress: bool = True,
    overwrite: bool = False,
) -> PredictionSummary:
    """Predict what a run file describes into ``out`` (the CLI's ``predict``).

    Parameters
    ----------
    run_file : str or os.PathLike
        The YAML run file.
    out : str or os.PathLike
        The output Zarr store.
    progress : bool, default True
        Show a progress bar (on stderr).
    overwrite : bool, default False
        Replace a complete output, as ``overwrite: true`` in the run file does.

    Returns
    -------
    PredictionSummary
        What was written.

    Raises
    ------
    RunFileError
        When the run file is missing or invalid.
    ValueError
        When the model cannot be imported, or the data does not suit the config.
    """
    run = load_prediction_run(run_file)
    if overwrite:
        run = run.model_copy(update={"overwrite": True})
    _check_output(Path(out), run, Path(run_file))
    model = import_object(run.model)
    if run.model_kwargs is not None:
        model = model(**run.model_kwargs)
    dataset = create_pred_dataset(
        run.config, PredData(run.data.inputs, run.data.targets)
    )
    client = run.cluster.connect()
    try:
        return _predict(run, dataset, model, Path(out), client, progress)
    finally:
        if client is not None:
            client.close()


def _predict(
    run: PredictionRunFile,
    dataset: Any,
    model: Any,
    out: Path,
    client: Any,
    progress: bool,
) -> PredictionSummary:
    try:
        return predict_to_zarr(
            dataset,
            model,
            out,
            client,
            prefetch=run.prefetch,
            overwrite=run.overwrite,
            progress=progress,
            run_on=run.run_on,
            resources=run.resources,
            device=run.device,
            chunks=run.chunks,
            resume=run.resume,
        )
    except (ValueError, FileExistsError) as exc:
        raise _in_run_file_words(exc) from exc
