"""``python -m benchmarks``: run the benchmarks and write ``BENCHMARKS.md``."""

from benchmarks.run_all import main

main()
