"""Who may do what: bearer tokens with roles, stored as SHA-256 hashes.

Roles are ordered: a `viewer` subscribes and reads history, an `operator` also sends commands, an `admin`
also clears history and uses the Socket.IO Admin UI. Tokens come from `HUB_TOKENS_FILE` (YAML) and
`HUB_TOKENS` (`role:sha256,...`); `HUB_ADMIN_TOKEN` is one more admin token, given in clear. With no role
token in effect the hub is open: anyone connecting is an operator, and only the admin token can clear history.
So an open hub is refused on an address other machines reach (unless anonymous access is allowed), whether
the tokens are missing or empty, at start-up and when they are reloaded (SIGHUP). The admin token does not
count: it lets admins in, but everyone else would still connect as an operator.

Hashes, not tokens, are stored: tokens are long random strings, so a plain SHA-256 is enough to make a
leaked file useless (it is not a password hash; do not use guessable tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.errors import ConfigurationError, summarize

if TYPE_CHECKING:
    from hub.settings import Settings

log = logging.getLogger(__name__)

Role = Literal["viewer", "operator", "admin"]
RANKS: dict[str, int] = {"viewer": 1, "operator": 2, "admin": 3}
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a connection or request acts as. `name` is safe to log; the token never is."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        return RANKS[self.role] >= RANKS[role]


ANONYMOUS = Principal("anonymous", "operator")


class TokenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=64)]
    role: Role
    sha256: Sha256


class _TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[TokenEntry]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenSources:
    """Where the role tokens come from, and the address on which having none of them is refused."""

    file: Path | None = None
    listed: str | None = None
    exposed_host: str | None = None
    """HUB_HOST when other machines reach it and HUB_ALLOW_ANONYMOUS is not set; None where an open hub is
    allowed (loopback, or HUB_ALLOW_ANONYMOUS)."""

    @classmethod
    def of(cls, settings: Settings) -> TokenSources:
        exposed = None if settings.anonymous_allowed else settings.host
        return cls(settings.tokens_file, settings.tokens, exposed)

    def load(self, with_admin_token: bool = False) -> tuple[TokenEntry, ...]:
        """The role tokens in effect. ConfigurationError names the file, entry and field of a problem, or
        says why no token at all is refused here (`with_admin_token`: HUB_ADMIN_TOKEN is set, which does
        not count)."""
        entries = tuple(load_tokens(self.file, self.listed))
        if not entries and self.exposed_host is not None:
            raise ConfigurationError(self._none_in_effect(with_admin_token))
        return entries

    def _none_in_effect(self, with_admin_token: bool) -> str:
        where = []
        if self.file is not None:
            where.append(f"HUB_TOKENS_FILE={str(self.file)!r}: tokens: the list is empty")
        if self.listed is not None:
            where.append(f"HUB_TOKENS={self.listed!r}: no token in it")
        problem = "; ".join(where) or "no tokens are set (HUB_TOKENS_FILE, HUB_TOKENS)"
        if with_admin_token:
            problem += " (HUB_ADMIN_TOKEN alone does not count: without a token anyone is still an operator)"
        return (
            f"{problem}, but HUB_HOST={self.exposed_host} is reachable from other machines, so anyone could "
            "connect and send commands: add a token (python -m hub.auth new ROLE NAME), or set "
            "HUB_ALLOW_ANONYMOUS=true"
        )


class Authenticator:
    """Tells who a token belongs to. The role tokens can be read again while the hub runs (`reload`); an
    identity, once established for a connection, stays what it was."""

    def __init__(self, sources: TokenSources, admin_token: str | None = None) -> None:
        self.sources = sources
        self.admin_token = admin_token
        self.entries = sources.load(admin_token is not None)

    def reload(self) -> bool:
        """Read the role tokens again (on SIGHUP) and log how many are in effect. On any problem (a bad file,
        or none left where an open hub is refused) the error is logged and the tokens in effect stay."""
        try:
            entries = self.sources.load(self.admin_token is not None)
        except ConfigurationError as error:
            log.error("tokens not reloaded, the %d in effect stay: %s", len(self.entries), error)
            return False
        self.entries = entries
        if entries:
            log.info("tokens reloaded: %d in effect", len(entries))
        else:
            log.warning("tokens reloaded: none in effect, so the hub is open: anyone connects as an operator")
        return True

    @property
    def open(self) -> bool:
        """No role token in effect: anyone may connect (as an operator)."""
        return not self.entries

    @property
    def has_admin(self) -> bool:
        return self.admin_token is not None or any(e.role == "admin" for e in self.entries)

    def identify(self, token: str | None) -> Principal | None:
        """The principal `token` belongs to, or None. Comparisons take constant time."""
        if not token:
            return None
        if self.admin_token is not None and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return Principal("admin-token", "admin")
        digest = hash_token(token)
        found = None
        for entry in self.entries:  # no early exit: the time taken does not tell which entry matched
            if hmac.compare_digest(digest, entry.sha256):
                found = Principal(entry.name, entry.role)
        return found

    def admin_ui_login(self, credentials: object) -> bool:
        """The Socket.IO Admin UI's login: any user name, an admin token as the password."""
        password = credentials.get("password") if isinstance(credentials, dict) else None
        principal = self.identify(password if isinstance(password, str) else None)
        return principal is not None and principal.may("admin")

    def authenticate(self, token: str | None) -> Principal | None:
        """Who a client is: its token's principal, anonymous on an open hub, or None (refuse it)."""
        principal = self.identify(token)
        if principal is None and self.open and not token:
            return ANONYMOUS
        return principal


def load_tokens(file: Path | None, listed: str | None) -> list[TokenEntry]:
    """Entries from the tokens file and the `role:sha256,...` list; ConfigurationError names any problem."""
    entries: list[TokenEntry] = []
    if file is not None:
        try:
            document = yaml.safe_load(file.read_text(encoding="utf-8"))
            entries += _TokensFile.model_validate(document).tokens
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(f"HUB_TOKENS_FILE={str(file)!r}: cannot read it: {error}") from None
        except yaml.YAMLError as error:
            raise ConfigurationError(f"HUB_TOKENS_FILE={str(file)!r}: not valid YAML: {error}") from None
        except ValidationError as error:
            problems = summarize(error, "the file")
            raise ConfigurationError(f"HUB_TOKENS_FILE={str(file)!r}: {problems}") from None
    for index, item in enumerate(filter(None, (part.strip() for part in (listed or "").split(",")))):
        role, _, digest = item.partition(":")
        try:
            entries.append(TokenEntry(name=f"{role}-{index}", role=role, sha256=digest))
        except ValidationError:
            raise ConfigurationError(
                f"HUB_TOKENS entry {index}: expected role:sha256 with role viewer, operator or admin "
                "and 64 hex digits (python -m hub.auth hash)"
            ) from None
    return entries


def main(argv: list[str]) -> int:
    """`python -m hub.auth new ROLE NAME` prints a fresh token and its entry; `hash` hashes one from stdin."""
    if argv[:1] == ["new"] and len(argv) == 3 and argv[1] in RANKS:
        token = secrets.token_urlsafe(32)
        print(f"token (give it to the client, store it nowhere else): {token}")
        print(f"tokens file entry:\n  - {{name: {argv[2]}, role: {argv[1]}, sha256: {hash_token(token)}}}")
        return 0
    if argv == ["hash"]:
        print(hash_token(sys.stdin.readline().strip()))
        return 0
    print(
        "usage: python -m hub.auth new viewer|operator|admin NAME  |  python -m hub.auth hash < token",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
