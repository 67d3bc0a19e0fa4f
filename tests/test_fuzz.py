"""Property-based tests at the hub's edges: arbitrary JSON at every client event and HTTP parameter.

Each test starts one hub (the `running` fixture: real uvicorn, the fake source) and runs all of its hypothesis
examples against it. Hypothesis is synchronous, so it runs in a worker thread while the hub and the
python-socketio clients stay on the test's event loop; the thread hands each call to that loop. A watcher
client subscribed to `counter` checks at the end that it received every value the source produced meanwhile,
in order. Each test prints how many examples it ran (see them with `pytest -s` or `-rP`).

Inputs that broke the contract when these tests were written are pinned by small example-based tests (an
event named '*', a 101-digit integer, a deeply nested cursor), and the generic strategies leave them out so
that they keep exploring everything else.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar, get_args

import httpx
import hypothesis
import hypothesis.core
import pytest
import schemathesis
import socketio
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from hypothesis.vendor import pretty
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.generation.hypothesis import setup as schemathesis_setup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.errors import ErrorCode
from hub.history import HistoryBackend
from hub.history.memory import MemoryHistory
from hub.history.sqlite import SqliteHistory
from hub.settings import Settings
from hub.templates import load_templates
from tests.conftest import ADMIN_TOKEN, RunningHub
from tests.fakes import TEST_TEMPLATES
from tests.support import Client, watched

# schemathesis (its pytest plugin at start-up, or its first strategy) replaces hypothesis's printer for the
# whole process with one that prints nothing, a speed-up for its own runs; falsifying examples then read
# `example(event=, args=)`. Let it patch now (it does so once), then put hypothesis's printer back.
schemathesis_setup()
hypothesis.core.RepresentationPrinter = pretty.RepresentationPrinter  # type: ignore[attr-defined]

T = TypeVar("T")
Ack = dict[str, Any]

MAX_EXAMPLES = 300
"""Examples per Socket.IO event, per HTTP operation and for connect: the file runs in about 30 s."""
SCHEMATHESIS_EXAMPLES = 50

FUZZ = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,  # a round trip to a real server; its time is not the property under test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

DOCUMENTED_CODES = frozenset(get_args(ErrorCode))
HANDLED_EVENTS = frozenset({"subscribe", "unsubscribe", "command"})
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
"""Socket.IO's reserved names; tests/test_server.py covers a client that emits connect or disconnect."""
CATCH_ALL = "*"
"""python-socketio's name for the catch-all handler: test_an_event_named_star_gets_an_ack covers it."""
INT_DIGITS_LIMIT = 100
"""python-socketio refuses packets holding an integer literal longer than this: see
test_a_huge_integer_gets_an_ack. The generic strategies stay below it (hypothesis's integers() does)."""

TEMPLATES = load_templates(TEST_TEMPLATES)
IDS = [t.id for t in TEMPLATES.telemetry_types]
GROUPS = sorted({t.group for t in TEMPLATES.telemetry_types if t.group})
COMMANDS = [c.command for c in TEMPLATES.command_templates]
PARAMETERS = sorted({p.name for c in TEMPLATES.command_templates for p in c.parameters})
ENUM_VALUES = sorted({v for c in TEMPLATES.command_templates for p in c.parameters for v in p.values or ()})
MESSAGE_TYPES = ["data", "confirmation", "notification"]
QUERY_PARAMETERS = ["ids", "type", "start", "end", "after_seq", "limit", "order", "cursor"]


# --- strategies --------------------------------------------------------------------------------------------

