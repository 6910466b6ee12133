"""Benchmarks (not tests): run with `make bench` or `python -m bench.feed_bench`."""
