from __future__ import annotations

import careamics_dask.config as config_package


def test_all_sorted_and_importable() -> None:
    names = config_package.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(config_package, name) is not None


def test_public_names() -> None:
    expected = {
        "DataConfig",
        "Mode",
        "SupportedData",
        "create_data_configuration",
        "load_config",
        "save_config",
        "MeanStdConfig",
        "TiledPatchingConfig",
        "XYFlipConfig",
        "MaskPatchFilterConfig",
    }
    assert expected <= set(config_package.__all__)
    assert "MicroSplitDataConfig" in config_package.__all__
