"""The source registry: `HUB_SOURCE` names an entry here; only the selected source is imported."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from hub.errors import ConfigurationError
from hub.settings import Settings
from hub.source import Source

SOURCES: dict[str, str] = {
    "simulator": "simulators.simulator:from_settings",
}
"""Source name -> "module:factory"; a factory takes the Settings and returns a Source."""


def create_source(settings: Settings) -> Source:
    target = SOURCES.get(settings.source)
    if target is None:
        raise ConfigurationError(
            f"HUB_SOURCE={settings.source!r}: unknown source; choose one of {', '.join(sorted(SOURCES))}"
        )
    module_name, _, attribute = target.partition(":")
    factory = cast(Callable[[Settings], Source], getattr(importlib.import_module(module_name), attribute))
    return factory(settings)
