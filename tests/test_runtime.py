"""Runtime knobs: defaults from the package's YAML, dask.config overrides, the version."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import dask.config
import yaml

import careamics_dask
from careamics_dask.runtime import __version__, get_option, reading_options

if TYPE_CHECKING:
    import pytest

DEFAULTS = yaml.safe_load(
    (Path(careamics_dask.__file__).parent / "careamics_dask.yaml").read_text()
)["careamics-dask"]


def test_defaults_come_from_the_package_yaml() -> None:
    assert get_option("batching.prefetch") == DEFAULTS["batching"]["prefetch"]
    assert get_option("cache.bytes") == DEFAULTS["cache"]["bytes"]


def test_explicit_value_wins_then_dask_config() -> None:
    with dask.config.set({"careamics-dask.batching.prefetch": 3}):
        assert get_option("batching.prefetch") == 3
        assert get_option("batching.prefetch", 11) == 11
    assert get_option("batching.prefetch") == DEFAULTS["batching"]["prefetch"]


def test_environment_variables_reach_the_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASK_CAREAMICS_DASK__CACHE__BYTES", "12345")
    dask.config.refresh()
    try:
        assert get_option("cache.bytes") == 12345
        assert reading_options()["cache_bytes"] == 12345
    finally:
        monkeypatch.delenv("DASK_CAREAMICS_DASK__CACHE__BYTES")
        dask.config.refresh()
    assert get_option("cache.bytes") == DEFAULTS["cache"]["bytes"]


def test_reading_options_are_typed_values_of_the_config() -> None:
    with dask.config.set(
        {
            "careamics-dask.batching.read-threads": "3",
            "careamics-dask.batching.backend": "zarr",
            "careamics-dask.cache.chunk-bytes": 1024,
        }
    ):
        options = reading_options()
    assert options["threads"] == 3
    assert options["backend"] == "zarr"
    assert options["chunk_cache_bytes"] == 1024


def test_version_is_the_installed_one() -> None:
    assert __version__ == version("careamics-dask") == careamics_dask.__version__
