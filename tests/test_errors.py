from __future__ import annotations

import pickle

import pytest

from careamics_dask.errors import (
    AxesError,
    MissingDependencyError,
    SourceNotFoundError,
    SourceReadError,
    TilesLostError,
    UnsupportedDtypeError,
    UnsupportedSourceError,
)


@pytest.mark.parametrize(
    "error",
    [
        SourceReadError("bad chunk", source="s.zarr", array="a", region="[0:1]"),
        SourceNotFoundError("missing", source="x.tif"),
        UnsupportedSourceError("empty", source="g.zarr"),
        UnsupportedDtypeError("complex", source="c.tif"),
        MissingDependencyError("install", extra="czi"),
        AxesError("bad axes"),
        TilesLostError(["t-0", "t-1"], "its worker died"),
    ],
)
def test_errors_survive_pickling_with_attributes(error: Exception) -> None:
    restored = pickle.loads(pickle.dumps(error))
    assert type(restored) is type(error)
    assert str(restored) == str(error)
    assert restored.__dict__ == error.__dict__


def test_errors_are_builtins() -> None:
    assert isinstance(SourceReadError("m", source="s", array="", region=""), OSError)
    assert isinstance(SourceNotFoundError("m", source="s"), FileNotFoundError)
    assert isinstance(MissingDependencyError("m", extra="x"), ImportError)


def test_lost_tiles_are_a_runtime_error() -> None:
    assert isinstance(TilesLostError(["t"], "gone"), RuntimeError)
