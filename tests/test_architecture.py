"""The layout keeps its promises: rooms, arrows, sizes, and a README that says so."""

from __future__ import annotations

from tests.architecture import (
    ALLOWED,
    MAX_LINES,
    NOTE_LINES,
    PACKAGE,
    module_cycles,
    read_modules,
    readme_block,
    render,
    room_arrows,
)


def test_readme_architecture_block_is_drawn_from_the_code() -> None:
    assert readme_block() == render(), (
        "README.md's rooms table is stale: run `python -m tests.architecture --write`"
    )


def test_every_room_is_known() -> None:
    rooms = {m.room for m in read_modules().values()} - {"(package)"}
    assert rooms <= set(ALLOWED), f"rooms without rules: {rooms - set(ALLOWED)}"


def test_arrows_point_only_where_the_design_allows() -> None:
    modules = read_modules()
    wrong = sorted(
        f"{m.name} -> {imported}"
        for m in modules.values()
        if m.room != "(package)"
        for imported in m.imports
        if modules[imported].room not in ALLOWED[m.room] | {m.room}
    )
    assert wrong == []


def test_room_arrows_are_a_subset_of_the_rules() -> None:
    arrows = room_arrows(read_modules())
    for room, targets in arrows.items():
        assert targets <= ALLOWED[room], (room, targets - ALLOWED[room])


def test_no_import_circles_between_modules() -> None:
    assert module_cycles(read_modules()) == []


def test_nothing_imports_the_package_root() -> None:
    importers = sorted(m.name for m in read_modules().values() if PACKAGE in m.imports)
    assert importers == []


def test_no_private_module_imported_from_another_room() -> None:
    modules = read_modules()
    wrong = sorted(
        f"{m.name} -> {imported}"
        for m in modules.values()
        for imported in m.imports
        if imported.rsplit(".", 1)[-1].startswith("_")
        and modules[imported].room != m.room
    )
    assert wrong == []


def test_module_sizes() -> None:
    modules = read_modules().values()
    too_long = sorted((m.name, m.lines) for m in modules if m.lines > MAX_LINES)
    assert too_long == []
    unexplained = sorted(
        (m.name, m.lines)
        for m in modules
        if m.lines > NOTE_LINES and f"{NOTE_LINES} lines" not in m.docstring
    )
    assert unexplained == []
