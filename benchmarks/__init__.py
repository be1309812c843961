"""Benchmarks of the answering service: `qa bench` (or `make bench`) runs them all."""
