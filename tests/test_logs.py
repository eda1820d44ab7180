"""Opt-in logging: one handler at most, the level changes, nothing by default."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from careamics_dask.logs import set_log_level

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def package_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("careamics_dask")
    handlers, level = list(logger.handlers), logger.level
    logger.handlers = []
    yield logger
    logger.handlers = handlers
    logger.setLevel(level)


def test_importing_adds_no_handler() -> None:
    code = (
        "import logging, careamics_dask; "
        "logger = logging.getLogger('careamics_dask'); "
        "print(len(logger.handlers), logger.propagate, logger.level)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["0", "True", "0"]


def test_one_handler_however_often_called(package_logger: logging.Logger) -> None:
    set_log_level("DEBUG")
    set_log_level(logging.WARNING)
    assert len(package_logger.handlers) == 1
    assert package_logger.level == logging.WARNING
    assert package_logger.handlers[0].get_name() == "careamics_dask"


def test_records_reach_the_handler(
    package_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    set_log_level("INFO")
    logging.getLogger("careamics_dask.loaders").info("opened %s", "x.zarr")
    logging.getLogger("careamics_dask.loaders").debug("hidden")
    err = capsys.readouterr().err
    assert "INFO careamics_dask.loaders: opened x.zarr" in err
    assert "hidden" not in err
