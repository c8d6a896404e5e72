"""Benchmark scripts (run as files, `python benchmarks/bench_x.py`, or as modules); shared helpers in bench_utils."""
