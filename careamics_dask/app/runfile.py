"""The run file of ``careamics-dask batches`` and ``export``: data, config, cluster.

A run file is YAML (:func:`careamics_dask.app.run_datasets.build_datasets` makes its
datasets)::

    data:
      inputs: images.zarr          # paths, folders, stores or URIs (or a list)
      n_val_patches: 64            # or val_inputs: ..., for separate validation data
    config: data_config.yml        # a file written by save_config, or inline fields
    cluster:
      address: tcp://127.0.0.1:8786   # omit for an embedded local cluster
    dataset: train                 # which dataset to stream: train, val or predict
    batches: 100                   # omit for every batch of `epochs` epochs
    epochs: 1
    prefetch: 8

Relative paths are relative to the run file's folder. :func:`load_run_file` reports
an invalid file as one :class:`RunFileError` line naming the field and the fix, and
checks that the data suits the config (a validation split needs stratified
patching) before anything starts.

One run file serves every verb: the fields of ``predict`` (``model:`` and its
options, :data:`OTHER_VERB_FIELDS`) are ignored by ``batches`` and ``export``, and
``predict`` ignores ``batches``, ``epochs`` and ``dataset``.

The module is over 400 lines because the run file's models carry the documentation
of every field (attribute docstrings, which ``--help`` points to) and the checks
that turn pydantic's errors into one line each; splitting them would separate a
field from its rule.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, overload

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from careamics_dask.config import DataConfig
from careamics_dask.errors import CareamicsDaskError

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "OTHER_VERB_FIELDS",
    "RunCluster",
    "RunData",
    "RunFile",
    "RunFileError",
    "load_run_file",
]

logger = logging.getLogger(__name__)

_STRICT = ConfigDict(extra="forbid", frozen=True)


class RunFileError(CareamicsDaskError, ValueError):
    """A run file is missing, unreadable or invalid.

    Parameters
    ----------
    message : str
        What is wrong, where, and how to fix it (one line).
    path : str
        The run file.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


def _base(info: ValidationInfo) -> Path | None:
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base")
    return Path(base) if base is not None else None


def _resolve(source: str, base: Path | None) -> str:
    """Make a relative local path relative to ``base``; URIs stay as they are."""
    if base is None or "://" in source or Path(source).is_absolute():
        return source
    return str(base / source)


Sources = str | list[str]
"""One source (a path, folder, store or URI) or a list of them."""


class RunData(BaseModel):
    """The data of a run: inputs, and optional targets, validation data and masks.

    Examples
    --------
    >>> RunData(inputs="a.zarr", n_val_patches=8).val_inputs is None
    True
    """

    model_config = _STRICT

    inputs: Sources
    """The input sources (training, validation or prediction data)."""

    targets: Sources | None = None
    """Target sources, aligned with ``inputs``."""

    val_inputs: Sources | None = None
    """Separate validation inputs (training configs only)."""

    val_targets: Sources | None = None
    """Targets of ``val_inputs``."""

    masks: Sources | None = None
    """Masks for the config's ``mask_filter`` (training configs only)."""

    n_val_patches: int | None = Field(default=None, ge=1)
    """Validation patches split off the training data (stratified patching)."""

    @field_validator(
        "inputs", "targets", "val_inputs", "val_targets", "masks", mode="after"
    )
    @classmethod
    def resolve_paths(cls, value: Sources | None, info: ValidationInfo) -> Any:
        """Make relative paths relative to the run file's folder.

        Parameters
        ----------
        value : str or list of str or None
            The sources.
        info : pydantic.ValidationInfo
            Holds the run file's folder as ``context["base"]``.

        Returns
        -------
        str or list of str or None
            The resolved sources.
        """
        base = _base(info)
        if value is None or isinstance(value, str):
            return None if value is None else _resolve(value, base)
        return [_resolve(v, base) for v in value]

    @model_validator(mode="after")
    def check_validation_data(self) -> RunData:
        """Allow one way of getting validation data, and val targets with inputs.

        Returns
        -------
        RunData
            The model, unchanged.

        Raises
        ------
        ValueError
            When both ``val_inputs`` and ``n_val_patches`` are given, or
            ``val_targets`` without ``val_inputs``.
        """
        if self.val_inputs is not None and self.n_val_patches is not None:
            raise ValueError(
                "give either val_inputs or n_val_patches, not both: remove one"
            )
        if self.val_targets is not None and self.val_inputs is None:
            raise ValueError("val_targets needs val_inputs: add val_inputs")
        return self


