from __future__ import annotations

import numpy as np
import pytest

from careamics_dask.app.demo_render import (
    DemoStoreSpec,
    build_demo_image,
    render_demo_block,
)

SMALL = DemoStoreSpec(n_samples=2, n_channels=3, size=96, chunk=32, seed=5)


def test_default_spec_is_one_gibibyte() -> None:
    spec = DemoStoreSpec()
    assert spec.nbytes == 2**30
    assert spec.shape == (16, 2, 4096, 4096)


def test_blocks_do_not_depend_on_the_computation() -> None:
    image = build_demo_image(SMALL)
    first = image.compute(scheduler="threads")
    again = build_demo_image(SMALL)[1, 2, 32:64].compute(scheduler="sync")
    np.testing.assert_array_equal(first[1, 2, 32:64], again)
    assert first.dtype == np.uint16
    # nuclei are bright, the background stays near its mean
    nuclei = first[:, 0]
    assert nuclei.max() > SMALL.threshold
    assert np.median(nuclei) < SMALL.background + 50


def test_render_needs_a_location() -> None:
    with pytest.raises(ValueError, match="block_info"):
        render_demo_block(SMALL)
    with pytest.raises(ValueError, match="chunks of 1"):
        render_demo_block(
            SMALL, {None: {"array-location": [(0, 2), (0, 1), (0, 8), (0, 8)]}}
        )
