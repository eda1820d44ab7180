"""Benchmarks of careamics_dask; ``python -m benchmarks`` runs them all."""
