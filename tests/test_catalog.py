"""The catalog: lookups by id, group and command name, and what a `replace` reports."""

from __future__ import annotations

from hub.catalog import Catalog, CatalogChange
from hub.templates import CommandParameter, CommandTemplate, TelemetryType, Templates

VOLTAGE = TelemetryType(id="voltage", group="power", unit="V", datatype="float", rate_hz=10)
CURRENT = TelemetryType(id="current", group="power", unit="A", datatype="float", rate_hz=10)
COUNTER = TelemetryType(id="counter", group="system", datatype="int", rate_hz=1)
LABEL = TelemetryType(id="label", datatype="string", rate_hz=1)
RESET = CommandTemplate(command="reset")
VENT = CommandTemplate(command="vent", timeout_s=5)


def templates(*entries: TelemetryType | CommandTemplate) -> Templates:
    """Templates of these telemetry types and command templates."""
    return Templates(
        telemetry_types=tuple(e for e in entries if isinstance(e, TelemetryType)),
        command_templates=tuple(e for e in entries if isinstance(e, CommandTemplate)),
    )


def test_lookups_by_id_group_and_command() -> None:
    """Types are found by id, commands by name, and a group lists its ids in template order."""
    catalog = Catalog(templates(VOLTAGE, COUNTER, CURRENT, LABEL, RESET))
    assert catalog.types["current"] is CURRENT and catalog.commands["reset"] is RESET
    assert catalog.groups == {"power": ("voltage", "current"), "system": ("counter",)}  # label has no group


def test_replace_changes_the_catalog_in_place() -> None:
    """After `replace` the same catalog answers with the new templates: withdrawn ids, groups and commands
    are gone."""
    catalog = Catalog(templates(VOLTAGE, COUNTER, RESET))
    holder = catalog  # what subscriptions, commands and the HTTP API keep
    new = templates(CURRENT, LABEL, VENT)
    catalog.replace(new)
    assert holder.templates is new
    assert set(holder.types) == {"current", "label"} and set(holder.commands) == {"vent"}
    assert holder.groups == {"power": ("current",)}  # "system" lost its only id


def test_a_change_reports_added_removed_and_redefined_entries() -> None:
    """A change lists the ids and command names added, removed and redefined, each sorted; the ones kept
    as they were are not mentioned."""
    catalog = Catalog(templates(VOLTAGE, COUNTER, LABEL, RESET))
    millivolts = VOLTAGE.model_copy(update={"unit": "mV"})
    alpha = TelemetryType(id="alpha", datatype="bool", rate_hz=1)
    hard_reset = CommandTemplate(command="reset", parameters=(CommandParameter(name="hard", type="bool"),))
    change = catalog.replace(templates(LABEL, millivolts, CURRENT, alpha, hard_reset, VENT))
    assert change == CatalogChange(
        added_types=("alpha", "current"),
        removed_types=("counter",),
        changed_types=("voltage",),
        added_commands=("vent",),
        changed_commands=("reset",),
    )


def test_details_list_only_what_changed() -> None:
    """A change's details, sent in the templates_changed notification, hold lists and only the non-empty
    ones."""
    catalog = Catalog(templates(VOLTAGE, RESET))
    change = catalog.replace(templates(VOLTAGE, CURRENT))
    assert change.details() == {"added_types": ["current"], "removed_commands": ["reset"]}


def test_the_same_templates_again_are_no_change() -> None:
    """Replacing with equal templates, in another order, reports a change that is falsy and has no details."""
    catalog = Catalog(templates(VOLTAGE, CURRENT, RESET, VENT))
    change = catalog.replace(templates(CURRENT, VOLTAGE.model_copy(), VENT, RESET))
    assert not change and change.details() == {}
    assert catalog.groups == {"power": ("current", "voltage")}  # the order of the new templates


def test_moving_a_type_to_another_group_is_a_redefinition() -> None:
    """A type that moves to another group is reported as changed, and the groups follow it."""
    catalog = Catalog(templates(VOLTAGE, CURRENT))
    change = catalog.replace(templates(VOLTAGE, CURRENT.model_copy(update={"group": "battery"})))
    assert change.details() == {"changed_types": ["current"]}
    assert catalog.groups == {"power": ("voltage",), "battery": ("current",)}


def test_any_single_difference_makes_a_change_truthy() -> None:
    """A change is truthy when any one of its six lists is non-empty."""
    for field in CatalogChange.__slots__:
        assert CatalogChange(**{field: ("x",)}), field
    assert not CatalogChange()
