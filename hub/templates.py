"""Telemetry types and command templates: the YAML files, their pydantic models, and start-up validation.

A template error stops start-up with a message naming the file, the entry (index and id) and the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.errors import ConfigurationError

Datatype = Literal["float", "int", "bool", "string", "enum"]
NUMERIC: frozenset[str] = frozenset({"float", "int"})
Value = bool | int | float | str
M = TypeVar("M", bound="_Model")

TELEMETRY_FILE = "telemetry_types.yaml"
COMMAND_FILE = "command_templates.yaml"

Identifier = Annotated[str, Field(pattern=r"^[a-z0-9_.-]+$", min_length=1, max_length=128)]


def coerce(datatype: Datatype, value: object, values: Sequence[str] | None = None) -> Value:
    """Return `value` as the Python type `datatype` names, or raise ValueError saying why not.

    Integers are accepted for floats (JSON has one number type); booleans are never numbers; NaN and
    infinities are refused because JSON cannot carry them.
    """
    if datatype == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected a boolean, got {_describe(value)}")
    if datatype in NUMERIC:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(
                f"expected {'an integer' if datatype == 'int' else 'a number'}, got {_describe(value)}"
            )
        if datatype == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(f"expected an integer, got {value!r}")
                return int(value)
            return value
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_describe(value)}")
    if datatype == "enum" and values is not None and value not in values:
        raise ValueError(f"{value!r} is not one of {list(values)}")
    return value


def _describe(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


class FieldProblem(ValueError):
    """A check across fields that still belongs to one field, so that the error can name it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Model):
    """Values below `low` or above `high` are out of this band (either bound may be absent)."""

    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise FieldProblem("low", f"low ({self.low:g}) is greater than high ({self.high:g})")
        return self


class Limits(_Model):
    warning: Band | None = None
    critical: Band | None = None

    @model_validator(mode="after")
    def _critical_outside_warning(self) -> Limits:
        w, c = self.warning, self.critical
        if w and c:
            if w.low is not None and c.low is not None and c.low > w.low:
                raise FieldProblem(
                    "critical.low", f"critical.low ({c.low:g}) must not be above warning.low ({w.low:g})"
                )
            if w.high is not None and c.high is not None and c.high < w.high:
                raise FieldProblem(
                    "critical.high", f"critical.high ({c.high:g}) must not be below warning.high ({w.high:g})"
                )
        return self


