from __future__ import annotations

import os
import platform
import random
import sys
from collections.abc import Callable
from typing import Any

import pytest

from careamics_dask.config import DataConfig, XYFlipConfig, XYRandomRotate90Config
from careamics_dask.config.defaults import (
    create_default_augmentations,
    create_mask_filter,
    default_in_memory,
    generate_random_seed,
    get_default_num_workers,
    is_cuda_available,
)

ConfigDict = Callable[..., dict[str, Any]]


class TestDefaultInMemory:
    @pytest.mark.parametrize("data_type", ["array", "tiff", "custom", None])
    def test_default_true(self, data_type: str | None) -> None:
        assert default_in_memory({"data_type": data_type}) is True

    @pytest.mark.parametrize("data_type", ["zarr", "czi"])
    def test_default_false(self, data_type: str) -> None:
        assert default_in_memory({"data_type": data_type}) is False

    def test_missing_data_type(self) -> None:
        assert default_in_memory({}) is True


class TestGetDefaultNumWorkers:
    def test_returns_0_in_pytest(self) -> None:
        assert get_default_num_workers() == 0

    @pytest.mark.parametrize(
        ("system", "cpus", "expected"),
        [
            ("Linux", 8, 4),
            ("Linux", 4, 3),
            ("Linux", 1, 0),
            ("Linux", None, 0),
            ("Windows", 16, 0),
            ("Darwin", 16, 0),
        ],
    )
    def test_returns_expected_per_platform(
        self,
        monkeypatch: pytest.MonkeyPatch,
        system: str,
        cpus: int | None,
        expected: int,
    ) -> None:
        monkeypatch.delitem(sys.modules, "pytest")
        monkeypatch.setattr(platform, "system", lambda: system)
        monkeypatch.setattr(os, "cpu_count", lambda: cpus)
        assert get_default_num_workers() == expected


class TestMaskFilterDefault:
    @pytest.mark.parametrize(
        ("data_type", "axes", "coverage"),
        [
            ("array", "YX", 0.25),
            ("array", "SCYX", 0.25),
            ("tiff", "ZYX", 0.125),
            ("czi", "SCYX", 0.25),
            ("czi", "SCZYX", 0.125),
            ("czi", "SCTYX", 0.125),
        ],
    )
    def test_training(
        self, config_dict: ConfigDict, data_type: str, axes: str, coverage: float
    ) -> None:
        mask = create_mask_filter(
            {"mode": "training", "data_type": data_type, "axes": axes}
        )
        assert mask is not None
        assert (mask.name, mask.coverage) == ("mask", coverage)
        config = DataConfig(**config_dict(data_type=data_type, axes=axes))
        assert config.mask_filter == mask

    @pytest.mark.parametrize("mode", ["validating", "predicting"])
    def test_other_modes(self, config_dict: ConfigDict, mode: str) -> None:
        assert (
            create_mask_filter({"mode": mode, "data_type": "array", "axes": "YX"})
            is None
        )
        assert DataConfig(**config_dict(mode=mode)).mask_filter is None


def test_default_augmentations_are_fresh() -> None:
    first, second = create_default_augmentations(), create_default_augmentations()
    assert [type(a) for a in first] == [XYFlipConfig, XYRandomRotate90Config]
    assert all(a.seed is None for a in first)
    assert first[0] is not second[0]


def test_generate_random_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    bounds: list[tuple[int, int]] = []

    def fake_randint(low: int, high: int) -> int:
        bounds.append((low, high))
        return 17

    monkeypatch.setattr(random, "randint", fake_randint)
    assert generate_random_seed() == 17
    assert bounds == [(1, 2**31 - 1)]


@pytest.mark.parametrize("cuda", [True, False])
def test_is_cuda_available(fake_torch: Callable[[bool], None], cuda: bool) -> None:
    fake_torch(cuda)
    assert is_cuda_available() is cuda


def test_is_cuda_available_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    assert is_cuda_available() is False
