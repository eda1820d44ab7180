"""Tests of the counter-based uniform draws of augmentations."""

from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.graph.transforms import draw_uniforms


def test_draws_do_not_depend_on_batching() -> None:
    indices = np.arange(50)
    whole = draw_uniforms(3, 1, 2, indices, n_draws=3)
    assert whole.shape == (3, 50)
    parts = np.concatenate(
        [
            draw_uniforms(3, 1, 2, indices[:20], 3),
            draw_uniforms(3, 1, 2, indices[20:], 3),
        ],
        axis=1,
    )
    np.testing.assert_array_equal(whole, parts)
    assert ((whole >= 0) & (whole < 1)).all()


def test_streams_differ_by_seed_position_and_epoch() -> None:
    base = draw_uniforms(3, 0, 0, range(10))
    for other in (
        draw_uniforms(4, 0, 0, range(10)),
        draw_uniforms(3, 1, 0, range(10)),
        draw_uniforms(3, 0, 1, range(10)),
    ):
        assert not np.array_equal(base, other)


def test_invalid_epochs_and_indices() -> None:
    with pytest.raises(ValueError, match="Epoch must be a non-negative integer"):
        draw_uniforms(0, 0, -1, [0])
    with pytest.raises(ValueError, match="1-D integer array"):
        draw_uniforms(0, 0, 0, [0.5])
    with pytest.raises(ValueError, match="non-negative"):
        draw_uniforms(0, 0, 0, [-1])