class TelemetryType(_Model):
    """One sensor: the `id` of its data messages, how to read its value and how often it is produced."""

    id: Identifier
    name: str | None = None
    description: str | None = None
    group: Identifier | None = None
    unit: str | None = None
    datatype: Datatype
    values: tuple[str, ...] | None = Field(None, description="The allowed values of an enum.")
    min: float | None = None
    max: float | None = None
    limits: Limits | None = None
    rate_hz: float = Field(gt=0, le=10_000, description="How often the source produces it, in Hz.")
    simulation: dict[str, Any] | None = Field(
        None, exclude=True, description="Knobs for the simulator; not part of the public definition."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TelemetryType:
        _check_enum_values(self.datatype, self.values)
        _check_range(self.datatype, self.min, self.max)
        if self.limits is not None and self.datatype not in NUMERIC:
            raise FieldProblem("limits", f"limits only apply to numeric datatypes, not {self.datatype}")
        return self

    def coerce(self, value: object) -> Value:
        return coerce(self.datatype, value, self.values)


class CommandParameter(_Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
    type: Datatype
    required: bool = False
    default: Value | None = None
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CommandParameter:
        _check_enum_values(self.type, self.values)
        _check_range(self.type, self.min, self.max)
        if self.default is not None:
            if self.required:
                raise FieldProblem("default", "a required parameter cannot have a default")
            try:
                self.check(self.default)
            except ValueError as error:
                raise FieldProblem("default", str(error)) from None
        return self

    def check(self, value: object) -> Value:
        """The value converted to this parameter's type; ValueError says why it is refused."""
        checked = coerce(self.type, value, self.values)
        if self.type in NUMERIC and not isinstance(checked, bool | str):
            if self.min is not None and checked < self.min:
                raise ValueError(f"{checked} is below the minimum {self.min:g}")
            if self.max is not None and checked > self.max:
                raise ValueError(f"{checked} is above the maximum {self.max:g}")
        return checked


class CommandTemplate(_Model):
    command: Identifier
    description: str | None = None
    parameters: tuple[CommandParameter, ...] = ()
    timeout_s: float = Field(10.0, gt=0, le=86_400, description="How long the device has to confirm.")

    @model_validator(mode="after")
    def _unique_parameters(self) -> CommandTemplate:
        _check_unique([p.name for p in self.parameters], "parameter name", "parameters")
        return self


def _check_enum_values(datatype: str, values: Sequence[str] | None) -> None:
    if datatype == "enum":
        if not values:
            raise FieldProblem("values", "an enum needs a non-empty 'values' list")
        _check_unique(list(values), "enum value", "values")
    elif values is not None:
        raise FieldProblem("values", f"'values' only applies to enums, not {datatype}")


def _check_range(datatype: str, low: float | None, high: float | None) -> None:
    if (low is not None or high is not None) and datatype not in NUMERIC:
        raise FieldProblem(
            "min" if low is not None else "max", f"min/max only apply to numeric types, not {datatype}"
        )
    if low is not None and high is not None and low > high:
        raise FieldProblem("max", f"min ({low:g}) is greater than max ({high:g})")


def _check_unique(names: list[str], what: str, field: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise FieldProblem(field, f"duplicate {what} {name!r}")
        seen.add(name)


class Templates(_Model):
    """Everything a source supports: its telemetry types and its command templates."""

    telemetry_types: tuple[TelemetryType, ...]
    command_templates: tuple[CommandTemplate, ...]


class _TelemetryFile(_Model):
    telemetry_types: list[TelemetryType]


class _CommandFile(_Model):
    command_templates: list[CommandTemplate]


def load_templates(directory: Path) -> Templates:
    """Read and validate both template files of `directory`; ConfigurationError names any problem."""
    telemetry = _load(directory / TELEMETRY_FILE, _TelemetryFile, "id").telemetry_types
    commands = _load(directory / COMMAND_FILE, _CommandFile, "command").command_templates
    return Templates(telemetry_types=tuple(telemetry), command_templates=tuple(commands))


def _load(path: Path, model: type[M], key: str) -> M:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigurationError(f"{path}: cannot read the template file: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise ConfigurationError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    except yaml.YAMLError as error:
        raise ConfigurationError(f"{path}: not valid YAML: {error}") from error
    section = next(iter(model.model_fields))
    if not isinstance(document, dict):
        raise ConfigurationError(f"{path}: expected a mapping with a top-level '{section}:' list")
    try:
        parsed = model.model_validate(document)
    except ValidationError as error:
        raise ConfigurationError(_explain(path, document, error, key)) from error
    entries = getattr(parsed, section)
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        name = getattr(entry, key)
        if name in seen:
            raise ConfigurationError(
                f"{path}: entry {index} ({key} {name!r}): field '{key}': duplicate of entry {seen[name]}"
            )
        seen[name] = index
    return parsed


def _explain(path: Path, document: Any, error: ValidationError, key: str) -> str:
    lines = []
    for problem in error.errors():
        loc = problem["loc"]
        cause = problem.get("ctx", {}).get("error")
        if isinstance(cause, FieldProblem):
            loc = (*loc, *cause.field.split("."))
        where = str(path)
        if len(loc) >= 2 and isinstance(loc[1], int):
            entry = _entry(document, loc[0], loc[1])
            name = entry.get(key) if isinstance(entry, dict) else None
            where += f": entry {loc[1]}" + (f" ({key} {name!r})" if name is not None else "")
            field = ".".join(str(part) for part in loc[2:])
        else:
            field = ".".join(str(part) for part in loc)
        message = problem["msg"].removeprefix("Value error, ")
        where += f": field '{field}'" if field else ""
        lines.append(f"{where}: {message}")
    return "\n".join(lines)


def _entry(document: Any, section: int | str, index: int) -> Any:
    try:
        return document[section][index]
    except (KeyError, IndexError, TypeError):
        return None
