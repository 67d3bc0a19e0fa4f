"""The bus over Redis: messages ride the Socket.IO manager's Redis channel, values and leases are keys.

Messages to the other processes go through `RedisRoomEmitter` (hub/transport/room_emitter.py), the Redis
manager every process already runs for Socket.IO, so that one subscription carries both. Values and leases use
a client of their own; a lease is redis-py's `Lock` (a key with an expiry, taken with SET NX and renewed or
released only by the token that took it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from hub.cluster.bus import BusError
from hub.transport.room_emitter import RedisRoomEmitter

T = TypeVar("T")


class RedisBus:
    """A `Bus` over Redis at `url`; its keys are `<channel>:<key>`."""

    def __init__(self, url: str, channel: str, emitter: RedisRoomEmitter) -> None:
        self._redis = Redis.from_url(url)
        self._channel = channel
        self._emitter = emitter
        self._locks: dict[str, Lock] = {}

    @property
    def process(self) -> str:
        host_id: str = self._emitter.host_id
        return host_id

    async def open(self) -> None:
        self._emitter.listen()

    async def received(self) -> AsyncIterator[dict[str, Any]]:
        async for message in self._emitter.peer_messages():
            yield message

    async def publish(self, message: dict[str, Any]) -> None:
        await self._emitter.publish_to_peers(message)

    async def get(self, key: str) -> str | None:
        value: bytes | str | None = await _reached(self._redis.get(self._key(key)))
        return value.decode() if isinstance(value, bytes) else value

    async def set(self, key: str, value: str) -> None:
        await _reached(self._redis.set(self._key(key), value))

    async def increment(self, key: str) -> int:
        return int(await _reached(self._redis.incr(self._key(key))))

    async def acquire(self, key: str, ttl_s: float) -> bool:
        lock = self._locks[key] = self._redis.lock(
            self._key(key), timeout=ttl_s, blocking=False, thread_local=False
        )
        return bool(await _reached(lock.acquire(token=self.process)))

    async def renew(self, key: str, ttl_s: float) -> bool:
        lock = self._locks.get(key)
        if lock is None:
            return False
        try:
            await _reached(lock.extend(ttl_s, replace_ttl=True))
        except LockError:
            return False
        return True

    async def release(self, key: str) -> bool:
        lock = self._locks.pop(key, None)
        if lock is None:
            return False
        try:
            await _reached(lock.release())
        except LockError:
            return False
        return True

    async def close(self) -> None:
        await self._redis.aclose()

    def _key(self, key: str) -> str:
        return f"{self._channel}:{key}"


async def _reached(call: Awaitable[T]) -> T:
    """`call`'s result; BusError if Redis could not be reached (a LockError is the lock's answer: kept)."""
    try:
        return await call
    except LockError:
        raise
    except RedisError as error:
        raise BusError(f"{type(error).__name__}: {error}") from error
