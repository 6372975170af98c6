#!/usr/bin/env python3
"""The benchmark's old entry point, kept for `python bench/run.py [--report]`: the run itself
lives in the package bench/ (`python -m bench`, which scripts/bench.sh runs)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.__main__ import cli  # noqa: E402  (the repository's root first, for the package)

if __name__ == "__main__":
    sys.exit(cli())