class RunCluster(BaseModel):
    """Where batches are built.

    Examples
    --------
    >>> RunCluster().local, RunCluster(local=True).local
    (False, True)
    """

    model_config = _STRICT

    address: str | None = None
    """A scheduler address (``tcp://...``); ``None``: ``DASK_SCHEDULER_ADDRESS``,
    else an embedded local cluster."""

    n_workers: int | None = Field(default=None, ge=1)
    """Workers of an embedded cluster (default: one per core, at most 4)."""

    threads_per_worker: int | None = Field(default=None, ge=1)
    """Threads per worker of an embedded cluster."""

    local: bool = False
    """Build batches on local threads, with no cluster at all (same batches)."""

    @model_validator(mode="after")
    def check_choice(self) -> RunCluster:
        """Reject sizes for a cluster that is not embedded, and address with local.

        Returns
        -------
        RunCluster
            The model, unchanged.

        Raises
        ------
        ValueError
            For ``n_workers`` / ``threads_per_worker`` with an ``address``, or an
            ``address`` with ``local: true``.
        """
        if self.local and self.address is not None:
            raise ValueError("local: true runs without a cluster: remove the address")
        sized = self.n_workers is not None or self.threads_per_worker is not None
        if self.address is not None and sized:
            raise ValueError(
                "n_workers and threads_per_worker size an embedded cluster: remove "
                "them or the address"
            )
        return self

    def connect(self) -> Client | None:
        """Return a client for these settings, or None for ``local: true``.

        Returns
        -------
        distributed.Client or None
            Closing the client also closes an embedded cluster.
        """
        if self.local:
            return None
        from careamics_dask.feeding import get_client

        return get_client(
            self.address,
            n_workers=self.n_workers,
            threads_per_worker=self.threads_per_worker,
        )


def _load_config_file(value: Any, info: ValidationInfo) -> Any:
    """Read a config given as a path into the mapping of its fields."""
    if not isinstance(value, str | Path):
        return value
    path = Path(_resolve(str(value), _base(info)))
    if not path.is_file():
        raise ValueError(
            f"no config file at {str(path)!r}: give the path of a YAML file written "
            "by save_config, or the config's fields inline"
        )
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(content, dict):
        raise ValueError(  # noqa: TRY004 - pydantic reports ValueError, not TypeError
            f"the config file {str(path)!r} holds {type(content).__name__}, not a "
            "mapping of DataConfig fields"
        )
    return content


class RunFile(BaseModel):
    """A run: the data, the data config, the cluster and how much to stream.

    Examples
    --------
    >>> run = RunFile.model_validate({
    ...     "data": {"inputs": "images.zarr"},
    ...     "config": {"mode": "validating", "data_type": "zarr", "axes": "SCYX",
    ...                "patching": {"name": "fixed_random", "patch_size": [32, 32]},
    ...                "normalization": {"name": "none"}},
    ...     "batches": 10,
    ... })
    >>> run.config.patching.name, run.batches, run.cluster.address
    ('fixed_random', 10, None)
    """

    model_config = ConfigDict(extra="forbid")

    data: RunData
    """The data sources."""

    config: Annotated[DataConfig, BeforeValidator(_load_config_file)]
    """The data config: a YAML file written by ``save_config``, or its fields."""

    cluster: RunCluster = RunCluster()
    """Where batches are built."""

    dataset: Literal["train", "val", "predict"] | None = None
    """The dataset to stream or export; default: the first the config makes
    (``train`` for training, ``val`` for validating, ``predict`` for predicting)."""

    batches: int | None = Field(default=None, ge=1)
    """Batches to stream; ``None``: every batch of ``epochs`` epochs."""

    epochs: int = Field(default=1, ge=1)
    """Epochs to stream."""

    prefetch: int | None = Field(default=None, ge=1)
    """Batches in flight; default ``careamics-dask.batching.prefetch``."""

    def check_data_suits_config(self) -> tuple[str, str] | None:
        """Return the first field whose data the config cannot use, and why.

        Checked when the file is read, before any cluster starts: a validation
        split (``n_val_patches``), a background filter and masks need stratified
        patching.

        Returns
        -------
        tuple of (str, str) or None
            ``(field, message with the fix)``, or None when the run is consistent.
        """
        name = self.config.patching.name
        if self.config.mode != "training" or name == "stratified":
            return None
        if self.data.n_val_patches is not None:
            return (
                "data.n_val_patches",
                f"a validation split needs stratified patching, got {name!r} "
                "patching in the config; set the config's patching name to "
                "'stratified', or give val_inputs instead",
            )
        if self.config.patch_filter is not None:
            return (
                "config.patch_filter",
                f"a background filter needs stratified patching, got {name!r} "
                "patching; set the patching name to 'stratified' or remove the "
                "patch_filter",
            )
        if self.data.masks is not None:
            return (
                "data.masks",
                f"mask filtering needs stratified patching, got {name!r} patching; "
                "set the patching name to 'stratified' or remove the masks",
            )
        return None


