"""Every code block of README.md runs, in order, in a temporary folder, as a user would.

Unmarked blocks run: ``python`` blocks through ``exec`` in one namespace shared by all
of them (later blocks use earlier names); ``bash`` / ``sh`` / ``shell`` / ``console``
blocks line by line, each line a ``careamics-dask ...`` command run through the
installed entry point in a subprocess (any other command fails the test: mark its
block); ``yaml`` blocks must parse. Fences without a language (diagrams) and other
languages are text. A failing block fails the test with its README line.

An HTML comment on the line just before a fence (blank lines between are allowed)
changes what happens to the block:

- ``<!-- readme-test: skip (reason) -->``: shown, not run; say why in the brackets.
- ``<!-- readme-test: requires MODULE [MODULE ...] -->``: run only where every named
  module imports, else skipped (e.g. ``careamics``, which the reference environment
  ``.ci/reference_env.sh`` has).
- ``<!-- readme-test: file NAME -->``: written to ``NAME`` in the folder (a run file
  the next blocks use), not run.

Python blocks run as a user would see them: other packages' warnings are shown
(printed with ``-rA``), a warning of this package fails the test. The demo's cache goes to the temporary folder (``XDG_CACHE_HOME``) and matplotlib
draws off-screen (``MPLBACKEND=Agg``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from careamics_dask.errors import CareamicsDaskWarning

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PACKAGE = ROOT / "careamics_dask"

_FENCE = re.compile(r"^```([\w+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->$")
_SHELL = frozenset({"bash", "sh", "shell", "console"})
_PYTHON = frozenset({"python", "py"})
_YAML = frozenset({"yaml", "yml"})


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown text."""

    language: str
    code: str
    line: int
    """The README line of the block's first code line (1-based)."""
    marker: str | None = None
    """``skip``, ``requires`` or ``file``."""
    argument: str = ""


def _marker(lines: list[str], fence: int) -> tuple[str | None, str]:
    """Return the readme-test marker just before the fence at index ``fence``."""
    before = fence - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    if before < 0:
        return None, ""
    match = _MARKER.match(lines[before].strip())
    if match is None:
        return None, ""
    verb, _, argument = match.group(1).partition(" ")
    argument = argument.strip()
    if verb not in ("skip", "requires", "file"):
        raise ValueError(
            f"README line {before + 1}: unknown readme-test marker {verb!r}: expected "
            "skip (reason), requires MODULE or file NAME"
        )
    if verb in ("requires", "file") and not argument:
        raise ValueError(
            f"README line {before + 1}: the readme-test marker {verb!r} needs "
            "an argument (a module name, or a file name)"
        )
    if verb == "skip" and not (argument.startswith("(") and argument.endswith(")")):
        raise ValueError(
            f"README line {before + 1}: a skip marker needs its reason in brackets: "
            "<!-- readme-test: skip (why it cannot run here) -->"
        )
    return verb, argument


def parse_blocks(text: str) -> list[Block]:
    """Return the fenced code blocks of ``text`` with their markers, in order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"README line {index + 1}: a code fence is never closed")
        marker, argument = _marker(lines, index)
        code = "\n".join(lines[index + 1 : end]) + "\n"
        blocks.append(Block(fence.group(1).lower(), code, index + 2, marker, argument))
        index = end + 1
    return blocks


def entry_point() -> list[str]:
    """The installed ``careamics-dask`` command (else ``python -m careamics_dask``)."""
    script = Path(sys.executable).parent / "careamics-dask"
    return (
        [str(script)] if script.is_file() else [sys.executable, "-m", "careamics_dask"]
    )


def user_environment(folder: Path) -> dict[str, str]:
    """The environment of the README's commands: this checkout, caches in ``folder``."""
    env = dict(os.environ)
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    env["XDG_CACHE_HOME"] = str(folder / "cache")
    env["MPLBACKEND"] = "Agg"
    env["COLUMNS"] = "100"
    return env


