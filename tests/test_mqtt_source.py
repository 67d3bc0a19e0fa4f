"""The MQTT source end to end: devices (the emulator, or a bare MQTT client) -> a real broker -> the hub
served by uvicorn -> python-socketio clients, and commands back.

Needs a broker at 127.0.0.1:1883 (Mosquitto, anonymous); the reconnection test also starts a private
Mosquitto on a free port. Each test uses its own topic prefix and clears the retained messages its devices
left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, get_args

import aiomqtt
import httpx
import pytest

from hub.app import create_app
from hub.core import Hub
from hub.history.memory import MemoryHistory
from hub.messages import HubNotificationCode
from hub.settings import Settings
from hub.sources.mqtt.protocol import Topics
from hub.sources.mqtt.source import MqttSource
from hub.templates import load_templates
from tests.fakes import TEST_TEMPLATES
from tests.support import Client, eventually, free_port, is_, serve
from tests.test_metrics import scrape

HOST, PORT = "127.0.0.1", 1883
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATES = load_templates(ROOT / "templates")


def reachable(port: int) -> bool:
    """Whether something accepts TCP connections on `port` of the broker's host."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not reachable(PORT), reason=f"no MQTT broker at {HOST}:{PORT}; start Mosquitto to run the MQTT tests"
)


class Lab:
    """Devices for one test: emulator processes and bare clients under one topic prefix. `close` kills what
    is left, clears every retained announcement and status they published, and prints what the emulators
    logged (pytest shows it when the test failed)."""

    def __init__(self, port: int = PORT) -> None:
        self.prefix = f"test/{uuid.uuid4().hex[:12]}"
        self.topics = Topics(self.prefix)
        self.port = port
        self.output: list[str] = []
        self._devices: set[str] = set()
        self._processes: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []

    async def emulator(self, device: str) -> asyncio.subprocess.Process:
        """Start `python -m simulators.mqtt_device` as `device`, with the default templates."""
        self._devices.add(device)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simulators.mqtt_device", "--broker", f"mqtt://{HOST}:{self.port}",
            "--device", device, "--prefix", self.prefix, "--templates-dir", str(ROOT / "templates"),
            "--seed", "1", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert process.stdout is not None
        self._readers.append(asyncio.create_task(self._read(device, process.stdout)))
        self._processes.append(process)
        return process

    async def _read(self, device: str, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self.output.append(f"{device}: {line.decode(errors='replace').rstrip()}")

    async def publish(self, device: str, kind: Any, payload: Any, id: str | None = None, **kw: Any) -> None:
        """Publish as `device` with QoS 1 (the broker delivers the messages in the order they were sent)."""
        self._devices.add(device)
        raw = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        async with aiomqtt.Client(HOST, self.port) as client:
            await client.publish(self.topics.of(device, kind, id), raw, qos=1, **kw)

    async def close(self) -> None:
        for process in self._processes:  # a clean stop, so that no will comes after the clearing below
            if process.returncode is None:
                process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        await asyncio.gather(*self._readers)
        with contextlib.suppress(aiomqtt.MqttError):
            async with aiomqtt.Client(HOST, self.port) as client:
                for device in self._devices:
                    for kind in ("announce", "status"):
                        await client.publish(self.topics.of(device, kind), b"", qos=1, retain=True)
        print("\n".join(self.output))


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    """A lab of its own for the test, closed (and its retained messages cleared) afterwards."""
    lab = Lab()
    try:
        yield lab
    finally:
        await lab.close()


class Served:
    def __init__(self, url: str, hub: Hub, source: MqttSource, client: Client) -> None:
        self.url, self.hub, self.source, self.client = url, hub, source, client

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url) as http:
            response = await http.get(path)
            response.raise_for_status()
            return response.json()


