from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

ConfigDict = Callable[..., dict[str, Any]]


def _default_patching(mode: str) -> str:
    return {"training": "stratified", "validating": "fixed_random"}.get(mode, "whole")


@pytest.fixture
def config_dict() -> ConfigDict:
    """Build the fields of a valid DataConfig, like the reference's test helper.

    Patching follows the mode (stratified, fixed_random, whole), the patch size the
    dimensionality of the axes, and normalization is mean_std unless given.
    """

    def build(
        mode: str = "training",
        data_type: str = "array",
        axes: str = "YX",
        patching: str | None = None,
        patch_size: list[int] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        name = patching or _default_patching(mode)
        depth = "Z" in axes or (data_type == "czi" and "T" in axes)
        size = patch_size or ([8, 32, 32] if depth else [32, 32])
        patching_dict: dict[str, Any] = {"name": name}
        if name in ("random", "fixed_random", "stratified"):
            patching_dict.update(patch_size=size, seed=42)
        elif name == "tiled":
            patching_dict.update(patch_size=size, overlaps=[2] * len(size))
        result: dict[str, Any] = {
            "mode": mode,
            "data_type": data_type,
            "axes": axes,
            "patching": patching_dict,
            "normalization": {"name": "mean_std"},
        }
        if data_type in ("zarr", "czi"):
            result["in_memory"] = False
        result.update(fields)
        return result

    return build


@pytest.fixture
def fake_torch() -> Iterator[Callable[[bool], None]]:
    """Install a stand-in ``torch`` module whose CUDA availability a test chooses."""
    previous = sys.modules.get("torch")

    def install(cuda: bool) -> None:
        module = types.ModuleType("torch")
        module.cuda = types.SimpleNamespace(is_available=lambda: cuda)  # type: ignore[attr-defined]
        sys.modules["torch"] = module

    yield install
    if previous is None:
        sys.modules.pop("torch", None)
    else:
        sys.modules["torch"] = previous
