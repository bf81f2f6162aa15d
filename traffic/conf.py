"""Traffic settings (`TRAFFIC_*`): defined in `superapp/settings.py` (defaults, environment), read from
`django.conf.settings` when used (`superapp.conf.setting`), so `override_settings` applies."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from superapp.conf import setting


def plate_hash_secret() -> bytes:
    """HMAC key for plate hashes (TRAFFIC_PLATE_HASH_SECRET). Without it, a key derived from SECRET_KEY:
    rotating either makes old and new hashes unmatchable, which is the point of a salted hash."""
    secret = setting("TRAFFIC_PLATE_HASH_SECRET")
    if secret:
        return secret.encode()
    return hmac.new(setting("SECRET_KEY").encode(), b"traffic.plate-hash", hashlib.sha256).digest()


def max_speed_kmh() -> float:
    return setting("TRAFFIC_MAX_SPEED_KMH", float)


def max_batch_rows() -> int:
    return setting("TRAFFIC_MAX_BATCH_ROWS", int)


def future_tolerance_s() -> int:
    """Clock skew allowed between a device and the server (TRAFFIC_FUTURE_TOLERANCE_S)."""
    return setting("TRAFFIC_FUTURE_TOLERANCE_S", int)


def model_dir() -> Path:
    return Path(setting("TRAFFIC_MODEL_DIR") or Path(setting("VAR_DIR")) / "traffic")


def training_days() -> int:
    return setting("TRAFFIC_TRAINING_DAYS", int)


def snap_max_m() -> float:
    """How far a route's end may be from the nearest intersection (TRAFFIC_SNAP_MAX_M)."""
    return setting("TRAFFIC_SNAP_MAX_M", float)


def _truthy(value) -> bool:
    return str(value).lower() in {"1", "true", "yes", "on"}


def ingest_synchronous_commit() -> bool:
    """TRAFFIC_INGEST_SYNCHRONOUS_COMMIT (default off): see ingest._store_postgres."""
    return setting("TRAFFIC_INGEST_SYNCHRONOUS_COMMIT", _truthy)
