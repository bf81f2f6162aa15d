"""The default cache backend on Redis: Django's `RedisCache` with one client per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` object for every cache call, and each
construction installs redis-py's ~100 response callbacks (~0.1-0.3 ms of CPU per call, measured on the
recommendation pages, which make two or three calls). A `redis.Redis` client is thread-safe and holds
nothing but its pool, so one per pool is kept and reused; everything else is Django's.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


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