EDGE_INTS = [2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, -(10**38), 10**99]
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(EDGE_INTS)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def either(targeted: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the targeted values, sometimes anything at all."""
    return targeted | targeted | json_values


names = st.sampled_from(IDS + GROUPS) | st.text(max_size=130)
name_lists = (
    st.lists(names, max_size=6)
    | st.integers(998, 1001).map(lambda n: [IDS[0]] * n)  # around the documented limit of 1000
    | st.lists(st.text(min_size=127, max_size=130), max_size=2)  # around the 128-character limit
)
seqs = st.integers(-2, 10**6) | st.sampled_from(EDGE_INTS)
subscriptions = st.fixed_dictionaries(
    {},
    optional={
        "ids": either(name_lists),
        "groups": either(name_lists),
        "all": either(st.booleans()),
        "since": either(seqs),
    },
)
parameter_values = (
    st.sampled_from(ENUM_VALUES) | st.floats(0.4, 2.1) | st.integers(-1, 12) | st.booleans() | json_values
)
commands = st.fixed_dictionaries(
    {},
    optional={
        "type": either(st.just("command")),
        "command": either(st.sampled_from(COMMANDS) | st.text(max_size=130)),
        "parameters": either(
            st.dictionaries(st.sampled_from(PARAMETERS) | st.text(max_size=10), parameter_values, max_size=6)
        ),
        "request_id": either(st.text(max_size=130)),
    },
)
any_keys = st.dictionaries(
    st.sampled_from(["ids", "groups", "all", "since", "command", "parameters", "request_id", "type"])
    | st.text(),
    json_values,
    max_size=6,
)
"""Valid keys (and others) with arbitrary values."""


def arguments(payloads: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
    """Mostly one payload, sometimes none or several (each may be any JSON)."""
    one = payloads | any_keys | json_values
    return one.map(lambda p: (p,)) | one.map(lambda p: (p,)) | st.lists(one, max_size=4).map(tuple)


connect_auths = (
    st.none()
    | st.fixed_dictionaries(
        {}, optional={"since": either(seqs), "token": either(st.just(ADMIN_TOKEN) | st.text(max_size=600))}
    )
    | st.dictionaries(st.sampled_from(["since", "token"]) | st.text(), json_values, max_size=3)
)
"""`auth` objects: the Socket.IO protocol allows nothing else (python-socketio sends a number as `01.0`,
which its own server reads as packet id 1 followed by junk, and drops)."""
unknown_events = st.text(max_size=40).filter(
    lambda name: name not in HANDLED_EVENTS | RESERVED_EVENTS | {CATCH_ALL}
)


def comma_lists(items: list[str]) -> st.SearchStrategy[str]:
    """Comma-separated lists of `items` mixed with arbitrary words, as a query parameter."""
    return st.lists(st.sampled_from(items) | st.text(max_size=8), max_size=4).map(",".join)


offsets = st.none() | st.integers(-(24 * 60) + 1, 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
moments = (
    st.datetimes(timezones=offsets).map(lambda d: d.isoformat())
    | st.datetimes().map(lambda d: d.isoformat() + "Z")
    | st.dates().map(str)
    | st.integers().map(str)
    | st.floats(allow_nan=False).map(str)
    | st.text()
)
numbers = st.integers().map(str) | st.sampled_from([str(i) for i in EDGE_INTS]) | st.text(max_size=8)


def cursors(real: list[str]) -> st.SearchStrategy[str]:
    """Real cursors (valid for some filters), things shaped like them, and junk."""

    def encoded(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return (
        st.sampled_from(real)
        | st.tuples(json_values, json_values).map(lambda pair: encoded(list(pair)))
        | st.tuples(st.integers(), st.text(max_size=12)).map(lambda pair: encoded(list(pair)))
        | json_values.map(encoded)
        | st.binary().map(lambda raw: base64.urlsafe_b64encode(raw).decode())
        | st.text()
    )


def history_queries(real_cursors: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Query strings for GET /historical-data: each parameter zero, one or more times, plus extra ones."""
    values: dict[str, st.SearchStrategy[str]] = {
        "ids": comma_lists(IDS),
        "type": comma_lists(MESSAGE_TYPES),
        "start": moments,
        "end": moments,
        "after_seq": numbers,
        "limit": st.integers(-2, 10_002).map(str) | numbers,
        "order": st.sampled_from(["asc", "desc", "ASC", "", "random"]) | st.text(max_size=5),
        "cursor": cursors(real_cursors),
    }
    known = st.sampled_from(QUERY_PARAMETERS).flatmap(
        lambda key: (values[key] | st.text()).map(lambda value: (key, value))
    )
    extra = st.tuples(st.text(max_size=10), st.text())
    return st.lists(known | known | known | extra, max_size=8)


header_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.just(" "), max_size=60).map(
    str.strip
)
authorizations = st.none() | st.one_of(
    st.just(f"Bearer {ADMIN_TOKEN}"),
    st.sampled_from(
        ["Bearer", f"bearer {ADMIN_TOKEN}", f"BEARER {ADMIN_TOKEN}", f"Basic {ADMIN_TOKEN}", ADMIN_TOKEN]
    ),
    st.sampled_from([ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x", f" {ADMIN_TOKEN}"]).map(
        lambda token: f"Bearer {token}"
    ),
    header_text.map(lambda text: f"Bearer {text}"),
    header_text,
).map(str.strip)
"""Authorization headers (or none), all legal header values: printable ASCII, no surrounding blanks."""


# --- helpers -----------------------------------------------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    """The usual test settings, with the command and event budgets lifted: the fuzzer sends hundreds of
    events a second, which must reach validation rather than be turned away as too many."""
    unlimited = {"command_rate": 1e9, "command_burst": 10**9, "event_rate": 1e9, "event_burst": 10**9}
    unlimited |= {"address_event_rate": 1e9, "address_event_burst": 10**9}
    return Settings.model_validate(
        {"templates_dir": TEST_TEMPLATES, "history_url": "memory://", "admin_token": ADMIN_TOKEN} | unlimited
    )


@pytest.fixture
def history(request: pytest.FixtureRequest, tmp_path: Path) -> HistoryBackend:
    """Memory unless a test asks for `sqlite` through indirect parametrization."""
    if getattr(request, "param", "memory") == "sqlite":
        return SqliteHistory(tmp_path / "history.db")
    return MemoryHistory()


def on(loop: asyncio.AbstractEventLoop, call: Coroutine[Any, Any, T], within: float = 15) -> T:
    """Run `call` on the hub's loop from hypothesis's thread and wait for its result."""
    return asyncio.run_coroutine_threadsafe(call, loop).result(within)


def fresh_connections(url: str) -> httpx.Client:
    """A client opening a connection per request. On a kept-alive connection each small answer waits about
    40 ms: tests.support.serve's socket is made without IPPROTO_TCP, so asyncio does not set TCP_NODELAY on
    the connections it accepts, and Nagle's algorithm meets the client's delayed ACK."""
    return httpx.Client(base_url=url, limits=httpx.Limits(max_keepalive_connections=0))


def seed_history(running: RunningHub, clock: Callable[[], float]) -> None:
    """Log some values (of other ids than the watcher's `counter`) so that queries find pages."""
    for i in range(30):
        running.source.emit(("voltage", "current")[i % 2], 28.0 + i / 10, clock())


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing was logged at ERROR or above: no exception escaped a handler, here or in python-socketio."""
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, "\n".join(f"{r.name}: {r.getMessage()}\n{r.exc_text or ''}" for r in errors)


def report(record_property: Callable[[str, object], None], label: str, count: int, minimum: int) -> None:
    """Record how many examples hypothesis ran, and fail if fewer than `minimum` did."""
    print(f"\n{label}: {count} hypothesis examples")
    record_property(label, count)
    assert count >= minimum, f"only {count} examples ran"


def check_error(ack: Ack, allowed: set[str]) -> None:
    """Check that `ack` refuses with a documented code among `allowed` and a message."""
    assert ack["ok"] is False, ack
    error = ack["error"]
    assert error["code"] in DOCUMENTED_CODES, ack
    assert error["code"] != "internal_error", f"an exception escaped the handler: {ack}"
    assert error["code"] in allowed, ack
    assert isinstance(error["message"], str) and error["message"], ack


def check_ack(event: str, args: tuple[Any, ...], ack: Any) -> None:
    """The ack fits the documented shape of `event`'s answer to `args`."""
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
    if event not in HANDLED_EVENTS:
        check_error(ack, {"unknown_event"})
        assert ack["error"]["details"] == {"event": event}, ack
        return
    if len(args) != 1 or not isinstance(args[0], dict):
        check_error(ack, {"bad_request"})
    elif not ack["ok"]:
        allowed = {"bad_request", "unknown_telemetry_type"}
        check_error(
            ack, {"bad_request", "unknown_command", "invalid_parameters"} if event == "command" else allowed
        )
    elif event == "command":
        assert ack["status"] == "accepted" and isinstance(ack["command_id"], str), ack
        assert isinstance(ack["seq"], int) and ack.get("request_id") == args[0].get("request_id"), ack
    else:
        assert ack["subscribed"] == sorted(ack["subscribed"]) and set(ack["subscribed"]) <= set(IDS), ack
        if event == "unsubscribe":
            assert set(ack["unsubscribed"]) <= set(IDS) - set(ack["subscribed"]), ack


# --- Socket.IO ---------------------------------------------------------------------------------------------

EVENT_CASES = {
    "subscribe": (st.just("subscribe"), arguments(subscriptions)),
    "unsubscribe": (st.just("unsubscribe"), arguments(subscriptions)),
    "command": (st.just("command"), arguments(commands)),
    "unknown event": (unknown_events, arguments(subscriptions | commands)),
}


@pytest.mark.parametrize("case", list(EVENT_CASES))
async def test_every_event_gets_a_documented_ack(
    running: RunningHub,
    clock: Callable[[], float],
    caplog: pytest.LogCaptureFixture,
    record_property: Callable[[str, object], None],
    case: str,
) -> None:
    """Any arguments to any event get an ack of the documented shape, and other clients keep streaming."""
    events, args_strategy = EVENT_CASES[case]
    loop = asyncio.get_running_loop()
    fuzzer = await running.client()
    count = 0

    @FUZZ
    @given(event=events, args=args_strategy)
    def example(event: str, args: tuple[Any, ...]) -> None:
        nonlocal count
        count += 1
        ack = on(loop, fuzzer.sio.call(event, args, timeout=5))
        check_ack(event, args, ack)

    async with watched(running.url, running.source, clock):
        await asyncio.to_thread(example)
    assert fuzzer.sio.connected
    assert (await fuzzer.call("subscribe", {"ids": []}))["ok"] is True
    no_errors_logged(caplog)
    report(record_property, f"socket.io {case}", count, MAX_EXAMPLES)


async def test_any_connect_auth_connects_or_is_refused_with_a_reason(
    running: RunningHub,
    clock: Callable[[], float],
    caplog: pytest.LogCaptureFixture,
    record_property: Callable[[str, object], None],
) -> None:
    """Any `auth` object on connect either connects a working client or gets connect_error with a message
    and a code; other clients keep streaming."""
    loop = asyncio.get_running_loop()
    count = 0

    async def attempt(auth: Any) -> None:
        client = Client()
        try:
            await client.connect(running.url, auth=auth)
        except socketio.exceptions.ConnectionError:
            [refusal] = client.connect_errors
            assert isinstance(refusal["message"], str) and refusal["message"], refusal
            assert isinstance(refusal["data"]["code"], str), refusal
        else:
            assert (await client.call("subscribe", {"ids": []}))["ok"] is True
        finally:
            await client.close()

    @FUZZ
    @given(auth=connect_auths)
    def example(auth: Any) -> None:
        nonlocal count
        count += 1
        on(loop, attempt(auth))

    async with watched(running.url, running.source, clock):
        await asyncio.to_thread(example)
    no_errors_logged(caplog)
    report(record_property, "socket.io connect auth", count, MAX_EXAMPLES)


async def test_an_event_named_star_gets_an_ack(running: RunningHub) -> None:
    """An event named '*' (python-socketio's catch-all name) is an unknown event like any other."""
    client = await running.client()
    for args in ((), ({"ids": ["voltage"]},)):
        ack = await client.sio.call(CATCH_ALL, args, timeout=2)
        assert ack["ok"] is False and ack["error"]["code"] == "unknown_event", (args, ack)
        assert ack["error"]["details"] == {"event": CATCH_ALL}, (args, ack)


@pytest.mark.parametrize("event", ["subscribe", "command"])
async def test_a_huge_integer_gets_an_ack(running: RunningHub, event: str) -> None:
    """A payload holding an integer of more than 100 digits is answered too (it is a bad request)."""
    client = await running.client()
    huge = 10**INT_DIGITS_LIMIT  # 101 digits
    payload = (
        {"ids": [huge]} if event == "subscribe" else {"command": "configure", "parameters": {"count": huge}}
    )
    ack = await client.call(event, payload, within=2)
    assert ack["ok"] is False and ack["error"]["code"] in {"bad_request", "invalid_parameters"}, ack


# --- HTTP --------------------------------------------------------------------------------------------------


def check_response(response: httpx.Response) -> Any:
    """2xx or 4xx, never 5xx; JSON; a 4xx says why in a non-empty `message`. Returns the body."""
    request = f"{response.request.method} {response.request.url}"
    assert response.status_code < 500, f"{request}: {response.status_code} {response.text}"
    assert 200 <= response.status_code < 300 or 400 <= response.status_code < 500, request
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"], (
            request,
            body,
        )
    return body


@pytest.mark.parametrize("history", ["memory", "sqlite"], indirect=True)
async def test_any_history_query_is_answered_without_a_server_error(
    running: RunningHub,
    clock: Callable[[], float],
    caplog: pytest.LogCaptureFixture,
    record_property: Callable[[str, object], None],
) -> None:
    """GET /historical-data with any values of any parameters is a page or a 4xx with a message."""
    seed_history(running, clock)
    async with httpx.AsyncClient(base_url=running.url) as setup:
        real_cursors = []
        for params in (
            {"limit": "2"},
            {"type": "data", "limit": "1"},
            {"ids": "voltage", "order": "desc", "limit": "1"},
        ):
            next_cursor = (await setup.get("/historical-data", params=params)).json()["next"]
            assert next_cursor is not None
            real_cursors.append(next_cursor)
    count = 0

    @FUZZ
    @given(query=history_queries(real_cursors))
    def example(query: list[tuple[str, str]]) -> None:
        nonlocal count
        count += 1
        body = check_response(http.get("/historical-data", params=tuple(query)))
        if isinstance(body, dict) and "items" in body:
            assert isinstance(body["items"], list) and (body["next"] is None or isinstance(body["next"], str))

    async with watched(running.url, running.source, clock):
        with fresh_connections(running.url) as http:
            await asyncio.to_thread(example)
    no_errors_logged(caplog)
    report(record_property, "GET /historical-data", count, MAX_EXAMPLES)


@pytest.mark.parametrize("history", ["memory", "sqlite"], indirect=True)
async def test_any_delete_is_answered_without_a_server_error(
    running: RunningHub,
    clock: Callable[[], float],
    caplog: pytest.LogCaptureFixture,
    record_property: Callable[[str, object], None],
) -> None:
    """DELETE /historical-data with any `before` and any Authorization is 200, 401 or 422 with a message."""
    count = 0

    @FUZZ
    @given(
        before=st.none() | moments,
        authorization=authorizations,
        extra=st.lists(st.tuples(st.text(max_size=10), st.text()), max_size=2),
    )
    def example(before: str | None, authorization: str | None, extra: list[tuple[str, str]]) -> None:
        nonlocal count
        count += 1
        params = [("before", before)] if before is not None else []
        headers = {"Authorization": authorization} if authorization is not None else {}
        response = http.delete("/historical-data", params=tuple(params + extra), headers=headers)
        body = check_response(response)
        scheme, _, token = (authorization or "").partition(" ")
        authorized = scheme.lower() == "bearer" and token.strip() == ADMIN_TOKEN  # as RFC 7235 reads
        assert response.status_code in ((200, 422) if authorized else (401, 422)), (authorization, body)
        if response.status_code == 200:
            assert isinstance(body["deleted"], int) and body["deleted"] >= 0, body

    async with watched(running.url, running.source, clock):
        with fresh_connections(running.url) as http:
            await asyncio.to_thread(example)
    no_errors_logged(caplog)
    report(record_property, "DELETE /historical-data", count, MAX_EXAMPLES)


async def test_a_deeply_nested_cursor_is_refused_not_a_server_error(running: RunningHub) -> None:
    """A cursor decoding to deeply nested JSON is refused with 422 naming the cursor, not a 500."""
    nested = base64.urlsafe_b64encode(b"[" * 2000).decode()
    async with httpx.AsyncClient(base_url=running.url) as http:
        response = await http.get("/historical-data", params={"cursor": nested})
    assert response.status_code == 422, (response.status_code, response.text)
    assert response.json()["message"].startswith("cursor: ")


# --- schemathesis ------------------------------------------------------------------------------------------


CHECKS: dict[str, list[schemathesis.CheckFunction]] = {
    "no server error": [not_a_server_error],
    "answers fit the document": [
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ],
}
"""Two passes, so that a mismatch with the document does not stop the search for server errors."""


def fuzz_operation(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    url: str,
    checks: list[schemathesis.CheckFunction],
    counts: dict[str, int],
) -> None:
    """Schemathesis's valid and invalid requests for `operation`, half of them with the admin token."""
    cases = operation.as_strategy(schemathesis.GenerationMode.POSITIVE) | operation.as_strategy(
        schemathesis.GenerationMode.NEGATIVE
    )

    @hypothesis.settings(FUZZ, max_examples=SCHEMATHESIS_EXAMPLES)
    @given(case=cases, authorized=st.booleans())
    def example(case: schemathesis.Case[Any], authorized: bool) -> None:
        counts[operation.label] += 1
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if authorized else None
        case.call_and_validate(base_url=url, headers=headers, checks=checks)

    example()


@pytest.mark.parametrize("checks", list(CHECKS))
async def test_schemathesis_passes_every_operation(
    running: RunningHub,
    clock: Callable[[], float],
    caplog: pytest.LogCaptureFixture,
    record_property: Callable[[str, object], None],
    checks: str,
) -> None:
    """Every operation of /openapi.json, with valid and invalid inputs, passes schemathesis's `checks`."""
    seed_history(running, clock)
    counts: dict[str, int] = {}
    failures: list[BaseException] = []
    failed: list[str] = []

    def run() -> None:
        schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
        operations = []
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operations.append(result.ok())
        assert {op.label for op in operations} >= {
            "GET /health",
            "GET /telemetry-types",
            "GET /command-templates",
            "GET /historical-data",
            "DELETE /historical-data",
        }
        for operation in operations:
            counts[operation.label] = 0
            try:
                fuzz_operation(operation, running.url, CHECKS[checks], counts)
            except (Exception, schemathesis.errors.FailureGroup) as failure:  # all are reported below
                failures.append(failure)
                found = failure.exceptions if isinstance(failure, BaseExceptionGroup) else [failure]
                failed.append(f"{operation.label}: {', '.join(str(f).splitlines()[0] for f in found)}")

    async with watched(running.url, running.source, clock):
        await asyncio.to_thread(run)
    for label, count in counts.items():
        report(record_property, f"schemathesis {checks}: {label}", count, 0)
    if failures:
        raise BaseExceptionGroup(f"schemathesis ({checks}) failed on " + "; ".join(failed), failures)
    assert all(counts.values()), counts  # GET /health has only its two Authorization choices to try
    no_errors_logged(caplog)
