"""The resolutions of the rollups (tiers) and how long each is kept: `HUB_HISTORY_ROLLUP_RETENTION`.

A tier summarizes each id's data in buckets of its width, aligned to whole multiples of it since the Unix
epoch. The default tiers, 1 s, 1 min, 15 min, 1 h and 1 d, keep every width a chart asks for within a few
rows per bucket: a 1,000-bucket chart of an hour reads 1 s rows (5 s buckets), of a day 1 min rows (2 min
buckets), of a week 15 min rows and of a month 1 h rows (docs/history.md shows the measurements). The 1 min
tier also bounds where a time range lies in the raw log (`seq` bounds), so it is kept at least as long as
raw records are.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from hub.errors import ConfigurationError

SECOND_US = 1_000_000
UNITS_US = {"s": SECOND_US, "m": 60 * SECOND_US, "h": 3600 * SECOND_US, "d": 86_400 * SECOND_US}
DEFAULT = "1s=7d,1m=forever,15m=forever,1h=forever,1d=forever"
"""About 50 MB per sensor and year besides the raw log, plus 60 MB per 10 Hz sensor for the last week of
1 s rows (docs/history.md)."""
BOUNDS_TIER = "1m"
"""The tier whose buckets bound a time range in the raw log: it must exist and outlive the raw records."""
_ENTRY = re.compile(r"([0-9]{1,6})([smhd])=(forever|([0-9]{1,6})([smhd]))")


@dataclass(frozen=True, slots=True)
class Tier:
    """Rollups of `width_us`, kept for `retention_us` after their bucket ends (None: forever)."""

    name: str
    width_us: int
    retention_us: int | None

    @property
    def table(self) -> str:
        return f"rollup_{self.name}"


def parse(text: str, raw_retention_s: float | None = None) -> tuple[Tier, ...]:
    """The tiers of a `HUB_HISTORY_ROLLUP_RETENTION` value, finest first, or a ConfigurationError naming the
    setting and the entry at fault."""
    tiers: dict[int, Tier] = {}
    for entry in (part.strip() for part in text.split(",")):
        match = _ENTRY.fullmatch(entry)
        if match is None:
            raise ConfigurationError(
                f"HUB_HISTORY_ROLLUP_RETENTION: {entry!r} is not WIDTH=PERIOD, e.g. 1s=7d or 1h=forever "
                "(whole numbers of s, m, h or d)"
            )
        width = int(match[1]) * UNITS_US[match[2]]
        if width <= 0 or width in tiers:
            raise ConfigurationError(f"HUB_HISTORY_ROLLUP_RETENTION: {entry!r}: a width above 0, once")
        retention = None if match[3] == "forever" else int(match[4]) * UNITS_US[match[5]]
        tiers[width] = Tier(f"{match[1]}{match[2]}", width, retention)
    ordered = tuple(tiers[width] for width in sorted(tiers))
    for finer, coarser in itertools.pairwise(ordered):
        if coarser.width_us % finer.width_us:
            raise ConfigurationError(
                f"HUB_HISTORY_ROLLUP_RETENTION: {coarser.name} is not a whole number of {finer.name}: "
                "each width must be a multiple of the finer ones"
            )
    bounds = next((tier for tier in ordered if tier.name == BOUNDS_TIER), None)
    if bounds is None:
        raise ConfigurationError(
            f"HUB_HISTORY_ROLLUP_RETENTION: needs a {BOUNDS_TIER} tier (it locates time ranges in the log)"
        )
    if bounds.retention_us is not None and (
        raw_retention_s is None or raw_retention_s * SECOND_US > bounds.retention_us
    ):
        raise ConfigurationError(
            f"HUB_HISTORY_ROLLUP_RETENTION: the {BOUNDS_TIER} tier must be kept at least as long as raw "
            f"records (HUB_HISTORY_RETENTION_S={raw_retention_s}); keep it longer or forever"
        )
    return ordered


def default() -> tuple[Tier, ...]:
    return parse(DEFAULT)


def bounds_tier(tiers: tuple[Tier, ...]) -> Tier:
    return next(tier for tier in tiers if tier.name == BOUNDS_TIER)
