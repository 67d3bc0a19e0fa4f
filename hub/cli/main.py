"""The command line of `python -m hub.cli`: options, subcommands, and errors as one line each."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from hub.cli import history, send, tail
from hub.cli.connection import CliError

DEFAULT_URL = "http://127.0.0.1:8000"
EXAMPLES = """\
examples:
  python -m hub.cli tail battery_voltage battery_temp
  python -m hub.cli tail --group power --count 20
  python -m hub.cli send set_mode mode=safe
  python -m hub.cli send set_heater --json '{"heater": "battery", "enabled": true}'
  python -m hub.cli history --ids battery_voltage --start now-1h --csv --all-pages > voltage.csv
  python -m hub.cli history --ids battery_voltage --interval 1m --agg min,max,avg --start now-1d
  python -m hub.cli history --ids battery_voltage --range 7d --size 200
"""


def common(defaults: bool) -> argparse.ArgumentParser:
    """--url and --token, accepted before and after the subcommand (the later one wins)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--url",
        default=os.environ.get("HUB_URL", DEFAULT_URL) if defaults else argparse.SUPPRESS,
        help=f"the hub's address [env HUB_URL; default {DEFAULT_URL}]",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("HUB_TOKEN") if defaults else argparse.SUPPRESS,
        help="a token of the hub (Socket.IO auth and HTTP Authorization: Bearer) [env HUB_TOKEN]",
    )
    return parser


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m hub.cli",
        description="Watch, command and query a running telemetry hub.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common(defaults=True)],
    )
    commands = main.add_subparsers(dest="subcommand", required=True, metavar="{tail,send,history}")
    shared = [common(defaults=False)]

    watch = commands.add_parser(
        "tail", parents=shared, help="live values as a refreshing table", description=tail.__doc__
    )
    watch.add_argument("ids", nargs="*", metavar="ID", help="telemetry ids")
    watch.add_argument("--group", action="append", metavar="GROUP", help="every id of a group (repeatable)")
    watch.add_argument("--all", action="store_true", help="every telemetry id")
    once = watch.add_mutually_exclusive_group()
    once.add_argument("--once", action="store_true", help="print the latest values as a table and exit")
    once.add_argument(
        "--count",
        type=int,
        metavar="N",
        help="print a table and exit after N values (those sent at once on subscribing count)",
    )

    command = commands.add_parser(
        "send", parents=shared, help="send a command and follow it to its end", description=send.__doc__
    )
    command.add_argument("command", metavar="COMMAND", help="a command of /command-templates")
    command.add_argument(
        "parameters", nargs="*", metavar="KEY=VALUE", help="parameters, typed as its template says"
    )
    command.add_argument("--json", metavar="OBJECT", help="the parameters as one JSON object instead")
    command.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="give up waiting for the final status after this long [default: the template's timeout_s + 5]",
    )

    query = commands.add_parser(
        "history", parents=shared, help="logged messages or aggregates", description=history.__doc__
    )
    query.add_argument("--ids", metavar="ID,ID", help="telemetry ids, comma-separated")
    query.add_argument("--type", metavar="TYPE", help="data, confirmation, notification (comma-separated)")
    since = query.add_mutually_exclusive_group()
    since.add_argument(
        "--start", metavar="TIME", help="ISO 8601 (UTC without a zone), now or now-15m; inclusive"
    )
    since.add_argument(
        "--range",
        choices=list(history.RANGES),
        help="the last hour, day, 7 or 30 days up to --end (default now); with --size, downsampled",
    )
    query.add_argument("--end", metavar="TIME", help="the same as --start; exclusive")
    query.add_argument("--limit", type=int, metavar="N", help="messages per page (hub default 1000)")
    query.add_argument("--after-seq", type=int, metavar="SEQ", help="only messages after this seq")
    query.add_argument("--order", choices=["asc", "desc"], help="by seq (default asc)")
    query.add_argument("--cursor", metavar="CURSOR", help="start at the `next` cursor of an earlier page")
    query.add_argument("--all-pages", action="store_true", help="follow the `next` cursors to the end")
    query.add_argument("--interval", metavar="LENGTH", help="aggregate over buckets of this length (10s, 1m)")
    query.add_argument("--buckets", type=int, metavar="N", help="aggregate over N buckets of [start, end)")
    query.add_argument(
        "--agg", action="append", metavar="AGG", help="min, max, avg, count, first, last (comma or repeated)"
    )
    query.add_argument("--strategy", choices=["latest", "minmax"], help="downsampling (with --size)")
    query.add_argument(
        "--size", type=int, metavar="N", help="points per id for --strategy (alone: --strategy minmax)"
    )
    query.add_argument("--csv", action="store_true", help="CSV with a header line instead of a table")
    return main


RUNS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "tail": tail.run,
    "send": send.run,
    "history": history.run,
}


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(RUNS[args.subcommand](args))
    except CliError as error:
        print(f"hub.cli {args.subcommand}: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head`: the reader has gone, which is no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
