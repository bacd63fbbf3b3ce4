"""Evaluation protocols shared by `citywatch eval` and the benchmarks (issue 3)."""
