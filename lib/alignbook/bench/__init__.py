"""Benchmarks, run as modules (``python -m alignbook.bench.<name> --help``)."""
