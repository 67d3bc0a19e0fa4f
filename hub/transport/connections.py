"""The connected clients: each one's identity, fixed when it connects, and its budget for inbound work.

A connection's principal is set once, at connect, and bound to each of its events the moment the event
arrives, in arrival order. python-socketio runs each event's handler in a task of its own, so a long-polling
POST carrying a `command` and a disconnect (`41`) used to run the command after the disconnect had forgotten
who sent it, as the anonymous operator: now the command carries its sender's `Connection`, and a connection
closed before its event's handler started is refused, never run as someone else.

Inbound work is bounded whatever the event (subscribe, unsubscribe, command, an unknown name):
- per connection, a token bucket (HUB_EVENT_RATE a second, HUB_EVENT_BURST at once) and at most
  `MAX_IN_FLIGHT` events being handled at once; past either, the event is answered `rate_limited` at once,
  without running;
- per client address, a token bucket shared by all its connections (HUB_ADDRESS_EVENT_RATE,
  HUB_ADDRESS_EVENT_BURST), which each connect takes from too: a client that reconnects to get a fresh
  connection budget (twenty connections pipelining commands and reconnecting got 13,000 commands a second
  handled, a core and a half of the hub) finds its address's budget spent;
- a connection that keeps sending past its budget (another HUB_EVENT_BURST refusals beyond what the rate
  allows) is disconnected as flooding;
- in total, at most HUB_MAX_EVENTS_IN_FLIGHT events are being handled at once, across all connections.
Commands also take a token of their own bucket (HUB_COMMAND_RATE, HUB_COMMAND_BURST).
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.auth import Principal
from hub.errors import Forbidden, RateLimited
from hub.transport.token_bucket import TokenBucket

MAX_IN_FLIGHT = 16
"""Events of one connection being handled at once (a replay, a command waiting for the log, ...)."""


MAX_ADDRESSES = 10_000
"""Addresses remembered at once before the idle ones with a whole budget are forgotten."""


class Flooding(RateLimited):
    """The connection kept sending past its budget: it is answered, then disconnected."""


@dataclass(slots=True, eq=False)
class Address:
    """The budget shared by the connections of one client address."""

    name: str
    events: TokenBucket
    connections: int = 0


@dataclass(slots=True, eq=False)
class Connection:
    sid: str
    principal: Principal
    address: Address
    events: TokenBucket
    strikes: TokenBucket
    """Refusals beyond the budget; empty means flooding."""
    commands: TokenBucket
    in_flight: int = 0
    closed: bool = False


class Connections:
    def __init__(
        self,
        event_rate: float,
        event_burst: int,
        command_rate: float,
        command_burst: int,
        max_in_flight_total: int,
        address_event_rate: float,
        address_event_burst: int,
    ) -> None:
        self.event_rate = event_rate
        self.event_burst = event_burst
        self.command_rate = command_rate
        self.command_burst = command_burst
        self.max_in_flight_total = max_in_flight_total
        self.address_event_rate = address_event_rate
        self.address_event_burst = address_event_burst
        self.in_flight = 0
        """Events being handled now, across all connections."""
        self._by_sid: dict[str, Connection] = {}
        self._addresses: dict[str, Address] = {}

    def admit_connect(self, address: str) -> None:
        """Take a token of `address` for a new connection, or raise RateLimited."""
        if (wait := self._address(address).events.take()) > 0:
            raise RateLimited(
                f"{address} sends more than {self.address_event_burst} events and connects at once or "
                f"{self.address_event_rate:g}/s; try again in {wait:.2f} s",
                _later(wait),
            )

    def open(self, sid: str, principal: Principal, address: str) -> Connection:
        budget = self._address(address)
        budget.connections += 1
        connection = Connection(
            sid,
            principal,
            budget,
            TokenBucket(self.event_rate, self.event_burst),
            TokenBucket(self.event_rate, self.event_burst),
            TokenBucket(self.command_rate, self.command_burst),
        )
        self._by_sid[sid] = connection
        return connection

    def close(self, sid: str) -> Connection | None:
        """The connection is gone: its events not yet started are refused from now on."""
        connection = self._by_sid.pop(sid, None)
        if connection is not None:
            connection.closed = True
            connection.address.connections -= 1
        return connection

    def get(self, sid: str) -> Connection | None:
        return self._by_sid.get(sid)

    def admit(self, sid: str) -> Connection:
        """Take one event of `sid` in, bound to its connection, or raise why not (RateLimited, Flooding,
        Forbidden for an unknown connection). Every admitted event must be `release`d."""
        connection = self._by_sid.get(sid)
        if connection is None:
            raise Forbidden("this connection is closed")
        if self.in_flight >= self.max_in_flight_total:
            raise self._refused(
                connection, RateLimited("the hub is handling too many events; try again shortly", _later(0.1))
            )
        if connection.in_flight >= MAX_IN_FLIGHT:
            raise self._refused(
                connection,
                RateLimited(
                    f"more than {MAX_IN_FLIGHT} events of this connection are being handled; wait for "
                    "their acks",
                    _later(0.1),
                ),
            )
        if (wait := connection.events.take()) > 0:
            raise self._refused(
                connection,
                RateLimited(
                    f"more than {self.event_burst} events at once or {self.event_rate:g}/s; try again in "
                    f"{wait:.2f} s",
                    _later(wait),
                ),
            )
        if (wait := connection.address.events.take()) > 0:
            raise self._refused(
                connection,
                RateLimited(
                    f"this client's address sends more than {self.address_event_burst} events at once or "
                    f"{self.address_event_rate:g}/s; try again in {wait:.2f} s",
                    _later(wait),
                ),
            )
        connection.in_flight += 1
        self.in_flight += 1
        return connection

    def release(self, connection: Connection) -> None:
        connection.in_flight -= 1
        self.in_flight -= 1

    def take_command(self, connection: Connection) -> None:
        """Take a command token of `connection`, or raise RateLimited."""
        if (wait := connection.commands.take()) > 0:
            raise RateLimited(
                f"more than {self.command_burst} commands at once or {self.command_rate:g}/s; "
                f"try again in {wait:.2f} s",
                _later(wait),
            )

    def _address(self, address: str) -> Address:
        budget = self._addresses.get(address)
        if budget is None:
            if len(self._addresses) >= MAX_ADDRESSES:  # forget the idle ones whose budget is whole again
                for idle in [a for a, b in self._addresses.items() if not b.connections and b.events.full()]:
                    del self._addresses[idle]
            budget = self._addresses[address] = Address(
                address, TokenBucket(self.address_event_rate, self.address_event_burst)
            )
        return budget

    def _refused(self, connection: Connection, error: RateLimited) -> RateLimited:
        if connection.strikes.take() > 0:
            return Flooding(
                f"{error.message}; this connection kept sending past its budget and is closed", error.details
            )
        return error


def _later(seconds: float) -> dict[str, float]:
    return {"retry_after_s": round(seconds, 3)}
