"""Who is subscribed to what: resolving requests into telemetry ids and keeping each client's set.

Rooms are named `telemetry:<id>`; this module keeps the same sets so that acks can report them without
asking the transport.
"""

from __future__ import annotations

from hub.catalog import Catalog
from hub.errors import UnknownTelemetryType
from hub.messages import SubscriptionRequest


def room(telemetry_id: str) -> str:
    return f"telemetry:{telemetry_id}"


class Subscriptions:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._by_client: dict[str, set[str]] = {}

    def resolve(self, request: SubscriptionRequest) -> set[str]:
        """The ids a request names; raises UnknownTelemetryType listing every unknown id and group."""
        unknown_ids = sorted({i for i in request.ids if i not in self.catalog.types})
        unknown_groups = sorted({g for g in request.groups if g not in self.catalog.groups})
        if unknown_ids or unknown_groups:
            parts = [
                f"ids {unknown_ids}" if unknown_ids else "",
                f"groups {unknown_groups}" if unknown_groups else "",
            ]
            raise UnknownTelemetryType(
                f"unknown {' and '.join(p for p in parts if p)}; nothing was changed",
                {"ids": unknown_ids, "groups": unknown_groups},
            )
        if request.all:
            return set(self.catalog.types)
        ids = set(request.ids)
        for group in request.groups:
            ids.update(self.catalog.groups[group])
        return ids

    def of(self, client: str) -> set[str]:
        return self._by_client.get(client, set())

    def add(self, client: str, ids: set[str]) -> set[str]:
        """Add `ids` to the client's set; return the ones that are new."""
        current = self._by_client.setdefault(client, set())
        new = ids - current
        current |= new
        return new

    def remove(self, client: str, ids: set[str]) -> set[str]:
        """Remove `ids` from the client's set; return the ones it had."""
        current = self._by_client.get(client, set())
        removed = ids & current
        current -= removed
        return removed

    def drop(self, client: str) -> None:
        self._by_client.pop(client, None)

    def counts(self) -> dict[str, int]:
        """Subscribers per telemetry id."""
        counts = dict.fromkeys(self.catalog.types, 0)
        for ids in self._by_client.values():
            for telemetry_id in ids:
                if telemetry_id in counts:  # (not an id a device has withdrawn since)
                    counts[telemetry_id] += 1
        return counts