OTHER_VERB_FIELDS: frozenset[str] = frozenset(
    {
        "algorithm",
        "model",
        "model_kwargs",
        "device",
        "run_on",
        "resources",
        "chunks",
        "overwrite",
        "resume",
    }
)
"""Fields of other verbs' run files: a verb whose model lacks them ignores them.

``predict`` adds the model and its options to :class:`RunFile`; the same file then
still runs ``batches`` and ``export``. A verb that adds fields of its own lists them
here so that the other verbs accept (and ignore) them.
"""

R = TypeVar("R", bound=RunFile)

_FIXES = {
    "missing": "add it to the run file",
    "extra_forbidden": "remove it or check its spelling",
    "greater_than_equal": "use a larger value",
    "string_type": "give a string",
    "int_type": "give a whole number",
    "int_parsing": "give a whole number",
    "literal_error": "use one of the listed values",
}


_FIELD_FIXES = {
    "model": (
        "add e.g. `model: numpy:negative` or `model: my_package.models:denoise` "
        "(an importable callable or torch module, 'module:attribute')"
    ),
    "config": "add `config: data_config.yml` (written by save_config) or its fields",
    "data": "add `data: {inputs: images.zarr}`",
    "algorithm": (
        "add e.g. `algorithm: {name: n2v, epochs: 10}` (careamics-dask train; see "
        "careamics_dask.app.train)"
    ),
}


def _one_line(error: ValidationError, path: Path) -> str:
    """Turn pydantic's errors into one line: the first field, its rule, the fix."""
    errors = [
        e
        for e in error.errors(include_url=False)
        if e["type"] != "default_factory_not_called"
    ] or error.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = str(first["msg"]).removeprefix("Value error, ").rstrip(".")
    fix = _FIXES.get(str(first["type"]), "")
    if first["type"] == "missing" and where in _FIELD_FIXES:
        fix = _FIELD_FIXES[where]
    given = first.get("input")
    shown = f" (got {given!r})" if first["type"] not in ("missing",) else ""
    if isinstance(given, dict):
        shown = ""
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return (
        f"Run file {str(path)!r}, field {where!r}: {message}{shown}"
        + (f"; {fix}" if fix else "")
        + f".{more}"
    )


@overload
def load_run_file(path: str | Path) -> RunFile: ...
@overload
def load_run_file(path: str | Path, model: type[R]) -> R: ...
def load_run_file(path: str | Path, model: type[RunFile] = RunFile) -> RunFile:
    """Read and validate a run file.

    Parameters
    ----------
    path : str or pathlib.Path
        The YAML run file.
    model : type, default RunFile
        The model to validate with: :class:`RunFile` or a subclass adding fields
        (e.g. the run file of ``predict``).

    Returns
    -------
    RunFile
        The validated run (an instance of ``model``), with paths resolved against
        the file's folder.

    Raises
    ------
    RunFileError
        When the file is missing, not YAML, not a mapping, or invalid; the message
        is one line naming the field and the fix.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "run.yaml").write_text("data: {inputs: a.zarr}")
    >>> load_run_file(folder / "run.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    careamics_dask.app.runfile.RunFileError: Run file '...run.yaml', field 'config': ...
    """
    source = Path(path)
    if not source.is_file():
        raise RunFileError(
            f"No run file at {str(source)!r}: expected a YAML file. Check the path.",
            path=str(source),
        )
    try:
        content = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise RunFileError(
            f"Run file {str(source)!r} is not valid YAML{where}: "
            f"{getattr(exc, 'problem', exc)}. Fix the syntax.",
            path=str(source),
        ) from exc
    if not isinstance(content, dict):
        raise RunFileError(
            f"Run file {str(source)!r} must hold a mapping with 'data' and 'config', "
            f"got {type(content).__name__}. See `careamics-dask batches --help`.",
            path=str(source),
        )
    ignored = sorted((OTHER_VERB_FIELDS - set(model.model_fields)) & set(content))
    if ignored:
        logger.debug("run file %s: ignoring %s (other verbs' fields)", source, ignored)
        content = {k: v for k, v in content.items() if k not in ignored}
    try:
        run = model.model_validate(content, context={"base": source.resolve().parent})
    except ValidationError as exc:
        raise RunFileError(_one_line(exc, source), path=str(source)) from exc
    problem = run.check_data_suits_config()
    if problem is not None:
        field, message = problem
        raise RunFileError(
            f"Run file {str(source)!r}, field {field!r}: {message}.", path=str(source)
        )
    return run
