"""Benchmarks of Kiro Stack: `python -m bench` (see bench/__main__.py)."""
