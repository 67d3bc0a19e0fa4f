"""Settings: environment and flags, flags winning, and start-up refusals that name the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from main import build_settings

ROOT = Path(__file__).parent.parent


def test_defaults() -> None:
    """With nothing set the hub listens on 127.0.0.1:8000 with SQLite and the simulator."""
    settings = build_settings([])
    assert (settings.host, settings.port, settings.source) == ("127.0.0.1", 8000, "simulator")
    assert settings.history_url == "sqlite:///data/history.db"
    assert settings.cors_origins == ["http://localhost:4200"] and settings.max_clients == 10_000


def test_environment_and_flags_with_flags_winning(monkeypatch: pytest.MonkeyPatch) -> None:
    """HUB_* variables set values; a flag overrides its variable."""
    monkeypatch.setenv("HUB_PORT", "9000")
    monkeypatch.setenv("HUB_CORS_ORIGINS", "http://a.test, https://b.test")
    monkeypatch.setenv("HUB_LOG_LEVEL", "DEBUG")
    settings = build_settings(["--port", "9100", "--templates-dir", "elsewhere"])
    assert settings.port == 9100 and settings.templates_dir == Path("elsewhere")
    assert settings.cors_origins == ["http://a.test", "https://b.test"] and settings.log_level == "debug"


def run_main(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run main.py with `args` in a process of its own; its exit status and output."""
    return subprocess.run(
        [sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, env=env
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "http"], "invalid setting HUB_PORT (--port): Input should be a valid integer"),
        (
            ["--port", "70000"],
            "invalid setting HUB_PORT (--port): Input should be less than or equal to 65535",
        ),
        (["--max-clients", "0"], "invalid setting HUB_MAX_CLIENTS (--max-clients)"),
        (
            ["--mqtt-max-future-s", "-1"],
            "invalid setting HUB_MQTT_MAX_FUTURE_S (--mqtt-max-future-s): Input should be greater than",
        ),
        (
            ["--cors-origins", "localhost"],
            "invalid setting HUB_CORS_ORIGINS (--cors-origins): 'localhost'",
        ),
        (["--log-level", "loud"], "invalid setting HUB_LOG_LEVEL (--log-level)"),
        (
            ["--admin-token", "short"],
            "invalid setting HUB_ADMIN_TOKEN (--admin-token): use at least 16",
        ),
        (["--source", "telepathy"], "HUB_SOURCE='telepathy': unknown source; choose one of simulator"),
        (["--history-url", "mongodb://x"], "HUB_HISTORY_URL='mongodb://x': unknown scheme 'mongodb'"),
        (["--history-url", "sqlite://"], "HUB_HISTORY_URL='sqlite://': a SQLite URL needs a path"),
        (
            ["--redis-url", "redis://127.0.0.1:6379/0"],
            "HUB_REDIS_URL is set, so several hub processes share one log, but HUB_HISTORY_URL=sqlite:///",
        ),
        (["--redis-url", "127.0.0.1:6379"], "invalid setting HUB_REDIS_URL (--redis-url)"),
        (
            ["--templates-dir", "/nonexistent"],
            "/nonexistent/telemetry_types.yaml: cannot read the template file",
        ),
    ],
)
def test_bad_settings_stop_start_up_naming_the_setting(args: list[str], message: str) -> None:
    """A bad setting exits with status 2 and a message naming it, without a traceback."""
    result = run_main(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_help_documents_every_setting() -> None:
    """--help lists each flag with its environment variable."""
    result = run_main("--help", env={**os.environ, "COLUMNS": "300"})
    assert result.returncode == 0
    for variable in ("HUB_HOST", "HUB_PORT", "HUB_TEMPLATES_DIR", "HUB_SOURCE", "HUB_HISTORY_URL",
                     "HUB_CORS_ORIGINS", "HUB_MAX_CLIENTS", "HUB_ADMIN_TOKEN", "HUB_LOG_LEVEL"):  # fmt: skip
        assert f"env {variable};" in result.stdout


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    """HUB_HISTORY_URL naming a file that is not SQLite stops start-up with a message, not a traceback."""
    (tmp_path / "notes.db").write_text("shopping list")
    result = run_main("--history-url", f"sqlite:///{tmp_path}/notes.db")
    assert result.returncode == 2 and "file is not a database" in result.stderr
