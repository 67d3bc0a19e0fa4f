"""Who is subscribed to what: resolving requests into telemetry ids and keeping each client's set.

Rooms are named `telemetry:<id>`; this module keeps the same sets so that acks can report them without
asking the transport.
"""

from __future__ import annotations

from collections import Counter

from hub.catalog import Catalog
from hub.errors import UnknownTelemetryType
from hub.messages import SubscriptionRequest


def room(telemetry_id: str) -> str:
    return f"telemetry:{telemetry_id}"


class Subscriptions:
    """Each client's set of telemetry ids, and how many clients subscribe to each id."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._by_client: dict[str, set[str]] = {}
        self._subscribers: Counter[str] = Counter()  # per id, kept as the sets change (a scrape reads it)

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
        self._subscribers.update(new)
        return new

    def remove(self, client: str, ids: set[str]) -> set[str]:
        """Remove `ids` from the client's set; return the ones it had."""
        current = self._by_client.get(client, set())
        removed = ids & current
        current -= removed
        self._subscribers.subtract(removed)
        return removed

    def drop(self, client: str) -> None:
        self._subscribers.subtract(self._by_client.pop(client, ()))

    def counts(self) -> dict[str, int]:
        """Subscribers per telemetry id of the catalog (not an id a device has withdrawn since)."""
        return {telemetry_id: self._subscribers[telemetry_id] for telemetry_id in self.catalog.types}
