"""What only the PostgreSQL backend has: selection by URL, start-up errors, and hubs sharing one database
without ever handing out a seq twice. (Everything the backends share runs on it in test_history.py,
test_aggregate.py and test_http.py.)"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from hub.errors import ConfigurationError
from hub.history import HistoryLog, Record, open_backend
from hub.history.postgres import PostgresHistory
from tests.backends import POSTGRES_URL, Store

ROOT = Path(__file__).parent.parent


@pytest.fixture
async def postgres(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh PostgreSQL store, dropped afterwards (the test skips where no server answers)."""
    store = await Store.create("postgres", tmp_path)
    try:
        yield store
    finally:
        await store.dispose()


async def fill(log: HistoryLog, count: int) -> list[int]:
    """Append `count` data records and flush them; return their seqs."""
    seqs = [log.next_seq() for _ in range(count)]
    for seq in seqs:
        log.append(Record(seq, "data", "a", seq, f'{{"value":{seq}}}'))
    await log.flush()
    return seqs


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_a_postgresql_url_selects_the_backend_and_creates_its_tables(
    postgres: Store, scheme: str
) -> None:
    """Both schemes open PostgresHistory; the tables and indexes exist (here in a schema named by the
    URL's search_path, which asyncpg passes to the server)."""
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f'CREATE SCHEMA "{postgres.schema}"')
        url = POSTGRES_URL.replace("postgresql", scheme, 1) + f"?search_path={postgres.schema}"
        assert isinstance(open_backend(url), PostgresHistory)
        indexes = await connection.fetch(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1", postgres.schema
        )
    finally:
        await connection.close()
    assert any("(id, time_us)" in row["indexdef"] for row in indexes)
    assert any("(seq)" in row["indexdef"] and "UNIQUE" in row["indexdef"] for row in indexes)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:port/test",
        "postgresql://postgres@127.0.0.1:5432",
        "postgres://postgres@127.0.0.1:5432/",
        "postgresql://postgres@127.0.0.1:5432/test/more",
    ],
)
def test_a_malformed_url_is_refused_naming_the_setting(url: str) -> None:
    """A URL without a database or with a bad port stops start-up saying what the URL should look like."""
    with pytest.raises(
        ConfigurationError, match=r"HUB_HISTORY_URL=.*use postgresql://user@host:port/database"
    ):
        open_backend(url)


def test_an_unreachable_server_stops_start_up_with_a_message_not_a_traceback() -> None:
    """Nothing listening at the URL: the hub exits with status 2 naming the setting and the server, and
    never shows the password."""
    result = subprocess.run(
        [sys.executable, "main.py", "--history-url", "postgresql://hub:secret@127.0.0.1:1/telemetry"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "hub: cannot start" in result.stderr and "Traceback" not in result.stderr
    assert "HUB_HISTORY_URL='postgresql://hub:***@127.0.0.1:1/telemetry'" in result.stderr
    assert "cannot use the PostgreSQL database 127.0.0.1:1/telemetry" in result.stderr
    assert "secret" not in result.stderr


async def test_a_hub_taking_over_continues_above_every_reservation(postgres: Store) -> None:
    """A second hub on the same database starts above what the first reserved; the first one's later
    writes and clean close never move the marks back; a third hub continues above both."""
    first = HistoryLog(postgres(), reserve_ahead=1000)
    await first.open()
    assert await fill(first, 5) == [1, 2, 3, 4, 5]
    second = HistoryLog(postgres(), reserve_ahead=1000)
    await second.open()  # the first is still running: say it hangs, and a standby takes over
    assert second.next_seq() == 1006  # past the first one's reservation (1005)
    assert await fill(first, 1) == [6]  # a late batch of the first, with its older reservation
    await first.close()  # cleanly: it may not hand back numbers the second has reserved since
    third = HistoryLog(postgres(), reserve_ahead=1000)
    await third.open()
    assert third.next_seq() == 2006  # above everything the second reserved (2005)
    await third.close()
    await second.close()
