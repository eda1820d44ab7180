"""Save a DataConfig to YAML and load it back.

A saved config keeps everything a run needs to be reproduced, including computed
normalization statistics and the seeds given to patching and augmentations, so
``load_config(path)`` compares equal to the saved config.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from careamics_dask.config.data_config import DataConfig
from careamics_dask.config.microsplit import MicroSplitDataConfig

__all__ = ["load_config", "save_config"]

logger = logging.getLogger(__name__)


def save_config(config: DataConfig, path: str | os.PathLike[str]) -> Path:
    """Write a config to a YAML file.

    The file is written next to its destination and moved into place when
    complete, so a crash never leaves a truncated config.

    Parameters
    ----------
    config : DataConfig
        The config.
    path : str or os.PathLike
        The YAML file to write; its folder must exist.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FileNotFoundError
        When the folder of ``path`` does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from careamics_dask.config.factory import create_data_configuration
    >>> config = create_data_configuration("tiff", "YX", [64, 64], 4, seed=1)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> load_config(save_config(config, folder / "data.yml")) == config
    True
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot save the config to {str(target)!r}: the folder "
            f"{str(target.parent)!r} does not exist. Create it first."
        )
    text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    logger.debug("saved data config to %s", target)
    return target


def load_config(path: str | os.PathLike[str]) -> DataConfig:
    """Read a config from a YAML file written by :func:`save_config`.

    Parameters
    ----------
    path : str or os.PathLike
        The YAML file.

    Returns
    -------
    DataConfig
        The validated config: a :class:`MicroSplitDataConfig` when the file holds
        MicroSplit fields.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    TypeError
        When the file does not hold a mapping.
    pydantic.ValidationError
        When the config is invalid (a ``ValueError``).

    Examples
    --------
    >>> load_config("missing.yml")
    Traceback (most recent call last):
    ...
    FileNotFoundError: No config file at 'missing.yml'. Pass the path of a YAML file written by save_config.
    """  # noqa: E501
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(
            f"No config file at {str(source)!r}. Pass the path of a YAML file "
            "written by save_config."
        )
    content: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(content, dict):
        raise TypeError(
            f"The config file {str(source)!r} must hold a mapping of DataConfig "
            f"fields, got {type(content).__name__}. Pass a file written by "
            "save_config."
        )
    # a saved MicroSplit config has fields a plain DataConfig does not
    microsplit_only = set(MicroSplitDataConfig.model_fields) - set(
        DataConfig.model_fields
    )
    # constructed (not model_validate) to report one error per real problem
    if microsplit_only & set(content):
        return MicroSplitDataConfig(**content)
    return DataConfig(**content)
