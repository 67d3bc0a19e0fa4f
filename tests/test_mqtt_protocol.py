"""The MQTT source's parts that need no broker: the broker URL and its registry entry, topics, announcements,
the device registry's conflict rules, and the rate limit on reports of bad messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub.errors import ConfigurationError
from hub.settings import Settings
from hub.sources import create_source
from hub.sources.mqtt.devices import Devices
from hub.sources.mqtt.protocol import Broker, Topics, parse_announce, parse_broker_url
from hub.sources.mqtt.rejections import OTHERS, REPORT_EVERY_S, Rejections
from hub.sources.mqtt.source import MqttSource
from hub.templates import Templates
from main import build_settings

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    ("url", "broker"),
    [
        ("mqtt://127.0.0.1:1883", Broker("127.0.0.1", 1883)),
        ("mqtt://broker.local", Broker("broker.local", 1883)),
        ("mqtt://[::1]:1884/", Broker("::1", 1884)),
        ("mqtt://hub:s3cret@10.0.0.5:8883", Broker("10.0.0.5", 8883, "hub", "s3cret")),
    ],
)
def test_broker_urls(url: str, broker: Broker) -> None:
    """mqtt:// URLs give host, port (1883 by default) and optional credentials."""
    assert parse_broker_url(url, "HUB_SOURCE") == broker
    assert "s3cret" not in str(broker)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mqtt://", "no broker host"),
        ("mqtt://:1883", "no broker host"),
        ("mqtt://host:port", "is not a broker URL"),
        ("mqtt://host:70000", "is not a broker URL"),
        ("mqtt://host:0", "port 0"),
        ("mqtt://host:1883/telemetry", "no path or query"),
        ("mqtt://host?x=1", "no path or query"),
    ],
)
def test_a_malformed_broker_url_names_hub_source(url: str, problem: str) -> None:
    """A malformed mqtt:// URL stops start-up with a ConfigurationError naming HUB_SOURCE and the problem."""
    with pytest.raises(ConfigurationError) as raised:
        create_source(Settings(source=url))
    assert str(raised.value).startswith("HUB_SOURCE") and problem in str(raised.value)


def test_a_password_is_never_shown_in_an_error() -> None:
    """The password of a malformed URL is masked in the message."""
    with pytest.raises(ConfigurationError) as raised:
        parse_broker_url("mqtt://hub:s3cret@host:1883/x", "HUB_SOURCE")
    assert "s3cret" not in str(raised.value) and "hub:***@host" in str(raised.value)


def test_the_registry_selects_the_mqtt_source_by_scheme() -> None:
    """HUB_SOURCE=mqtt://... creates the MQTT source with HUB_MQTT_PREFIX and HUB_MQTT_MAX_FUTURE_S; another
    scheme is refused."""
    settings = Settings(source="mqtt://127.0.0.1:1883", mqtt_prefix="site/a", mqtt_max_future_s=2.5)
    source = create_source(settings)
    assert isinstance(source, MqttSource)
    assert source.name == "mqtt://127.0.0.1:1883" and source.topics.prefix == "site/a"
    assert source.max_future_s == 2.5
    assert source.templates == Templates(telemetry_types=(), command_templates=())
    with pytest.raises(ConfigurationError, match=r"HUB_SOURCE='amqp://x': unknown scheme 'amqp'"):
        create_source(Settings(source="amqp://x"))
    with pytest.raises(ConfigurationError, match="or a broker URL such as mqtt://"):
        create_source(Settings(source="mqtt"))


