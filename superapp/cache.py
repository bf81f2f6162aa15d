"""Redis for the whole project: the default cache backend, and the one factory of plain Redis clients.

`redis_client()` is the only place a `redis.Redis` is made (the social timelines, the user cache behind
tokens, the recommender's training lock, the readiness probe): one client and connection pool per process
and URL, with the timeouts of `settings.REDIS_*` (a slow Redis fails a call in seconds and its caller falls
back to the database, never hangs a request).

The default cache backend on Redis: Django's `RedisCache` with one client per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` object for every cache call, and each
construction installs redis-py's ~100 response callbacks (~0.1-0.3 ms of CPU per call, measured on the
recommendation pages, which make two or three calls). A `redis.Redis` client is thread-safe and holds
nothing but its pool, so one per pool is kept and reused; everything else is Django's.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient


@functools.cache
def _client(url: str, timeout_s: float, health_check_interval_s: int):
    import redis

    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                health_check_interval=health_check_interval_s)


def redis_client(url: str | None = None, *, timeout_s: float | None = None):
    """This process's Redis client for `url` (default `REDIS_URL`), or None when there is no Redis (the
    embedded default). `timeout_s` (default `REDIS_SOCKET_TIMEOUT_S`) bounds connecting and each command."""
    url = url or settings.REDIS_URL
    if not url:
        return None
    timeout = settings.REDIS_SOCKET_TIMEOUT_S if timeout_s is None else timeout_s
    return _client(url, float(timeout), int(settings.REDIS_HEALTH_CHECK_INTERVAL_S))


class PooledRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:  # as Django's `_get_connection_pool`, for this index
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients.setdefault(index, self._client(connection_pool=self._pools[index]))
        return client


class PooledRedisCache(RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = PooledRedisCacheClient


def cache_keys_in_redis(keys) -> list[str] | None:
    """The Redis keys under which the default cache keeps these cache keys, when it is `PooledRedisCache` on
    `REDIS_URL` alone, so a reader that makes its own round trip to that Redis (the user row behind a token)
    can fetch them in the same `MGET`; decode each value with `cache_value_decode`. None for any other cache
    (local memory on the embedded default, another server): read those with the cache itself."""
    from django.core.cache import caches

    backend = caches["default"]
    if not isinstance(backend, PooledRedisCache) or backend._servers != [settings.REDIS_URL]:
        return None
    return [backend.make_and_validate_key(key) for key in keys]


def cache_value_decode(raw: bytes):
    """A value fetched from Redis under a key of `cache_keys_in_redis`, as `cache.get` would return it."""
    from django.core.cache import caches

    return caches["default"]._cache._serializer.loads(raw)
