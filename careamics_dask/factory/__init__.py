"""The reference factory API: datasets and create_* functions built on Dask."""