def test_the_simulator_does_not_load_the_mqtt_client() -> None:
    """aiomqtt is imported only when HUB_SOURCE selects the MQTT source."""
    code = (
        "import sys; from main import build_settings; from hub.sources import create_source; "
        "create_source(build_settings([])); print('aiomqtt' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.stdout.strip() == "False", result.stderr


def test_a_bad_broker_url_stops_main_without_a_traceback() -> None:
    """main.py with a malformed HUB_SOURCE URL exits with status 2 and names the setting."""
    result = subprocess.run(
        [sys.executable, "main.py", "--source", "mqtt://host:port", "--history-url", "memory://"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "HUB_SOURCE" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("prefix", ["", "/hub", "hub/", "a//b", "hub/#", "+", "$SYS"])
def test_a_bad_topic_prefix_is_refused(prefix: str) -> None:
    """HUB_MQTT_PREFIX has no wildcards, no empty levels and does not start with $."""
    with pytest.raises(ConfigurationError, match="HUB_MQTT_PREFIX"):
        build_settings(["--mqtt-prefix", prefix])


def test_topics_name_and_parse_device_topics() -> None:
    """Topics round-trip through parse; anything else under the prefix says why it is not a device topic."""
    topics = Topics("site/a")
    assert topics.of("craft1", "telemetry", "battery_temp") == "site/a/devices/craft1/telemetry/battery_temp"
    assert topics.parse("site/a/devices/craft1/telemetry/battery_temp") == (
        "craft1",
        "telemetry",
        "battery_temp",
    )
    assert topics.parse("site/a/devices/craft-1.b/status") == ("craft-1.b", "status", None)
    assert "site/a/devices/+/telemetry/+" in topics.from_devices()
    assert not any(pattern.endswith("commands") for pattern in topics.from_devices())
    for bad in (
        "site/a/devices/craft1/telemetry/",
        "site/a/devices/craft1/status/x",
        "site/a/devices/b@d/status",
    ):
        with pytest.raises(ValueError):
            topics.parse(bad)


def announcement(*ids: str, commands: tuple[str, ...] = (), unit: str | None = None) -> Templates:
    """The templates that a device announcing `ids` and `commands` parses to."""
    return parse_announce(
        json.dumps(
            {
                "telemetry_types": [{"id": i, "datatype": "float", "rate_hz": 1, "unit": unit} for i in ids],
                "command_templates": [{"command": c} for c in commands],
            }
        ).encode()
    )


ONE = {"id": "a", "datatype": "float", "rate_hz": 1}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"telemetry_types": [], "command_templates": [], "x": 1}, "x: Extra inputs are not permitted"),
        ({"telemetry_types": [{**ONE, "rate_hz": 0}], "command_templates": []}, "rate_hz"),
        ({"telemetry_types": [ONE, ONE], "command_templates": []}, "duplicate telemetry id 'a'"),
        ({"telemetry_types": [], "command_templates": [{"command": "go"}] * 2}, "duplicate command 'go'"),
    ],
)
def test_a_bad_announcement_says_why(document: dict[str, Any], problem: str) -> None:
    """An announcement is validated like the template files, duplicates included."""
    with pytest.raises(ValueError, match=problem):
        parse_announce(json.dumps(document).encode())


def test_the_first_owner_of_an_id_wins_until_it_withdraws() -> None:
    """A device claiming an owned id or command is refused whole, then accepted when the owner leaves."""
    devices = Devices()
    assert devices.announce("a", announcement("x", commands=("go",))) is None
    assert devices.announce("b", announcement("y", commands=("go",))) == (
        "command 'go' is already announced by device 'a'"
    )
    assert devices.refused("b") and not devices.announced("b")
    assert [t.id for t in devices.templates.telemetry_types] == ["x"]
    assert devices.owner_of_command("go") == "a"
    devices.withdraw("a")
    assert devices.announced("b") and devices.owner_of_command("go") == "b"
    assert devices.telemetry_type("b", "y") is not None and devices.telemetry_type("a", "x") is None


def test_a_device_may_change_its_own_announcement() -> None:
    """Re-announcing replaces the device's own templates (no conflict with itself), freeing what it drops."""
    devices = Devices()
    devices.announce("a", announcement("x", "y"))
    assert devices.announce("b", announcement("y", unit="K")) is not None
    assert devices.announce("a", announcement("x", "z")) is None
    assert [t.id for t in devices.templates.telemetry_types] == ["x", "z", "y"]
    assert devices.telemetry_type("b", "y") is not None


def test_status_changes_are_reported_once() -> None:
    """set_status says whether the status changed; a cleared status is forgotten silently."""
    devices = Devices()
    assert devices.set_status("a", "online") and not devices.set_status("a", "online")
    assert devices.set_status("a", "offline") and not devices.set_status("a", None)
    assert devices.set_status("a", "offline")


def test_reports_of_bad_messages_are_rate_limited_per_device() -> None:
    """Every bad message is counted; per device one report at once, then at most one per REPORT_EVERY_S,
    saying how many were not reported in between."""
    now = [100.0]
    rejections = Rejections(clock=lambda: now[0])
    assert rejections.reject("a", "t/a", "bad_payload", "bad JSON") == "refused a message on t/a: bad JSON"
    assert [rejections.reject("a", "t/a", "bad_payload", "bad JSON") for _ in range(5)] == [None] * 5
    assert rejections.reject("b", "t/b", "not_announced", "no announcement") is not None
    now[0] += REPORT_EVERY_S
    report = rejections.reject("a", "t/a", "not_announced", "unknown id")
    assert report == "refused a message on t/a: unknown id (5 more from a since the last report)"
    assert rejections.total == 8 and rejections.by_device == {"a": 7, "b": 1}
    assert rejections.counts() == {"a": {"bad_payload": 6, "not_announced": 1}, "b": {"not_announced": 1}}


def test_devices_past_the_bound_share_one_count() -> None:
    """Past max_devices, new device names are counted together as OTHERS, so the counts (and the metric's
    series) stay bounded whatever names arrive; devices already counted keep their own."""
    rejections = Rejections(max_devices=2)
    for device in ("a", "b", "c", "d", "a"):
        rejections.reject(device, f"t/{device}", "not_announced", "no announcement")
    rejections.reject("e", "t/e", "future_timestamp", "ahead")
    assert rejections.counts() == {
        "a": {"not_announced": 2},
        "b": {"not_announced": 1},
        OTHERS: {"not_announced": 2, "future_timestamp": 1},
    }
    assert rejections.total == 6
