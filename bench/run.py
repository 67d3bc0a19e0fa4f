"""Run the benchmark suite: `.venv/bin/python bench/run.py --help` (see bench/README.md)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: import bench and hub

from bench.suite import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