@contextlib.asynccontextmanager
async def hub_for(lab: Lab) -> AsyncIterator[Served]:
    """A hub whose source is `HUB_SOURCE=mqtt://...` under the lab's prefix, connected, with one client."""
    settings = Settings(
        templates_dir=TEST_TEMPLATES,
        history_url="memory://",
        source=f"mqtt://{HOST}:{lab.port}",
        mqtt_prefix=lab.prefix,
    )
    app = create_app(settings, history=MemoryHistory())
    source = app.hub.source
    assert isinstance(source, MqttSource)
    async with serve(app) as url:
        await eventually(lambda: source.connected, within=10)  # no message says so before a device speaks
        client = await Client().connect(url)
        try:
            yield Served(url, app.hub, source, client)
        finally:
            await client.close()


async def test_telemetry_flows_from_an_announced_device_to_a_client(lab: Lab) -> None:
    """The hub starts with no templates; the emulator's announcement becomes /telemetry-types and
    /command-templates, clients hear templates_changed and device_online, and subscribed telemetry flows."""
    async with hub_for(lab) as served:
        client = served.client
        assert await served.get("/telemetry-types") == []
        refused = await client.call("subscribe", {"ids": ["battery_voltage"]})
        assert refused["ok"] is False and refused["error"]["code"] == "unknown_telemetry_type"
        await lab.emulator("craft1")
        (changed,) = await client.wait_for(is_("notification", code="templates_changed"), within=20)
        assert "battery_voltage" in changed["details"]["added_types"]
        assert "set_mode" in changed["details"]["added_commands"]
        (online,) = await client.wait_for(is_("notification", code="device_online"), within=20)
        assert online["level"] == "info" and "craft1" in online["message"]
        types = await served.get("/telemetry-types")
        assert [t["id"] for t in types] == [t.id for t in DEFAULT_TEMPLATES.telemetry_types]
        commands = await served.get("/command-templates")
        assert [c["command"] for c in commands] == [c.command for c in DEFAULT_TEMPLATES.command_templates]
        ack = await client.call("subscribe", {"groups": ["power"]})
        assert ack["ok"] is True and "battery_voltage" in ack["subscribed"]
        data = await client.wait_for(is_("data", id="battery_voltage"), count=3, within=10)
    assert all(isinstance(m["value"], float) for m in data)
    assert [m["timestamp"] for m in data] == sorted(m["timestamp"] for m in data)
    assert served.source.rejected_messages == 0


async def test_a_command_reaches_the_device_and_its_confirmations_come_back(lab: Lab) -> None:
    """Commands go to the device that announced them; executing and completed/failed come back to clients.
    On SIGTERM the emulator publishes offline itself and exits with status 0."""
    async with hub_for(lab) as served:
        client = served.client
        emulator = await lab.emulator("craft1")
        await client.wait_for(is_("notification", code="device_online"), within=20)
        await client.wait_for(is_("notification", code="templates_changed"))
        refused = await client.call("command", {"command": "set_mode", "parameters": {"mode": "science"}})
        steps = await client.wait_for(is_("confirmation", command_id=refused["command_id"]), count=3)
        assert [s["status"] for s in steps] == ["accepted", "executing", "failed"]
        assert steps[2]["message"] == "science mode needs the solar array deployed"
        assert (await client.call("subscribe", {"ids": ["system_mode"]}))["ok"] is True
        ack = await client.call("command", {"command": "set_mode", "parameters": {"mode": "nominal"}})
        steps = await client.wait_for(is_("confirmation", command_id=ack["command_id"]), count=3)
        assert [s["status"] for s in steps] == ["accepted", "executing", "completed"]
        assert steps[2]["message"] == "now in nominal mode"
        await client.wait_for(is_("data", id="system_mode", value="nominal"))
        emulator.terminate()  # SIGTERM: the emulator says offline itself and exits cleanly
        assert await emulator.wait() == 0
        await client.wait_for(is_("notification", code="device_offline"))


