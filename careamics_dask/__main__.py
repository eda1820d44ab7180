"""Run the command line with ``python -m careamics_dask``."""

from __future__ import annotations

from careamics_dask.app.cli import main

if __name__ == "__main__":
    main()
