"""The llmos benchmark suite: ``python -m bench.run [PART ...]`` (see BENCHMARKS.md)."""