async def test_a_killed_device_goes_offline_and_a_restarted_one_comes_back(lab: Lab) -> None:
    """Killing the emulator makes the broker publish its will (device_offline, commands refused); started
    again, it is device_online and its telemetry resumes, with no second templates_changed."""
    async with hub_for(lab) as served:
        client = served.client
        emulator = await lab.emulator("craft2")
        await client.wait_for(is_("notification", code="device_online"), within=20)
        assert (await client.call("subscribe", {"ids": ["battery_voltage"]}))["ok"] is True
        await client.wait_for(is_("data", id="battery_voltage"), within=10)
        emulator.kill()
        (offline,) = await client.wait_for(is_("notification", code="device_offline"), within=10)
        assert offline["level"] == "warning" and "craft2" in offline["message"]
        ack = await client.call("command", {"command": "deploy_solar_array"})
        steps = await client.wait_for(is_("confirmation", command_id=ack["command_id"]), count=2)
        assert steps[1]["status"] == "failed" and "device craft2 is offline" in steps[1]["message"]
        await lab.emulator("craft2")
        online = await client.wait_for(is_("notification", code="device_online"), count=2, within=20)
        await client.wait_for(lambda m: is_("data", id="battery_voltage")(m) and m["seq"] > online[1]["seq"])
        assert len(client.of("notification", code="templates_changed")) == 1


SMALL = {
    "telemetry_types": [
        {"id": "temp", "datatype": "float", "unit": "C", "rate_hz": 1},
        {"id": "count", "datatype": "int", "rate_hz": 1},
    ],
    "command_templates": [],
}


def reading(value: Any, timestamp: float = 1_700_000_000.5) -> dict[str, Any]:
    """The JSON body of a device's reading."""
    return {"value": value, "timestamp": timestamp}


async def test_bad_device_messages_are_counted_reported_and_never_forwarded(lab: Lab) -> None:
    """Bad JSON, unknown ids, wrong datatypes, telemetry before an announcement or from a device that never
    announced, a bad status and a bad announcement are each counted, reported at most once per device
    (rate-limited), never reach clients, and the source keeps running."""
    # a retained sample, which the broker replays on every subscription: it would be logged again each time
    await lab.publish("raw", "telemetry", reading(20.0), id="temp", retain=True)
    async with hub_for(lab) as served:
        client = served.client
        await lab.publish("raw", "telemetry", reading(1.0), id="temp")  # before the announcement
        await lab.publish("raw", "announce", SMALL, retain=True)
        await client.wait_for(is_("notification", code="templates_changed"))
        assert (await client.call("subscribe", {"all": True}))["subscribed"] == ["count", "temp"]
        bad = [
            ("raw", "telemetry", b"{not json", "temp"),
            ("raw", "telemetry", reading(1.0), "pressure"),
            ("raw", "telemetry", reading("hot"), "temp"),
            ("raw", "telemetry", reading(1.5), "count"),
            ("raw", "telemetry", {"value": 2}, "count"),
            ("raw", "status", "maybe", None),
            ("ghost", "telemetry", reading(1.0), "temp"),
            ("broken", "announce", {"telemetry_types": [{"id": "x"}]}, None),
        ]
        for device, kind, payload, id in bad:
            await lab.publish(device, kind, payload, id=id)
        await lab.publish("raw", "telemetry", reading(21.5), id="temp")
        await lab.publish("raw", "telemetry", reading(3), id="count")
        await lab.publish("raw", "telemetry", reading(21.5), id="temp")  # a redelivery: not after the last
        await lab.publish("raw", "telemetry", reading(22.0, 1_700_000_002.5), id="temp")
        await client.wait_for(is_("data", id="temp", value=22.0))
        await eventually(lambda: served.source.rejected_messages == 1 + 1 + len(bad) + 1)
        reports = await client.wait_for(is_("notification", code="device_message_rejected"), count=3)
        assert served.hub.supervisor.state == "running"
    data = [(m["id"], m["value"]) for m in client.of("data")]
    assert data == [("temp", 21.5), ("count", 3), ("temp", 22.0)]
    await lab.publish("raw", "telemetry", b"", id="temp", retain=True)  # (clears the retained sample)
    assert served.source.rejections.by_device == {"raw": 9, "ghost": 1, "broken": 1}
    assert len(client.of("notification", code="device_message_rejected")) == 3  # one per device
    assert "/raw/telemetry/temp: retained telemetry are replays" in reports[0]["message"]  # raw's first


