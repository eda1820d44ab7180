"""Throughput lines, progress over a stream, and where batches are built."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from careamics_dask.app.reports import (
    StreamReport,
    describe_client,
    human_bytes,
    status,
    stream_with_progress,
)
from careamics_dask.factory import Batch
from careamics_dask.patching import PatchTable


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [
        (0, "0.0 B"),
        (1023, "1023.0 B"),
        (1536, "1.5 KiB"),
        (3 * 2**20, "3.0 MiB"),
        (2**40, "1.0 TiB"),
    ],
)
def test_human_bytes(nbytes: int, text: str) -> None:
    assert human_bytes(nbytes) == text


def test_report_line_rates() -> None:
    line = StreamReport(batches=10, patches=320, nbytes=10 * 2**20, seconds=2.0).line()
    assert line.startswith("160 patches/s, 5.0 batches/s, 5.0 MiB/s")
    assert "(320 patches in 10 batches, 10.0 MiB, 2.0 s)" in line


def _batch(index: int, n: int, target: bool) -> Batch:
    data = np.zeros((n, 1, 8, 8), np.float32)
    table = PatchTable.from_columns(
        data_idx=np.zeros(n, np.int64),
        sample_idx=np.zeros(n, np.int64),
        coords=np.zeros((n, 2), np.int64),
        patch_size=[8, 8],
    )
    return Batch(
        input=data,
        target=data.copy() if target else None,
        specs=table,
        indices=np.arange(n, dtype=np.int64),
        epoch=0,
        index=index,
    )


class _Stream:
    def __init__(self, batches: list[Batch]) -> None:
        self.batches = batches
        self.closed = False

    def __iter__(self) -> _Stream:
        self._it = iter(self.batches)
        return self

    def __next__(self) -> Batch:
        return next(self._it)

    def close(self) -> None:
        self.closed = True


def test_stream_with_progress_counts_and_closes_early() -> None:
    stream = _Stream([_batch(i, 4, target=True) for i in range(5)])
    kept: list[Batch] = []
    console = Console(file=None, force_terminal=False, quiet=True)
    report = stream_with_progress(stream, 3, console, keep=kept.append)
    assert (report.batches, report.patches) == (3, 12)
    assert report.nbytes == 3 * 2 * 4 * 8 * 8 * 4
    assert [b.index for b in kept] == [0]
    assert stream.closed


def test_stream_shorter_than_total() -> None:
    stream = _Stream([_batch(0, 2, target=False)])
    console = Console(quiet=True)
    report = stream_with_progress(stream, 10, console)
    assert (report.batches, report.patches) == (1, 2)


def test_status_prints_the_message_off_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console = Console(force_terminal=False)
    with status(console, "computing statistics"):
        pass
    assert "computing statistics ..." in capsys.readouterr().out


def test_describe_client_without_a_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    describe_client(None, Console(force_terminal=False))
    assert "cluster: none (batches built on local threads)" in capsys.readouterr().out
