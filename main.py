"""Run the telemetry hub: `python main.py --help` lists every setting with its environment variable."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import uvicorn
from pydantic import ValidationError

from hub.app import create_app
from hub.errors import ConfigurationError
from hub.logs import configure
from hub.settings import Settings


def parse_flags(argv: list[str]) -> dict[str, Any]:
    """Flags given on the command line, as settings overrides (flags win over the environment)."""
    parser = argparse.ArgumentParser(
        description="Real-time telemetry hub: Socket.IO streaming, validated commands, durable history.",
        epilog="Every flag can also be set with its HUB_* environment variable; a flag wins.",
    )
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = ",".join(default) if isinstance(default, list) else default
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            metavar="VALUE",
            default=argparse.SUPPRESS,
            help=f"{field.description} [env HUB_{name.upper()}; default: {shown}]",
        )
    return vars(parser.parse_args(argv))


def build_settings(argv: list[str]) -> Settings:
    """Settings from the environment and flags; a bad value exits with a message naming the setting."""
    try:
        return Settings(**parse_flags(argv))
    except ValidationError as error:
        lines = []
        for problem in error.errors(include_url=False):
            name = ".".join(str(part) for part in problem["loc"])
            lines.append(f"invalid setting HUB_{name.upper()} (--{name.replace('_', '-')}): {problem['msg']}")
        raise ConfigurationError("\n".join(lines)) from None


def main(argv: list[str]) -> int:
    try:
        settings = build_settings(argv)
        configure(settings.log_level)
        app = create_app(settings)
    except ConfigurationError as error:
        print(f"hub: cannot start:\n{error}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's lines go through the hub's logging format
        ws_per_message_deflate=False,  # costs more CPU than it saves on small telemetry frames
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
