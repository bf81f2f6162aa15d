"""Make a serving process ready before its first request (issue #14: no refusal over 100 ms).

Two costs used to land on unlucky requests of a fresh gunicorn worker:

- **first-request warm-up**: Django compiles the ~200 URL regexes on the first `resolve`/`reverse`, and DRF
  imports its renderer, parser, authentication and throttle classes on first use (~60 ms together);
- **full garbage collections**: the start-up heap (Django, DRF, the schema, NumPy/SciPy, the models: ~230,000
  tracked objects) is scanned by every generation-2 collection, which CPython runs every few thousand
  requests: a 250 ms pause (600 ms on a busy box) on whichever request happens to trigger it.

A third cost grows with the data: the per-process copies that pages read (the recommender's catalogue of
merchants, cards and opening hours, its content index, the active model). Built on a worker's first page, they
took 5-7 s with 100,000 merchants, and four fresh workers building them at once on two cores ran past 10 s.
Apps register them with `warm_on_start`.

`process_warm` does the first-request work and builds what the apps registered at start, then `gc.freeze()`s
everything alive at that point into the permanent generation, so later full collections scan only what requests
created (the catalogue's cards are hundreds of thousands of objects). It is called once per
process, by `superapp.wsgi` (every gunicorn worker imports it before accepting a connection) and by anything
that serves requests in-process the same way (`manage.py fuzz_api`).
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

_warmers: dict[str, Callable[[], object]] = {}
READY_DIR_ENV = "SUPERAPP_READY_DIR"  # when set, each warmed process leaves a file named by its pid there


def warm_on_start(name: str, build: Callable[[], object]) -> None:
    """Have `process_warm` call `build` (fill a per-process cache) before the process serves (an app's `ready`)."""
    _warmers[name] = build


def _caches_warm() -> None:
    """Build what the apps registered. A failure (the database restarting, say) is logged and left to the first
    request that needs it, as before: a worker must start anyway."""
    from django.db import connections

    for name, build in _warmers.items():
        try:
            build()
        except Exception:  # noqa: BLE001 - a warm-up must never stop a worker from starting
            logger.warning("warm-up of %s failed: it will be built by the first request that needs it", name,
                           exc_info=True)
    # The warm-up ran on the process's main thread; requests run on others and open their own connections.
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def process_warm() -> None:
    """Compile the URLconf, load DRF's lazily imported classes, build the apps' per-process caches, then freeze
    the start-up heap out of the GC."""
    from django.urls import reverse
    from rest_framework.settings import api_settings

    reverse("healthz")  # populates the resolver: every URL pattern's regex is compiled
    for name in api_settings.defaults:
        getattr(api_settings, name)  # imports DEFAULT_*_CLASSES and the other dotted-path settings
    _caches_warm()
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    ready = os.environ.get(READY_DIR_ENV)
    if ready:  # a benchmark waits until every worker is warm before it measures (superapp.bench)
        (Path(ready) / str(os.getpid())).write_text(concurrency_model())


def concurrency_model() -> str:
    """How this process serves concurrent requests: "gevent" when gevent has patched the standard library (the
    production gunicorn workers, gunicorn.conf.py), else "threads"."""
    gevent_monkey = sys.modules.get("gevent.monkey")
    return "gevent" if gevent_monkey is not None and gevent_monkey.is_module_patched("socket") else "threads"


def taking_turns(app):
    """Under gevent (gunicorn.conf.py's workers), each request first lets the worker's other greenlets run.

    A gevent socket read that finds data waiting returns without switching, so a keep-alive client that sends its
    next request at once is served again and again while the worker's other connections wait: measured with 16
    connections on one worker, p50 2 ms but p90 40 ms and p99 104 ms even for a trivial app. One yield per request
    (`gevent.sleep(0)`: the hub runs whatever else is ready first) serves them in turn: p99 8.6 ms."""
    import gevent

    def app_taking_turns(environ, start_response):
        gevent.sleep(0)
        return app(environ, start_response)

    return app_taking_turns
