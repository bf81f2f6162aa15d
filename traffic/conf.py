"""Traffic settings, read from django.conf.settings with defaults (env overrides in parentheses)."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from django.conf import settings


def plate_hash_secret() -> bytes:
    """HMAC key for plate hashes (TRAFFIC_PLATE_HASH_SECRET). Without it, a key derived from SECRET_KEY:
    rotating either makes old and new hashes unmatchable, which is the point of a salted hash."""
    secret = getattr(settings, "TRAFFIC_PLATE_HASH_SECRET", "") or os.environ.get("TRAFFIC_PLATE_HASH_SECRET", "")
    if secret:
        return secret.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"traffic.plate-hash", hashlib.sha256).digest()


def _get(name: str, default, cast=float):
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    return default if value is None else cast(value)


def max_speed_kmh() -> float:
    return _get("TRAFFIC_MAX_SPEED_KMH", 200.0)


def max_batch_rows() -> int:
    return _get("TRAFFIC_MAX_BATCH_ROWS", 5000, int)


def future_tolerance_s() -> int:
    """Clock skew allowed between a device and the server (TRAFFIC_FUTURE_TOLERANCE_S)."""
    return _get("TRAFFIC_FUTURE_TOLERANCE_S", 120, int)


def model_dir() -> Path:
    return Path(getattr(settings, "TRAFFIC_MODEL_DIR", "") or Path(settings.VAR_DIR) / "traffic")


def training_days() -> int:
    return _get("TRAFFIC_TRAINING_DAYS", 14, int)


def snap_max_m() -> float:
    """How far a route's end may be from the nearest intersection (TRAFFIC_SNAP_MAX_M)."""
    return _get("TRAFFIC_SNAP_MAX_M", 3000.0)


def ingest_synchronous_commit() -> bool:
    """TRAFFIC_INGEST_SYNCHRONOUS_COMMIT (default off): see ingest._store_postgres."""
    return _get("TRAFFIC_INGEST_SYNCHRONOUS_COMMIT", False, lambda v: str(v).lower() in {"1", "true", "yes", "on"})
