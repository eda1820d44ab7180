"""README "Coming from CAREamics": every reference import maps to names that exist.

Each table row names a reference module, the module here and the names both hold.
Here every name must exist; with the reference installed (``.venv-ref``), every
name must exist in the reference module too, and the rows together with the
README's "Not here" list must cover the reference modules' ``__all__``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _between(start: str, end: str) -> str:
    match = re.search(f"<!-- {start}.*?-->(.*?)<!-- {end} -->", README, re.DOTALL)
    assert match is not None, f"README lost its {start!r} block"
    return match.group(1)


def _rows() -> list[tuple[str, str, list[str]]]:
    rows = []
    for line in _between(
        "coming-from-careamics", "/coming-from-careamics"
    ).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`careamics."):
            continue
        names = re.findall(r"`([A-Za-z_][A-Za-z_0-9]*)`", cells[2])
        rows.append((cells[0].strip("`"), cells[1].strip("`"), names))
    return rows


ROWS = _rows()
NOT_HERE = re.findall(r"`([A-Za-z]+)`", _between("no-twin", "/no-twin"))


def test_the_table_has_the_rows_a_user_needs() -> None:
    references = {reference for reference, _, _ in ROWS}
    for module in (
        "careamics.dataset.factory",
        "careamics.dataset.patching",
        "careamics.dataset.normalization",
        "careamics.dataset.augmentation",
        "careamics.models.constraints",
        "careamics.config.data",
    ):
        assert module in references
    assert all(names for _, _, names in ROWS)


@pytest.mark.parametrize(("reference", "ours", "names"), ROWS)
def test_every_name_exists_here(reference: str, ours: str, names: list[str]) -> None:
    module = importlib.import_module(ours)
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{ours} lacks {missing} (README row for {reference})"


@pytest.mark.parametrize(("reference", "ours", "names"), ROWS)
def test_every_name_exists_in_the_reference(
    reference: str, ours: str, names: list[str]
) -> None:
    module = pytest.importorskip(reference)
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{reference} has no {missing}"


def test_the_rows_cover_the_reference_public_names() -> None:
    pytest.importorskip("careamics")
    listed: dict[str, set[str]] = {}
    for reference, _, names in ROWS:
        listed.setdefault(reference, set()).update(names)
    for reference, covered in listed.items():
        public = set(getattr(importlib.import_module(reference), "__all__", ()))
        uncovered = public - covered - set(NOT_HERE)
        assert not uncovered, f"README table misses {sorted(uncovered)} of {reference}"
