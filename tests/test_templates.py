"""Template files: the default set loads, and every kind of error names the file, the entry and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hub.errors import ConfigurationError
from hub.templates import COMMAND_FILE, TELEMETRY_FILE, load_templates
from tests.fakes import TEST_TEMPLATES

DEFAULT = Path(__file__).parent.parent / "templates"


def test_default_templates_are_realistic() -> None:
    """The shipped set has 15-30 types of every datatype, limits, and commands of every parameter type."""
    templates = load_templates(DEFAULT)
    types = templates.telemetry_types
    assert 15 <= len(types) <= 30
    assert {t.datatype for t in types} == {"float", "int", "bool", "string", "enum"}
    assert sum(t.limits is not None for t in types) >= 3
    assert {t.group for t in types} >= {"power", "thermal", "attitude", "comms"}
    assert any(not float(t.rate_hz).is_integer() for t in types)
    commands = templates.command_templates
    assert len(commands) >= 5
    assert {p.type for c in commands for p in c.parameters} == {"float", "int", "bool", "string", "enum"}


def broken(tmp_path: Path, telemetry: str | None = None, commands: str | None = None) -> Path:
    """A copy of the test templates whose telemetry or command file holds the given text instead."""
    shutil.copytree(TEST_TEMPLATES, tmp_path, dirs_exist_ok=True)
    if telemetry is not None:
        (tmp_path / TELEMETRY_FILE).write_text(telemetry)
    if commands is not None:
        (tmp_path / COMMAND_FILE).write_text(commands)
    return tmp_path


@pytest.mark.parametrize(
    ("telemetry", "expected"),
    [
        ("telemetry_types: [", "telemetry_types.yaml: not valid YAML"),
        (
            "telemetry_types:\n  - {id: a, datatype: float, rate_hz: 1}\n"
            "  - {id: b, datatype: complex, rate_hz: 1}",
            "telemetry_types.yaml: entry 1 (id 'b'): field 'datatype': Input should be 'float'",
        ),
        (
            "telemetry_types:\n  - {id: a, datatype: float, rate_hz: 1}\n"
            "  - {id: a, datatype: int, rate_hz: 1}",
            "telemetry_types.yaml: entry 1 (id 'a'): field 'id': duplicate of entry 0",
        ),
        (
            "telemetry_types:\n  - {id: a, datatype: float, rate_hz: 1, min: 5, max: 1}",
            "telemetry_types.yaml: entry 0 (id 'a'): field 'max': min (5) is greater than max (1)",
        ),
        (
            "telemetry_types:\n  - {id: a, datatype: enum, rate_hz: 1}",
            "telemetry_types.yaml: entry 0 (id 'a'): field 'values': an enum needs a non-empty 'values' list",
        ),
        (
            "telemetry_types:\n  - {id: a, datatype: float}",
            "telemetry_types.yaml: entry 0 (id 'a'): field 'rate_hz': Field required",
        ),
        (
            "telemetry_types:\n  - {id: Bad Id, datatype: float, rate_hz: 1}",
            "telemetry_types.yaml: entry 0 (id 'Bad Id'): field 'id': String should match pattern",
        ),
        (
            "telemetry_types:\n  - {id: a, datatype: float, rate_hz: 1, colour: red}",
            "telemetry_types.yaml: entry 0 (id 'a'): field 'colour': Extra inputs are not permitted",
        ),
        (
            "telemetry_types:\n  - {id: a, datatype: float, rate_hz: 1,"
            " limits: {warning: {high: 10}, critical: {high: 5}}}",
            "telemetry_types.yaml: entry 0 (id 'a'): field 'limits.critical.high': "
            "critical.high (5) must not be below",
        ),
        ("something_else: []", "telemetry_types.yaml: field 'telemetry_types': Field required"),
        ("", "telemetry_types.yaml: expected a mapping with a top-level 'telemetry_types:' list"),
    ],
)
def test_telemetry_template_errors_name_file_entry_and_field(
    tmp_path: Path, telemetry: str, expected: str
) -> None:
    """Each error stops loading with a message naming where it is."""
    with pytest.raises(ConfigurationError) as raised:
        load_templates(broken(tmp_path, telemetry=telemetry))
    assert f"{tmp_path}/{expected}" in str(raised.value)


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        (
            "command_templates:\n  - {command: go, parameters: [{name: x, type: enum}]}",
            "entry 0 (command 'go'): field 'parameters.0.values': an enum needs a non-empty 'values' list",
        ),
        (
            "command_templates:\n"
            "  - {command: go, parameters: [{name: x, type: int, min: 1, max: 3, default: 7}]}",
            "entry 0 (command 'go'): field 'parameters.0.default': 7 is above the maximum 3",
        ),
        (
            "command_templates:\n  - {command: go}\n  - {command: go}",
            "entry 1 (command 'go'): field 'command': duplicate of entry 0",
        ),
        (
            "command_templates:\n  - {command: go, parameters: [{name: x, type: int}, {name: x, type: int}]}",
            "entry 0 (command 'go'): field 'parameters': duplicate parameter name 'x'",
        ),
        (
            "command_templates:\n  - {command: go, timeout_s: 0}",
            "entry 0 (command 'go'): field 'timeout_s': Input should be greater than 0",
        ),
    ],
)
def test_command_template_errors_name_file_entry_and_field(
    tmp_path: Path, commands: str, expected: str
) -> None:
    """Command template errors name the file, the command and the field."""
    with pytest.raises(ConfigurationError) as raised:
        load_templates(broken(tmp_path, commands=commands))
    assert f"{tmp_path}/command_templates.yaml: {expected}" in str(raised.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    """A directory without the template files says which file it could not read."""
    with pytest.raises(ConfigurationError, match=r"telemetry_types\.yaml: cannot read"):
        load_templates(tmp_path)


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    """A template file in another encoding gives a message naming it, not a traceback."""
    directory = broken(tmp_path)
    (directory / TELEMETRY_FILE).write_bytes("telemetry_types: [{id: température}]".encode("latin-1"))
    with pytest.raises(ConfigurationError, match=r"telemetry_types\.yaml: not UTF-8 text"):
        load_templates(directory)
