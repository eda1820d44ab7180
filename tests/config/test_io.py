from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from careamics_dask.config import (
    DataConfig,
    MicroSplitDataConfig,
    create_data_configuration,
    load_config,
    save_config,
)

if TYPE_CHECKING:
    from pathlib import Path

ConfigDict = Callable[..., dict[str, Any]]


def test_round_trip_default(tmp_path: Path) -> None:
    config = create_data_configuration(
        "tiff", "SCYX", (64, 64), 4, channels=[0, 2], seed=3
    )
    path = save_config(config, tmp_path / "config.yml")
    assert path == tmp_path / "config.yml"
    loaded = load_config(path)
    assert loaded == config
    assert loaded.augmentations[1].seed == config.augmentations[1].seed


@pytest.mark.parametrize(
    ("name", "set_input", "set_target"),
    [
        ("mean_std", "set_input_stats", "set_target_stats"),
        ("min_max", "set_input_range", "set_target_range"),
        ("quantile", "set_input_quantile_values", "set_target_quantile_values"),
    ],
)
def test_round_trip_statistics(
    tmp_path: Path, config_dict: ConfigDict, name: str, set_input: str, set_target: str
) -> None:
    config = DataConfig(**config_dict(axes="SCYX", normalization={"name": name}))
    rng = np.random.default_rng(0)
    low = rng.normal(size=2).astype(np.float32)
    getattr(config.normalization, set_input)(low, low + np.float32(0.1))
    getattr(config.normalization, set_target)([1 / 3, 2 / 3], [1.0, 7.0])
    loaded = load_config(save_config(config, tmp_path / "stats.yaml"))
    assert loaded == config
    assert not loaded.normalization.needs_computation()
    assert not loaded.normalization.target_needs_computation()


@pytest.mark.parametrize(
    "fields",
    [
        {"mode": "validating"},
        {"mode": "predicting", "patching": "tiled", "axes": "SZYX"},
        {
            "patching": "random",
            "target_axes": "CYX",
            "patch_filter": {"name": "mean_std", "mean_threshold": 1},
        },
        {"data_type": "czi", "axes": "SCTYX", "normalization": {"name": "none"}},
    ],
)
def test_round_trip_variants(
    tmp_path: Path, config_dict: ConfigDict, fields: dict[str, Any]
) -> None:
    config = DataConfig(**config_dict(**fields))
    assert load_config(save_config(config, tmp_path / "c.yml")) == config


def test_file_is_plain_yaml(tmp_path: Path, config_dict: ConfigDict) -> None:
    config = DataConfig(**config_dict(seed=12))
    path = save_config(config, str(tmp_path / "c.yml"))
    content = yaml.safe_load(path.read_text())
    assert content["mode"] == "training"
    assert content["seed"] == 12
    assert content["patching"] == {
        "name": "stratified",
        "patch_size": [32, 32],
        "seed": 42,
    }
    assert list(tmp_path.iterdir()) == [path]


def test_save_overwrites(tmp_path: Path, config_dict: ConfigDict) -> None:
    path = tmp_path / "c.yml"
    save_config(DataConfig(**config_dict(seed=1)), path)
    save_config(DataConfig(**config_dict(seed=2)), path)
    assert load_config(path).seed == 2


def test_save_missing_folder(tmp_path: Path, config_dict: ConfigDict) -> None:
    config = DataConfig(**config_dict())
    with pytest.raises(FileNotFoundError, match=r"does not exist\. Create it first\."):
        save_config(config, tmp_path / "missing" / "c.yml")


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No config file at"):
        load_config(tmp_path / "absent.yml")


def test_load_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(
        TypeError, match="must hold a mapping of DataConfig fields, got list"
    ):
        load_config(path)


def test_load_invalid_config(tmp_path: Path, config_dict: ConfigDict) -> None:
    fields = config_dict()
    fields["axes"] = "YZX"
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(fields))
    with pytest.raises(ValidationError, match="Invalid axes YZX"):
        load_config(path)


def test_microsplit_config_round_trips(tmp_path: Path) -> None:
    config = MicroSplitDataConfig(
        mode="training",
        data_type="array",
        axes="SCYX",
        patching={"name": "stratified", "patch_size": [32, 32]},
        normalization={"name": "mean_std"},
        multiscale_count=3,
        alpha_ranges=[(0.5, 1.5), (0.2, 0.8)],
        seed=3,
    )
    loaded = load_config(save_config(config, tmp_path / "ms.yml"))
    assert isinstance(loaded, MicroSplitDataConfig)
    assert loaded == config
    assert loaded.multiscale_count == 3
    plain = create_data_configuration("tiff", "YX", (32, 32), 4, seed=1)
    assert type(load_config(save_config(plain, tmp_path / "d.yml"))) is DataConfig


def test_a_saved_microsplit_config_loads_as_microsplit(tmp_path: Path) -> None:
    config = MicroSplitDataConfig(
        mode="training",
        data_type="array",
        axes="SCYX",
        patching={"name": "random", "patch_size": [16, 16], "seed": 1},
        normalization={"name": "none"},
        multiscale_count=3,
        alpha_ranges=[(0.2, 0.8), (0.1, 0.9)],
        uncorrelated_channel_prob=0.25,
    )
    loaded = load_config(save_config(config, tmp_path / "microsplit.yml"))
    assert type(loaded) is MicroSplitDataConfig
    assert loaded == config
    assert loaded.multiscale_count == 3
    assert loaded.uncorrelated_channel_prob == 0.25


def test_a_reference_microsplit_config_dump_loads_as_microsplit(
    tmp_path: Path,
) -> None:
    ref_data = pytest.importorskip("careamics.config.data")
    theirs = ref_data.MicroSplitDataConfig(
        mode="training",
        data_type="array",
        axes="SCYX",
        patching={"name": "stratified", "patch_size": [16, 16], "seed": 1},
        normalization={"name": "none"},
        multiscale_count=2,
        seed=5,
    )
    path = tmp_path / "reference.yml"
    path.write_text(yaml.safe_dump(theirs.model_dump(mode="json")), encoding="utf-8")
    loaded = load_config(path)
    assert type(loaded) is MicroSplitDataConfig
    assert loaded.multiscale_count == 2
    assert loaded.padding_mode == theirs.padding_mode
