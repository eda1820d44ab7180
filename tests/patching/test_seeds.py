from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.patching.seeds import (
    VALIDATION_SPLIT_KEY,
    epoch_rng,
    resolve_seed,
)


def test_resolve_seed() -> None:
    assert resolve_seed(7) == 7
    assert resolve_seed(np.int64(7)) == 7
    drawn = {resolve_seed(None) for _ in range(3)}
    assert len(drawn) == 3
    with pytest.raises(ValueError, match="must not be negative"):
        resolve_seed(-1)
    with pytest.raises(TypeError, match="integer or None"):
        resolve_seed(True)
    with pytest.raises(TypeError, match="integer or None"):
        resolve_seed(1.5)  # type: ignore[arg-type]


def test_epoch_rng_depends_only_on_seed_key_epoch() -> None:
    first = epoch_rng(3, 7).random(4)
    for epoch in range(7):  # building other epochs changes nothing
        epoch_rng(3, epoch).random(100)
    assert np.array_equal(epoch_rng(3, 7).random(4), first)
    assert not np.array_equal(epoch_rng(3, 6).random(4), first)
    assert not np.array_equal(epoch_rng(4, 7).random(4), first)
    assert not np.array_equal(epoch_rng(3, 7, VALIDATION_SPLIT_KEY).random(4), first)
    with pytest.raises(ValueError, match="Epoch must not be negative"):
        epoch_rng(3, -1)


def test_epoch_rng_is_a_seed_sequence_child() -> None:
    sequence = np.random.SeedSequence(5, spawn_key=(0x7461626C, 2))
    expected = np.random.default_rng(sequence).integers(1 << 30, size=3)
    assert np.array_equal(epoch_rng(5, 2).integers(1 << 30, size=3), expected)
