"""Command-line sub-commands of this package."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's sub-commands (none yet)."""
    del sub
