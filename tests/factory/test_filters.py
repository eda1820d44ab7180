"""Tests of patch-filter configs to plain background filters."""

from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.config import (
    MaskPatchFilterConfig,
    MaxPatchFilterConfig,
    MeanStdPatchFilterConfig,
    ShannonPatchFilterConfig,
)
from careamics_dask.factory.filters import (
    apply_background_filter,
    build_background,
    compute_background,
    create_background_filter,
    create_patch_filter,
)
from careamics_dask.graph import filters
from careamics_dask.patching import StratifiedPatching


def test_configs_become_plain_filters() -> None:
    plain = create_background_filter(
        MaxPatchFilterConfig(threshold=2.0, ref_channel=1, filtered_patch_prob=0.3)
    )
    assert plain == filters.BackgroundFilter(
        rule=filters.MaxPatchFilter(2.0, 0.25), ref_channel=1, filtered_patch_prob=0.3
    )
    assert create_patch_filter(ShannonPatchFilterConfig(threshold=1.5)) == (
        filters.ShannonPatchFilter(1.5)
    )
    assert create_patch_filter(MeanStdPatchFilterConfig(mean_threshold=1.0)) == (
        filters.MeanStdPatchFilter(1.0, None)
    )
    with pytest.raises(ValueError, match="Unknown filter name"):
        create_background_filter("mask")  # type: ignore[arg-type]


def test_config_entries_equal_the_plain_graph_functions() -> None:
    mask = np.zeros((1, 1, 16, 16), bool)
    mask[..., :8, :8] = True
    config = MaskPatchFilterConfig(coverage=0.5, filtered_patch_prob=0.2)
    plain = create_background_filter(config)
    (lazy,) = build_background([mask], config, [4, 4])
    (expected,) = filters.compute_background([mask], plain, [4, 4])
    np.testing.assert_array_equal(lazy.compute(), expected)
    np.testing.assert_array_equal(
        compute_background([mask], config, [4, 4])[0], expected
    )
    ours = StratifiedPatching([mask.shape], [4, 4], seed=0)
    theirs = StratifiedPatching([mask.shape], [4, 4], seed=0)
    assert apply_background_filter(ours, [mask], config) == (
        filters.apply_background_filter(theirs, [mask], plain)
    )
    assert ours.table(0) == theirs.table(0)
