from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pytest

from careamics_dask.loaders.open import open_image, resolve_loader
from careamics_dask.loaders.registry import (
    BUILTIN_LOADERS,
    get_loader,
    guess_loader,
    list_loaders,
    refresh_loaders,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Install a real third-party loader: a module plus dist-info entry points."""
    (tmp_path / "npyplugin.py").write_text(
        textwrap.dedent(
            """
            from __future__ import annotations
            import numpy as np
            from careamics_dask.loaders import Loader, build_image_stack

            class NpyLoader(Loader):
                name = "npy"
                description = "NumPy .npy files"
                extensions = (".npy",)

                def open(self, source, axes, *, in_memory=False, **kwargs):
                    data = np.load(source, mmap_mode="r")
                    return [build_image_stack(np.asarray(data), axes, source=str(source))]
            """
        )
    )
    dist = tmp_path / "npyplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: npyplugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[careamics_dask.loaders]\nnpy = npyplugin:NpyLoader\narray = npyplugin:NpyLoader\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    refresh_loaders()
    yield
    refresh_loaders()
    sys.modules.pop("npyplugin", None)


def test_builtins_listed() -> None:
    assert set(BUILTIN_LOADERS) <= set(list_loaders())


def test_entry_point_plugin_is_found_and_used(
    plugin_on_path: None, tmp_path: Path
) -> None:
    loaders = list_loaders()
    assert loaders["npy"] == "npyplugin:NpyLoader"
    # a plugin cannot take a built-in name
    assert loaders["array"] == BUILTIN_LOADERS["array"]
    path = tmp_path / "image.npy"
    np.save(path, np.arange(16, dtype="uint8").reshape(4, 4))
    assert guess_loader(str(path)) == "npy"
    stack = open_image(str(path), "YX", "npy")
    assert stack.shape == (1, 1, 4, 4)
    assert int(stack.values.sum()) == 120


def test_unknown_loader_lists_choices() -> None:
    with pytest.raises(
        ValueError, match=r"Unknown loader 'nope': expected one of \['array'"
    ):
        get_loader("nope")


def test_guess_fails_clearly() -> None:
    with pytest.raises(ValueError, match="No loader recognises the source"):
        guess_loader(object())


def test_custom_without_loading() -> None:
    with pytest.raises(
        ValueError,
        match="a custom read function or a custom image stack loader must be provided",
    ):
        resolve_loader("custom")


def test_loader_with_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    from careamics_dask.errors import MissingDependencyError
    from careamics_dask.loaders import registry

    monkeypatch.setitem(
        registry.BUILTIN_LOADERS, "bioimage", "not_installed_mod:Loader"
    )
    refresh_loaders()
    try:
        with pytest.raises(
            MissingDependencyError, match=r"pip install 'careamics-dask\[bioio\]'"
        ):
            get_loader("bioimage")
    finally:
        monkeypatch.undo()
        refresh_loaders()
