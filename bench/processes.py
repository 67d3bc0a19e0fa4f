"""The processes a benchmark starts: started in one place, always stopped by PID, measured through /proc.

Every child runs in a session of its own, so a Ctrl-C in the terminal reaches only the harness, which then
stops its children itself, in reverse order of start (load generators before the server they load): SIGTERM,
and SIGKILL for one that has not exited a few seconds later. Children's stderr goes to a file in the run's
work directory, so that a full pipe never blocks them and a failure can quote what they said.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
STOP_WITHIN_S = 8.0
"""How long a child may take to exit after SIGTERM (the hub closes its clients and flushes its log)."""


class ChildFailed(RuntimeError):
    """A child exited or said something unexpected; the message quotes the end of its stderr."""


def raise_open_files_limit() -> None:
    """Raise the soft limit on open files to the hard one (runs in the child, before exec): 10,000
    connections need 10,000 descriptors in the server and in the load generators together."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_files_limit() -> tuple[int, int]:
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class Child:
    """One running process with a JSON-lines conversation on stdin/stdout (when it has one)."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, stderr: Path) -> None:
        self.name = name
        self.process = process
        self.stderr = stderr

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 20) -> str:
        """The end of what the child wrote to stderr."""
        try:
            text = self.stderr.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, what: str) -> ChildFailed:
        code = self.process.returncode
        state = "running" if code is None else f"exited with {code}"
        return ChildFailed(f"{self.name} (pid {self.pid}, {state}): {what}\n{self.tail()}".rstrip())

    async def send(self, message: Mapping[str, Any] | str) -> None:
        stdin = self.process.stdin
        if stdin is None:
            raise self.failure("has no stdin")
        text = message if isinstance(message, str) else json.dumps(message)
        stdin.write(f"{text}\n".encode())
        await stdin.drain()

    async def receive(self, within_s: float) -> dict[str, Any]:
        """The next JSON line on stdout (lines that are not JSON objects, such as warnings, are skipped)."""
        stdout = self.process.stdout
        if stdout is None:
            raise self.failure("has no stdout")
        deadline = time.monotonic() + within_s
        while True:
            try:
                line = await asyncio.wait_for(stdout.readline(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise self.failure(f"said nothing for {within_s:g} s") from None
            if not line:
                await self.process.wait()
                raise self.failure("closed its output")
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict):
                    return message

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)


class Children:
    """Starts children and stops every one of them on exit, whatever ended the block (errors, Ctrl-C)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._children: list[Child] = []

    async def __aenter__(self) -> Children:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop_all()

    async def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        talk: bool = True,
    ) -> Child:
        """Start `argv`; with `talk`, its stdin and stdout are pipes for JSON lines, else /dev/null."""
        stderr = self.workdir / f"{name}-{len(self._children)}.stderr"
        pipe = asyncio.subprocess.PIPE if talk else asyncio.subprocess.DEVNULL
        with stderr.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=pipe,
                stdout=pipe,
                stderr=errors,
                start_new_session=True,  # Ctrl-C reaches the harness only; it stops the children
                preexec_fn=raise_open_files_limit,
                limit=2**26,  # a load generator's result line can be several megabytes
            )
        child = Child(name, process, stderr)
        self._children.append(child)
        return child

    async def stop(self, child: Child) -> None:
        """SIGTERM `child` by its PID, SIGKILL it if it has not exited within STOP_WITHIN_S; reap it."""
        if child in self._children:
            self._children.remove(child)
        process = child.process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), STOP_WITHIN_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
        await process.wait()

    async def stop_all(self) -> None:
        """Stop every child still known, newest first. Runs to the end even if it is cancelled meanwhile."""
        children = self._children[::-1]
        task = asyncio.ensure_future(self._stop_each(children))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await task
            raise

    async def _stop_each(self, children: list[Child]) -> None:
        for child in children:
            try:
                await self.stop(child)
            except Exception:  # keep stopping the others; the last resort is SIGKILL
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def pids_named(name: str) -> list[int]:
    """The processes whose command name is exactly `name` (`pgrep -x`), such as a system service's; none
    when pgrep is missing."""
    try:
        found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True, check=False)
    except OSError:
        return []
    return [int(pid) for pid in found.stdout.split()]


def cpu_seconds_of(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds of each of `pids` still running and readable (others are left out)."""
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            seconds[pid] = cpu_seconds(pid)
    return seconds


def machine_ticks() -> tuple[int, int, int]:
    """(busy, stolen, total) CPU time of the whole machine so far, all cores, from /proc/stat (clock ticks):
    busy is user, nice, system, irq and softirq time; stolen is time a virtual machine's cores wanted to run
    but the hypervisor ran something else."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    )
    busy = user + nice + system + irq + softirq  # guest time is counted in user time already
    return busy, steal, busy + steal + idle + iowait


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid`, from /proc/<pid>/statm."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_for_port(child: Child, port: int, within_s: float = 30.0) -> None:
    """Return once 127.0.0.1:`port` accepts connections; raise if `child` exits or `within_s` passes."""
    deadline = time.monotonic() + within_s
    while True:
        if child.process.returncode is not None:
            raise child.failure("exited during start-up")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise child.failure(f"does not listen on port {port} after {within_s:g} s") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
