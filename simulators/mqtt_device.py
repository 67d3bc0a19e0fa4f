"""A device emulator: the simulated spacecraft as a device on an MQTT broker, in the hub's topic layout.

    python -m simulators.mqtt_device --broker mqtt://127.0.0.1:1883 --device craft1

It runs the simulator (physics, signals and command timelines, for the templates of --templates-dir) for its
whole life, reporting to a `Link` that turns every telemetry value, confirmation and notice into an MQTT
message (topics and payloads: hub/sources/mqtt/protocol.py). Beside it, a connection to the broker that is
made again with backoff whenever the broker goes away: each one sets the last will `offline`, announces the
templates and `online` (both retained), subscribes to the device's commands and hands them to the
simulator. What the simulator produces while there is no connection is dropped, as a radio link would lose
it. SIGINT or SIGTERM publish `offline`, disconnect cleanly and exit with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiomqtt
from pydantic import ValidationError

from hub.errors import ConfigurationError
from hub.messages import Level
from hub.sources.base import SourceCommand, SourceStatus
from hub.sources.mqtt.protocol import (
    DEVICE_PATTERN,
    Broker,
    CommandPayload,
    ConfirmationPayload,
    NotificationPayload,
    TelemetryPayload,
    Topics,
    explain,
    parse_broker_url,
)
from hub.templates import TELEMETRY_FILE, Value, load_templates
from simulators.simulator import Simulator

log = logging.getLogger("simulators.mqtt_device")

BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
"""Waits between connection attempts; the last one repeats."""
QUEUE_LIMIT = 10_000
"""Messages waiting for the broker past which new ones are dropped."""
GOODBYE_S = 2.0
"""Longest wait for the broker to take the final `offline` on shutdown."""


class Link:
    """The simulator's SourceEvents: each call becomes an MQTT message, queued for the current connection."""

    def __init__(self, topics: Topics, device: str) -> None:
        self._topics = topics
        self._device = device
        self._queue: asyncio.Queue[tuple[str, str, int]] = asyncio.Queue(QUEUE_LIMIT)
        self.connected = False
        self.dropped = 0

    def telemetry(self, id: str, value: Value, timestamp: float) -> None:
        payload = TelemetryPayload(value=value, timestamp=timestamp).model_dump_json()
        self._put(self._topics.of(self._device, "telemetry", id), payload, 0)

    def confirmation(self, command_id: str, status: SourceStatus, message: str) -> None:
        payload = ConfirmationPayload(command_id=command_id, status=status, message=message[:1000])
        self._put(self._topics.of(self._device, "confirmations"), payload.model_dump_json(), 1)

    def notification(self, level: Level, code: str, message: str, id: str | None = None) -> None:
        payload = NotificationPayload(level=level, code=code, message=message[:1000])
        self._put(self._topics.of(self._device, "notifications"), payload.model_dump_json(), 1)

    def _put(self, topic: str, payload: str, qos: int) -> None:
        if not self.connected or self._queue.full():
            self.dropped += 1
            if self.dropped in (100, 1_000) or self.dropped % 10_000 == 0:  # a few before the first connect
                log.warning("no connection to the broker: %d messages dropped so far", self.dropped)
            return
        self._queue.put_nowait((topic, payload, qos))

    async def send(self, client: aiomqtt.Client) -> None:
        """Publish what is queued, in order, until cancelled or the connection fails."""
        while True:
            topic, payload, qos = await self._queue.get()
            await client.publish(topic, payload, qos=qos)

    def disconnected(self) -> None:
        self.connected = False
        while not self._queue.empty():
            self._queue.get_nowait()
            self.dropped += 1


class Device:
    """The simulator and its connection to the broker, as device `device` under `prefix`."""

    def __init__(self, broker: Broker, device: str, prefix: str, simulator: Simulator) -> None:
        self.broker = broker
        self.device = device
        self.topics = Topics(prefix)
        self.simulator = simulator
        self.link = Link(self.topics, device)
        self._announcement = simulator.templates.model_dump_json(exclude_none=True)
        self._failures = 0

    async def run(self) -> None:
        """Produce and stay connected until cancelled."""
        await _first(self.simulator.run(self.link), self._connect_forever())

    async def _connect_forever(self) -> None:
        while True:
            try:
                await self._session()
                reason = "the connection ended"
            except aiomqtt.MqttError as error:
                reason = str(error)
            delay = BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
            self._failures += 1
            log.warning("broker %s: %s; connecting again in %g s", self.broker, reason, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        status = self.topics.of(self.device, "status")
        client = self.broker.client(will=aiomqtt.Will(status, "offline", qos=1, retain=True))
        async with client:
            await client.subscribe(self.topics.of(self.device, "commands"), qos=1)
            await client.publish(self.topics.of(self.device, "announce"), self._announcement, 1, retain=True)
            await client.publish(status, "online", qos=1, retain=True)
            log.info("device %s connected to %s under %s/", self.device, self.broker, self.topics.prefix)
            self.link.connected = True
            self._failures = 0
            try:
                await _first(self.link.send(client), self._receive(client))
            except asyncio.CancelledError:  # shutting down: say so, as the broker drops the will now
                with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                    async with asyncio.timeout(GOODBYE_S):
                        await client.publish(status, "offline", qos=1, retain=True)
                raise
            finally:
                self.link.disconnected()

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            try:
                command = CommandPayload.model_validate_json(payload)
            except ValidationError as error:
                log.warning("ignoring a bad command on %s: %s", message.topic.value, explain(error))
                continue
            log.info("command %s (%s) %s", command.command, command.command_id, command.parameters)
            try:
                await self.simulator.execute(
                    SourceCommand(command.command_id, command.command, command.parameters)
                )
            except Exception as error:
                self.link.confirmation(command.command_id, "failed", f"the device refused it: {error}")


async def _first(*coroutines: Coroutine[Any, Any, None]) -> None:
    """Run the coroutines until one ends; cancel the others; raise what it raised."""
    tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _serve(device: Device) -> None:
    task = asyncio.current_task()
    assert task is not None  # we are inside asyncio.run
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await device.run()
    log.info("device %s stopped", device.device)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="A simulated spacecraft that talks to the hub over MQTT.")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://host:port of the broker")
    parser.add_argument("--device", default="craft1", help="device name (letters, digits, _ . -)")
    parser.add_argument("--prefix", default="hub", help="topic prefix, as the hub's HUB_MQTT_PREFIX")
    parser.add_argument("--templates-dir", type=Path, default=Path("templates"), help="the YAML templates")
    parser.add_argument("--seed", type=int, default=None, help="make the simulator's randomness repeatable")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not DEVICE_PATTERN.match(args.device):
        parser.error(f"--device {args.device!r}: use letters, digits, _ . - (at most 64)")
    try:
        broker = parse_broker_url(args.broker, "--broker")
        templates = load_templates(args.templates_dir)
        simulator = Simulator(templates, telemetry_file=args.templates_dir / TELEMETRY_FILE, seed=args.seed)
    except ConfigurationError as error:
        print(f"mqtt_device: cannot start:\n{error}", file=sys.stderr)
        return 2
    asyncio.run(_serve(Device(broker, args.device, args.prefix, simulator)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
