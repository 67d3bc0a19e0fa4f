"""Logging set-up: one readable line per event, on stderr."""

from __future__ import annotations

import logging


def configure(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
