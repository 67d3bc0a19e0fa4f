"""Telemetry sources: the `Source` protocol (`base`), this registry, and each source in its own module.

`HUB_SOURCE` names an entry of the registry, or is a URL whose scheme selects one: the simulator
(`simulators/`) or MQTT devices (`mqtt/`). Like the history backends (hub/history/), a source is a plugin
chosen by a name or a URL scheme.

Only the selected source is imported: the MQTT client library is loaded when `HUB_SOURCE=mqtt://...`, never
for the simulator.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from hub.errors import ConfigurationError
from hub.settings import Settings
from hub.sources.base import Source

SOURCES: dict[str, str] = {
    "simulator": "simulators.simulator:from_settings",
}
"""Source name -> "module:factory"; a factory takes the Settings and returns a Source."""

SCHEMES: dict[str, str] = {
    "mqtt": "hub.sources.mqtt.source:from_settings",
}
"""URL scheme -> "module:factory", for `HUB_SOURCE=scheme://...`; the factory parses the URL."""


def create_source(settings: Settings) -> Source:
    """The source `settings.source` selects; ConfigurationError naming HUB_SOURCE if there is none."""
    scheme, is_url, _ = settings.source.partition("://")
    if is_url:
        target = SCHEMES.get(scheme.lower())
        if target is None:
            raise ConfigurationError(
                f"HUB_SOURCE={settings.source!r}: unknown scheme {scheme!r}; "
                f"use {' or '.join(f'{known}://host:port' for known in sorted(SCHEMES))}"
            )
    else:
        target = SOURCES.get(settings.source)
        if target is None:
            raise ConfigurationError(
                f"HUB_SOURCE={settings.source!r}: unknown source; choose one of "
                f"{', '.join(sorted(SOURCES))}, or a broker URL such as mqtt://127.0.0.1:1883"
            )
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ConfigurationError(
            f"HUB_SOURCE: this source needs the package {error.name!r}, which is not installed "
            "(install requirements.txt)"
        ) from error
    factory = cast(Callable[[Settings], Source], getattr(module, attribute))
    return factory(settings)
