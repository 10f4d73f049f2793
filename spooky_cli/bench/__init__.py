"""Benchmarks of the spooky core (the C kernels of native/bench.c and the Python API).

See :mod:`spooky_cli.bench.micro` for the runners and ``benchmarks/core.py`` for the
script that prints them.
"""
