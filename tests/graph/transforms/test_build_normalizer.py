"""Tests of building a normalizer from a scheme name and plain statistics."""

from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.graph.transforms import Normalizer, build_normalizer


def test_ranges_are_stored_as_float32_spans() -> None:
    norm = build_normalizer("min_max", [0.1], [0.7], [1.0], [3.0])
    assert norm.input_loc == (float(np.float32(0.1)),)
    assert norm.input_scale == (float(np.float32(0.7) - np.float32(0.1)),)
    assert (norm.target_loc, norm.target_scale) == ((1.0,), (2.0,))


def test_mean_std_keeps_the_standard_deviation() -> None:
    norm = build_normalizer("mean_std", [2.0, 3.0], [4.0, 5.0])
    assert norm == Normalizer(
        name="mean_std", input_loc=(2.0, 3.0), input_scale=(4.0, 5.0)
    )


def test_skip_target_drops_target_statistics() -> None:
    norm = build_normalizer("quantile", [0.0], [1.0], [5.0], [6.0], skip_target=True)
    assert norm.skip_target
    assert norm.target_loc is None
    assert norm.target_scale is None


def test_none_needs_no_statistics() -> None:
    assert build_normalizer("none") == Normalizer(name="none")


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("mean_std", "Mean and standard deviation values"),
        ("min_max", "Min and max values"),
        ("quantile", "Quantile values"),
    ],
)
def test_missing_input_statistics_are_refused(name: str, missing: str) -> None:
    with pytest.raises(ValueError, match=f"^{missing} must be computed before"):
        build_normalizer(name, [1.0], None)


def test_unknown_scheme_and_channel_counts() -> None:
    with pytest.raises(ValueError, match=r"^Unknown normalization strategy: zscore$"):
        build_normalizer("zscore", [1.0], [1.0])
    with pytest.raises(ValueError, match=r"input_means \(2\) and number of channels"):
        build_normalizer("mean_std", [1.0, 2.0], [1.0, 1.0], n_input_channels=3)