async def test_a_sample_from_the_future_is_refused_and_the_next_real_ones_are_accepted(lab: Lab) -> None:
    """A sample stamped 30 s ahead of the hub's clock is refused as future_timestamp and never reaches
    clients, and the device's next real samples are accepted, not refused as not after it."""
    async with hub_for(lab) as served:
        client = served.client
        await lab.publish("drifty", "announce", SMALL, retain=True)
        await client.wait_for(is_("notification", code="templates_changed"))
        assert (await client.call("subscribe", {"ids": ["temp"]}))["ok"] is True
        now = time.time()
        await lab.publish("drifty", "telemetry", reading(99.0, now + 30), id="temp")
        for value, offset in ((20.0, 0.0), (20.5, 0.1), (21.0, 0.2)):
            await lab.publish("drifty", "telemetry", reading(value, now + offset), id="temp")
        await client.wait_for(is_("data", id="temp", value=21.0))
        (report,) = client.of("notification", code="device_message_rejected")
    assert [m["value"] for m in client.of("data", id="temp")] == [20.0, 20.5, 21.0]
    assert "/drifty/telemetry/temp: temp at " in report["message"]
    assert "ahead of the hub's clock (over HUB_MQTT_MAX_FUTURE_S=5)" in report["message"]
    assert served.source.rejected_device_messages() == {"drifty": {"future_timestamp": 1}}


async def test_refused_device_messages_show_in_health_and_metrics_by_device_and_reason(lab: Lab) -> None:
    """/health's source.rejected_device_messages and hub_device_messages_rejected_total count every refused
    device message by device and reason, and hub_messages_dropped_total counts them all."""
    async with hub_for(lab) as served:
        client = served.client
        await lab.publish("drifty", "announce", SMALL, retain=True)
        await client.wait_for(is_("notification", code="templates_changed"))
        assert (await client.call("subscribe", {"all": True}))["ok"] is True
        now = time.time()
        refused = [
            ("drifty", reading(6, now + 30), "count"),
            ("drifty", reading(7, now + 3600), "count"),
            ("drifty", reading(20.0, now), "temp"),  # accepted
            ("drifty", reading(20.0, now), "temp"),  # a redelivery
            ("drifty", b"{not json", "temp"),
            ("ghost", reading(1.0, now), "temp"),
        ]
        for device, payload, id in refused:
            await lab.publish(device, "telemetry", payload, id=id)
        await lab.publish("drifty", "telemetry", reading(21.0, now + 0.1), id="temp")
        await client.wait_for(is_("data", id="temp", value=21.0))  # after every message above
        health = await served.get("/health")
        metrics = await scrape(served.url)
    assert health["status"] == "ok"
    assert health["source"]["rejected_device_messages"] == {
        "total": 5,
        "by_device": {
            "drifty": {"future_timestamp": 2, "stale_timestamp": 1, "bad_payload": 1},
            "ghost": {"not_announced": 1},
        },
    }
    rejected = {name: n for name, n in metrics.items() if name.startswith("hub_device_messages_rejected")}
    assert rejected == {
        'hub_device_messages_rejected_total{device="drifty",reason="bad_payload"}': 1,
        'hub_device_messages_rejected_total{device="drifty",reason="future_timestamp"}': 2,
        'hub_device_messages_rejected_total{device="drifty",reason="stale_timestamp"}': 1,
        'hub_device_messages_rejected_total{device="ghost",reason="not_announced"}': 1,
    }
    assert metrics['hub_messages_dropped_total{reason="rejected_device_message"}'] == 5
    assert [(m["id"], m["value"]) for m in client.of("data")] == [("temp", 20.0), ("temp", 21.0)]


