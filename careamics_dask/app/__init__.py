"""The command line and the demo: the application built on the library.

Nothing in the library imports this room. Its modules: :mod:`~careamics_dask.app.cli`
(the ``careamics-dask`` command), :mod:`~careamics_dask.app.runfile` (the run file
model), :mod:`~careamics_dask.app.run_datasets` (datasets of a run file),
:mod:`~careamics_dask.app.predict_run` (the ``predict`` verb's run file),
:mod:`~careamics_dask.app.export` (an epoch written to Zarr),
:mod:`~careamics_dask.app.reports` (progress bars and throughput lines), and the
demo: :mod:`~careamics_dask.app.demo` (synthetic data),
:mod:`~careamics_dask.app.demo_render`, :mod:`~careamics_dask.app.demo_store`,
:mod:`~careamics_dask.app.demo_run` and :mod:`~careamics_dask.app.figures`.
"""

from __future__ import annotations

from careamics_dask.app.demo import synthetic_image, write_demo_data
from careamics_dask.app.export import export_epoch

__all__ = ["export_epoch", "synthetic_image", "write_demo_data"]
