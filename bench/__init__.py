"""Benchmarks (``python main.py bench NAME``): each module has ``run(settings)``."""
