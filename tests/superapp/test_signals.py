"""Signal receivers stay connected in a process started with DEBUG off, as production runs.

Signals hold receivers weakly: a function defined inside `AppConfig.ready()` dies when ready() returns. With DEBUG
on, Django's check of a new receiver's signature caches the function and so keeps it alive, which hid exactly
that in development, the tests and CI (all start with DEBUG on): the nearby index's and the recommender
catalogue's invalidation on a merchant or opening-hours save was lost in production, and the serving processes
showed stale merchants and hours until their copies' maximum age. The tests run in-process after a DEBUG-on
startup, so the comparison needs fresh processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LIVE_RECEIVERS = """
import gc, json, re, weakref
import django
django.setup()
from django.dispatch import Signal
gc.collect()
live = []
for signal in [o for o in gc.get_objects() if isinstance(o, Signal)]:
    for key, receiver, _is_async in signal.receivers:
        target = receiver() if isinstance(receiver, weakref.ReferenceType) else receiver
        if target is not None:
            uid = re.sub(r" at 0x[0-9a-f]+", "", key[0]) if isinstance(key[0], str) else ""  # some name their signal
            live.append(f"{target.__module__}.{target.__qualname__} {uid}".strip())
print(json.dumps(sorted(live)))
"""


def _live_receivers(*, debug: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ENV"}
    env.update(DEBUG=debug, SECRET_KEY="signals-test-" + "k" * 50, DJANGO_SETTINGS_MODULE="superapp.settings",
               PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", LIVE_RECEIVERS], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_process_started_with_debug_off_keeps_every_signal_receiver():
    debug_on, debug_off = _live_receivers(debug="1"), _live_receivers(debug="0")
    assert "merchants.geo_index.geo_index_invalidate geo-index-Merchant-save" in debug_off
    assert "merchants.geo_index.geo_index_invalidate geo-index-OpeningHours-save" in debug_off
    assert debug_off == debug_on, {"only with DEBUG on": sorted(set(debug_on) - set(debug_off))}
