"""The `simulation:` knobs of a telemetry type: how the simulator produces its values.

Validated once, when the simulator is built: a bad knob stops start-up with a ConfigurationError naming the
file, the entry (index and id), the field and the problem, like the template loader's own errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.errors import ConfigurationError
from hub.templates import NUMERIC, TelemetryType
from simulators.spacecraft import QUANTITIES, Quantity

NUMERIC_KNOBS = frozenset(
    {"center", "amplitude", "period_s", "noise", "count_per_s", "decimals"}
    | {"excursion_every_s", "excursion_s", "excursion_offset"}
)

FREE_RUNNING_KNOBS = frozenset({"center", "count_per_s", "change_every_s", "texts"})


class Knobs(BaseModel):
    """One telemetry type's knobs; all optional, so a type without `simulation:` still gets plausible values.

    follows: the spacecraft quantity reported (absent: a free-running profile). center: free-running numbers'
    mean (default: the middle of min..max). amplitude/period_s: a slow sine added to numbers. noise: standard
    deviation of gaussian noise. count_per_s: free-running numbers count up at this rate. change_every_s:
    free-running bool/enum/string mean time per state. texts: the texts of a free-running string.
    excursion_every_s/excursion_s/excursion_offset: a smooth bump (towards a limit) of that size and length,
    once per period. decimals: floats are rounded to this many decimals.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    follows: str | None = None
    center: float | None = None
    amplitude: float = Field(0.0, ge=0)
    period_s: float = Field(120.0, gt=0)
    noise: float = Field(0.0, ge=0)
    count_per_s: float | None = Field(None, gt=0)
    change_every_s: float = Field(60.0, gt=0)
    texts: tuple[str, ...] | None = Field(None, min_length=1)
    excursion_every_s: float | None = Field(None, gt=0)
    excursion_s: float = Field(30.0, gt=0)
    excursion_offset: float = 0.0
    decimals: int = Field(3, ge=0, le=9)


class _KnobError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def load_knobs(telemetry_types: Sequence[TelemetryType], path: Path) -> dict[str, Knobs]:
    """Validate every type's knobs (in file order) against its datatype; `path` names the file in errors."""
    knobs: dict[str, Knobs] = {}
    for index, telemetry in enumerate(telemetry_types):
        where = f"{path}: entry {index} (id {telemetry.id!r})"
        try:
            parsed = Knobs.model_validate(telemetry.simulation or {})
            _check(telemetry, parsed)
        except ValidationError as error:
            lines = [
                f"{where}: field 'simulation.{'.'.join(map(str, problem['loc']))}': {problem['msg']}"
                f" (got {problem['input']!r})"
                for problem in error.errors()
            ]
            raise ConfigurationError("\n".join(lines)) from error
        except _KnobError as error:
            raise ConfigurationError(f"{where}: field 'simulation.{error.field}': {error}") from None
        knobs[telemetry.id] = parsed
    return knobs


def _check(telemetry: TelemetryType, knobs: Knobs) -> None:
    datatype = telemetry.datatype
    given = knobs.model_fields_set
    misplaced = sorted(given & NUMERIC_KNOBS) if datatype not in NUMERIC else []
    if misplaced:
        raise _KnobError(misplaced[0], f"only applies to numeric types, not {datatype}")
    if knobs.texts is not None and datatype != "string":
        raise _KnobError("texts", f"only applies to strings, not {datatype}")
    if knobs.follows is not None:
        quantity = QUANTITIES.get(knobs.follows)
        if quantity is None:
            known = ", ".join(QUANTITIES)
            raise _KnobError("follows", f"unknown quantity {knobs.follows!r}; choose one of {known}")
        problem = _mismatch(quantity, telemetry)
        if problem:
            raise _KnobError("follows", f"{knobs.follows!r} {problem}")
        unused = sorted(given & FREE_RUNNING_KNOBS)
        if unused:
            raise _KnobError(unused[0], "only applies to free-running types, not with 'follows'")
    if knobs.excursion_every_s is not None and knobs.excursion_s > knobs.excursion_every_s:
        every = knobs.excursion_every_s
        raise _KnobError("excursion_s", f"{knobs.excursion_s:g} is longer than excursion_every_s ({every:g})")


def _mismatch(quantity: Quantity, telemetry: TelemetryType) -> str | None:
    """Why a type of `telemetry`'s datatype cannot report `quantity`, or None if it can."""
    datatype = telemetry.datatype
    if isinstance(quantity, tuple):
        if datatype != "enum":
            return f"is an enum, not {datatype}"
        missing = [value for value in quantity if value not in (telemetry.values or ())]
        return f"takes values missing from 'values': {missing}" if missing else None
    expected = {"number": NUMERIC, "bool": {"bool"}, "string": {"string"}}[quantity]
    return None if datatype in expected else f"is a {quantity}, not {datatype}"
