"""Make a serving process ready before its first request (issue #14: no refusal over 100 ms).

Two costs used to land on unlucky requests of a fresh gunicorn worker:

- **first-request warm-up**: Django compiles the ~200 URL regexes on the first `resolve`/`reverse`, and DRF
  imports its renderer, parser, authentication and throttle classes on first use (~60 ms together);
- **full garbage collections**: the start-up heap (Django, DRF, the schema, NumPy/SciPy, the models: ~230,000
  tracked objects) is scanned by every generation-2 collection, which CPython runs every few thousand
  requests: a 250 ms pause (600 ms on a busy box) on whichever request happens to trigger it.

`process_warm` does the first-request work at start, then `gc.freeze()`s everything alive at that point into
the permanent generation, so later full collections scan only what requests created. It is called once per
process, by `superapp.wsgi` (every gunicorn worker imports it before accepting a connection) and by anything
that serves requests in-process the same way (`manage.py fuzz_api`).
"""

from __future__ import annotations

import gc


def process_warm() -> None:
    """Compile the URLconf, load DRF's lazily imported classes, then freeze the start-up heap out of the GC."""
    from django.urls import reverse
    from rest_framework.settings import api_settings

    reverse("healthz")  # populates the resolver: every URL pattern's regex is compiled
    for name in api_settings.defaults:
        getattr(api_settings, name)  # imports DEFAULT_*_CLASSES and the other dotted-path settings
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