class Walkthrough:
    """Run blocks one after another in ``folder``, as a user would."""

    def __init__(self, folder: Path, source: Path = README) -> None:
        self.folder = folder
        self.source = source
        self.namespace: dict[str, Any] = {"__name__": "__readme__"}
        self.env = user_environment(folder)
        self.ran: list[Block] = []
        self.skipped: list[tuple[Block, str]] = []
        self.warnings: list[str] = []
        """Warnings of other packages the Python blocks raised (a user sees them)."""

    def run(self, block: Block) -> None:
        """Run, write or skip one block; fail naming its README line."""
        if block.marker == "skip":
            self.skipped.append((block, block.argument))
            return
        if block.marker == "requires":
            missing = [
                m for m in block.argument.split() if importlib.util.find_spec(m) is None
            ]
            if missing:
                self.skipped.append((block, f"requires {' '.join(missing)}"))
                return
        if block.marker == "file":
            (self.folder / block.argument).write_text(block.code, encoding="utf-8")
            self.ran.append(block)
            return
        if block.language in _PYTHON:
            self._run_python(block)
        elif block.language in _SHELL:
            self._run_shell(block)
        elif block.language in _YAML:
            yaml.safe_load(block.code)
        else:
            return
        self.ran.append(block)

    def _run_python(self, block: Block) -> None:
        """Exec the block; third-party warnings are shown, this package's fail."""
        code = "\n" * (block.line - 1) + block.code
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exec(compile(code, str(self.source), "exec"), self.namespace)
        ours = [
            w
            for w in caught
            if issubclass(w.category, CareamicsDaskWarning)
            or Path(w.filename).is_relative_to(PACKAGE)
        ]
        if ours:
            raise AssertionError(
                f"{self.source.name} block at line {block.line} warns: "
                + "; ".join(f"{w.category.__name__}: {w.message}" for w in ours)
            )
        self.warnings.extend(f"{w.category.__name__}: {w.message}" for w in caught)

    def _run_shell(self, block: Block) -> None:
        for offset, line in enumerate(block.code.splitlines()):
            words = shlex.split(line, comments=True)
            if not words:
                continue
            where = f"{self.source.name} line {block.line + offset}"
            if words[0] != "careamics-dask":
                raise AssertionError(
                    f"{where}: {line.strip()!r} is not a careamics-dask command, "
                    "which is all the README test runs. Mark the block "
                    "<!-- readme-test: skip (reason) --> or make it a careamics-dask "
                    "line."
                )
            result = subprocess.run(
                [*entry_point(), *words[1:]],
                cwd=self.folder,
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            if result.returncode != 0:
                raise AssertionError(
                    f"{where}: {line.strip()!r} exited with {result.returncode}:\n"
                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
                )

    def close(self) -> None:
        """Close what the Python blocks left open (figures, clients)."""
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
        if "distributed" in sys.modules:
            client_type = sys.modules["distributed"].Client
            for value in self.namespace.values():
                if isinstance(value, client_type) and value.status != "closed":
                    value.close()


def walk(text: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Walkthrough:
    """Run every block of ``text`` in ``folder``, in order."""
    walkthrough = Walkthrough(folder)
    monkeypatch.chdir(folder)
    for name in ("XDG_CACHE_HOME", "MPLBACKEND"):
        monkeypatch.setenv(name, walkthrough.env[name])
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    try:
        for block in parse_blocks(text):
            walkthrough.run(block)
    finally:
        walkthrough.close()
    return walkthrough


@pytest.mark.slow
@pytest.mark.distributed
def test_every_readme_block_runs_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    walkthrough = walk(README.read_text(encoding="utf-8"), tmp_path, monkeypatch)
    for block, why in walkthrough.skipped:
        print(f"README line {block.line}: skipped, {why}")  # shown with -rA
    for warning in walkthrough.warnings:
        print(f"README warning: {warning}")
    languages = {block.language for block in walkthrough.ran}
    assert {"python", "bash", "yaml"} <= languages
    assert (tmp_path / "run.yaml").is_file()
    assert (tmp_path / "pred.zarr").is_dir()
    assert (tmp_path / "epoch.zarr").is_dir()


MARKED = """\
# title

<!-- readme-test: skip (needs a server) -->
```bash
pip install something
```

<!-- readme-test: requires no_such_module_for_the_readme_test -->

```python
raise SystemExit("must not run")
```

<!-- readme-test: file run.yaml -->
```yaml
data: {inputs: a.zarr}
```

```
a diagram, not code
```

```python
answer = 6 * 7
```
"""


def test_markers_skip_require_and_write_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = parse_blocks(MARKED)
    assert [(b.language, b.marker, b.line) for b in blocks] == [
        ("bash", "skip", 5),
        ("python", "requires", 11),
        ("yaml", "file", 16),
        ("", None, 20),
        ("python", None, 24),
    ]
    walkthrough = walk(MARKED, tmp_path, monkeypatch)
    assert walkthrough.namespace["answer"] == 42
    assert (tmp_path / "run.yaml").read_text() == "data: {inputs: a.zarr}\n"
    assert [why for _, why in walkthrough.skipped] == [
        "(needs a server)",
        "requires no_such_module_for_the_readme_test",
    ]


@pytest.mark.parametrize(
    ("marker", "match"),
    [
        ("skp (typo)", "unknown readme-test marker 'skp'"),
        ("skip no brackets", "reason in brackets"),
        ("requires", "needs an argument"),
    ],
)
def test_bad_markers_are_refused(marker: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_blocks(f"<!-- readme-test: {marker} -->\n```python\npass\n```\n")


def test_an_unclosed_fence_is_refused() -> None:
    with pytest.raises(ValueError, match="line 2: a code fence is never closed"):
        parse_blocks("text\n```python\npass\n")


def test_a_shell_line_that_is_not_the_cli_fails_without_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "```bash\ncareamics-dask --version\ntouch made-by-readme\n```\n"
    with pytest.raises(AssertionError, match=r"line 3: 'touch made-by-readme' is not"):
        walk(text, tmp_path, monkeypatch)
    assert not (tmp_path / "made-by-readme").exists()


def test_a_failing_command_fails_naming_its_readme_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "intro\n\n```bash\ncareamics-dask inspect missing.zarr  # drifted\n```\n"
    with pytest.raises(AssertionError, match=r"line 4: .* exited with 2") as caught:
        walk(text, tmp_path, monkeypatch)
    assert "missing.zarr" in str(caught.value)


def test_a_warning_of_this_package_fails_others_are_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = "```python\nimport warnings\nwarnings.warn('theirs', UserWarning)\n```\n"
    assert walk(shown, tmp_path, monkeypatch).warnings == ["UserWarning: theirs"]
    ours = (
        "```python\nimport warnings\nfrom careamics_dask.errors import "
        "CareamicsDaskWarning\nwarnings.warn('ours', CareamicsDaskWarning)\n```\n"
    )
    with pytest.raises(
        AssertionError, match="line 2 warns: CareamicsDaskWarning: ours"
    ):
        walk(ours, tmp_path, monkeypatch)


def test_a_failing_python_block_points_at_the_readme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "intro\n```python\nx = 1\nundefined_name\n```\n"
    with pytest.raises(NameError) as caught:
        walk(text, tmp_path, monkeypatch)
    frame = caught.traceback[-1]
    assert Path(frame.path) == README
    assert frame.lineno + 1 == 4
