"""How the API is served in production: `gunicorn superapp.wsgi` from the project root reads this file (gunicorn's
default `./gunicorn.conf.py`); the benchmarks (`superapp.bench.gunicorn_server`) and the wallet's bank test start
gunicorn the same way, so they measure this configuration. Every value can be overridden on the command line.

gevent workers: a request that waits on PostgreSQL or Redis yields to the worker's other requests inside one OS
thread, instead of threads taking turns on the GIL at each of a payment's ~7 round trips (gthread). Measured on
the 2-core machine, same code (docs/payments.md, round 2 session 11): payments +28 %, ping +20-50 %. Django keeps
one database connection per greenlet, i.e. per open client connection, so with gevent each process uses a small
connection pool instead (`DB_POOL_SIZE`, settings.py): at most `workers x DB_POOL_SIZE` connections to
PostgreSQL however many clients are connected.

Nothing here may import Django, psycopg or the project: the gevent worker patches the standard library when it
starts, before it loads the application, and modules imported earlier in the master would keep blocking calls.
"""

import os

worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
# One process per core: with gevent a process keeps its core busy on its own.
workers = int(os.environ.get("WEB_CONCURRENCY", "0")) or os.cpu_count() or 2
# Open client connections per worker (gevent: one greenlet each; idle keep-alive connections cost a greenlet, not
# a database connection).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = 120
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE_S", "30"))


def pre_fork(server, worker):
    """In the master, before each worker is forked (so the worker inherits it): the database pool's size, for gevent
    workers (the worker class as finally configured, command line included). Threaded workers keep Django's one
    persistent connection per thread."""
    if server.cfg.worker_class_str == "gevent":
        os.environ.setdefault("DB_POOL_SIZE", "4")
