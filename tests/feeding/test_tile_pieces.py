"""Pieces of tiles: requests, and a worker serving pieces of the tiles it holds."""

from __future__ import annotations

import pickle
from types import SimpleNamespace
from typing import Any

import numpy as np

from careamics_dask.errors import CareamicsDaskError, TilesLostError
from careamics_dask.feeding._tile_pieces import PieceRequest, cut, serve_pieces


def test_requests_know_their_shape() -> None:
    request = PieceRequest(name="t", low=(1, 2), high=(4, 6), channels=2, dtype="u2")
    assert request.shape == (2, 3, 4)


def test_a_worker_serves_pieces_it_holds_and_none_otherwise() -> None:
    tile = np.arange(2 * 5 * 5, dtype=np.uint16).reshape(2, 5, 5)
    worker: Any = SimpleNamespace(data={"t": tile})
    pieces = serve_pieces(worker, [["t", [1, 1], [3, 4]], ["gone", [0, 0], [1, 1]]])
    assert pieces[1] is None
    assert pieces[0] is not None
    got = np.frombuffer(pieces[0], dtype=np.uint16).reshape(2, 2, 3)
    np.testing.assert_array_equal(got, cut(tile, (1, 1), (3, 4)))
    np.testing.assert_array_equal(got, tile[:, 1:3, 1:4])


def test_lost_tiles_are_a_careamics_runtime_error_that_pickles() -> None:
    error = TilesLostError(["a", "b", "c", "d"], "its worker died")
    assert isinstance(error, CareamicsDaskError)
    assert isinstance(error, RuntimeError)
    assert "4 in-memory tile(s)" in str(error)
    assert "..." in str(error)
    restored = pickle.loads(pickle.dumps(error))
    assert type(restored) is TilesLostError
    assert restored.names == ("a", "b", "c", "d")
    assert restored.reason == "its worker died"
    assert str(restored) == str(error)
