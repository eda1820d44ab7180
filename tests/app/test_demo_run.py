"""The demo's main job: its config, and a quick run end to end on a real cluster."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from rich.console import Console

from careamics_dask.app.demo_render import DemoStoreSpec
from careamics_dask.app.demo_run import demo_config, run_demo

if TYPE_CHECKING:
    from pathlib import Path


def test_demo_config_follows_the_store() -> None:
    spec = DemoStoreSpec.quick()
    config = demo_config(spec, patch=32)
    assert config.patching.name == "stratified"
    assert list(config.patching.patch_size) == [32, 32]
    assert config.patch_filter is not None
    assert config.patch_filter.threshold == spec.threshold  # type: ignore[union-attr]
    assert config.normalization.name == "mean_std"
    assert (config.batch_size, config.seed, config.axes) == (32, 42, "SCYX")


def test_quick_run_streams_an_epoch_and_writes_the_figure(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    console = Console(record=True, force_terminal=False, width=120)
    result = run_demo(
        console, cache_dir=tmp_path / "cache", out=out, quick=True, n_workers=1
    )
    assert result.figure == out
    header = out.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert width > 0
    assert height > 0
    assert result.store.is_relative_to(tmp_path / "cache")
    batches = -(-result.n_train // 32)
    assert result.report.batches == batches
    assert result.report.patches == result.n_train
    assert result.n_val > 0
    text = console.export_text()
    assert "throughput (1 workers)" in text
    assert f"figure: {out}" in text