async def test_a_conflicting_announcement_is_refused_until_the_owner_withdraws(lab: Lab) -> None:
    """A second device claiming a telemetry id is refused with templates_conflict; once the first device's
    retained announcement is cleared, the refused one is accepted."""
    theirs = {
        "telemetry_types": [
            {"id": "temp", "datatype": "float", "unit": "K", "rate_hz": 1},
            {"id": "wind", "datatype": "float", "rate_hz": 1},
        ],
        "command_templates": [],
    }
    async with hub_for(lab) as served:
        client = served.client
        await lab.publish("first", "announce", SMALL, retain=True)
        await client.wait_for(is_("notification", code="templates_changed"))
        await lab.publish("second", "announce", theirs, retain=True)
        (conflict,) = await client.wait_for(is_("notification", code="templates_conflict"))
        assert "'temp' is already announced by device 'first'" in conflict["message"]
        assert [t["id"] for t in await served.get("/telemetry-types")] == ["temp", "count"]
        await lab.publish("first", "announce", b"", retain=True)
        changed = await client.wait_for(is_("notification", code="templates_changed"), count=2)
        assert changed[1]["details"] == {
            "added_types": ["wind"], "removed_types": ["count"], "changed_types": ["temp"]
        }  # fmt: skip
        types = await served.get("/telemetry-types")
        assert [(t["id"], t["unit"]) for t in types] == [("temp", "K"), ("wind", None)]


@pytest.mark.parametrize("code", get_args(HubNotificationCode))
async def test_a_device_cannot_send_a_notification_code_the_hub_reserves(lab: Lab, code: str) -> None:
    """A device's notification with a code the hub publishes itself is refused as reserved_code and never
    reaches clients; a code of the device's own still does."""
    async with hub_for(lab) as served:
        client = served.client
        await lab.publish("forger", "notifications", {"level": "critical", "code": code, "message": "forged"})
        own = {"level": "info", "code": "hatch_open", "message": "own"}
        await lab.publish("forger", "notifications", own)
        await client.wait_for(is_("notification", code="hatch_open"))  # after the forged one, if it came
    from_device = [m for m in client.of("notification") if m["message"].startswith("forger: ")]
    assert [(m["code"], m["message"]) for m in from_device] == [("hatch_open", "forger: own")]
    (report,) = client.of("notification", code="device_message_rejected")
    assert f"code {code!r} is reserved for the hub" in report["message"]
    assert served.source.rejected_device_messages() == {"forger": {"reserved_code": 1}}


def mosquitto() -> str | None:
    """The path of the mosquitto broker, looked for in the sbin folders too, or None."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
    return shutil.which("mosquitto", path=search)


async def start_broker(port: int) -> asyncio.subprocess.Process:
    """A Mosquitto of our own on `port` (no persistence), to stop and start under the hub."""
    binary = mosquitto()
    assert binary is not None
    process = await asyncio.create_subprocess_exec(
        binary, "-p", str(port), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await eventually(lambda: reachable(port), within=10)  # mosquitto says nothing when it listens
    return process


async def stop_broker(process: asyncio.subprocess.Process) -> None:
    """Terminate the broker unless it has exited, and wait for it."""
    if process.returncode is None:
        process.terminate()
    await process.wait()


@pytest.mark.skipif(mosquitto() is None, reason="the mosquitto program is not installed")
async def test_the_source_reconnects_when_the_broker_comes_back() -> None:
    """When the broker goes away the source is reported down; once it is back the Supervisor connects again
    (with backoff), the emulator announces itself again and telemetry resumes."""
    lab = Lab(port=free_port())
    broker = await start_broker(lab.port)
    try:
        async with hub_for(lab) as served:
            client = served.client
            await lab.emulator("craft3")
            await client.wait_for(is_("notification", code="templates_changed"), within=20)
            assert (await client.call("subscribe", {"ids": ["battery_voltage"]}))["ok"] is True
            await client.wait_for(is_("data", id="battery_voltage"), within=10)
            await stop_broker(broker)
            (down,) = await client.wait_for(is_("notification", code="source_disconnected"), within=10)
            assert down["level"] == "critical"
            broker = await start_broker(lab.port)
            resumed = lambda m: is_("data", id="battery_voltage")(m) and m["seq"] > down["seq"]  # noqa: E731
            await client.wait_for(resumed, within=30)
            back = lambda m: is_("notification", code="source_connected")(m) and m["seq"] > down["seq"]  # noqa: E731
            await client.wait_for(back, within=5)  # once it has stayed connected for a second
            assert served.hub.supervisor.state == "running" and served.source.connected
            assert len(client.of("notification", code="source_disconnected")) == 1  # not one per retry
    finally:
        await lab.close()
        await stop_broker(broker)
