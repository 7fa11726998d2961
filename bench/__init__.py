"""Benchmarks at Stockholm scale (issue 9): `python -m bench.run` writes bench/RESULTS.md."""
