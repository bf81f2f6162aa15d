"""Where serving gets the active model and a user's fresh confidence row.

Two small seams between serving and the training side:

- `active_model()`: the active model version, loaded once per process and swapped when another version
  is activated (no restart, never a reload per request).
- `user_confidences(user_id)`: the user's latest interactions as (merchant ids, confidence), weighted like
  training weights them, so a vector recalculated from them matches what a retrain would learn.

INTERIM: until `ModelVersion` and `recommender.loader` land on main, the active artifact is a pointer in
the cache (`artifact_activate`) and confidences use a local copy of the default kind weights. Both are
switched to the training side's code when it lands; nothing else in serving depends on this module's
internals.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.core.cache import cache
from django.utils import timezone

from recommender.ml.artifacts import load_artifact
from recommender.ml.dataset import confidence_from_events
from recommender.ml.models import Recommender
from recommender.models import Interaction

logger = logging.getLogger(__name__)

ACTIVE_KEY = "recommender:serving:active-artifact"


@dataclass
class LoadedModel:
    version_id: int
    algorithm: str
    model: Recommender = field(repr=False)
    user_ids: np.ndarray = field(repr=False)  # row -> User.pk
    item_ids: np.ndarray = field(repr=False)  # column -> Merchant.pk
    user_index: dict[Any, int] = field(repr=False)
    item_index: dict[Any, int] = field(repr=False)
    matrix: sp.csr_matrix = field(repr=False)
    meta: dict[str, Any] = field(repr=False)


_lock = threading.Lock()
_loaded: LoadedModel | None = None


def artifact_activate(*, version_id: int, path: str, checksum: str, algorithm: str) -> None:
    """INTERIM registry: make an artifact the served one (replaced by `model_version_activate`)."""
    cache.set(ACTIVE_KEY, {"version_id": version_id, "path": path, "checksum": checksum, "algorithm": algorithm},
              timeout=None)


def artifact_deactivate() -> None:
    cache.delete(ACTIVE_KEY)


def active_model() -> LoadedModel | None:
    """The active model, loaded once per process; None when none is active. One cache GET per call."""
    global _loaded
    pointer = cache.get(ACTIVE_KEY) or _env_pointer()
    if not pointer:
        return None
    current = _loaded
    if current is not None and current.version_id == pointer["version_id"]:
        return current
    with _lock:
        if _loaded is not None and _loaded.version_id == pointer["version_id"]:
            return _loaded
        try:
            artifact = load_artifact(pointer["path"], expected_checksum=pointer["checksum"], num_threads=1)
        except (OSError, ValueError):
            logger.exception("recommender serving: cannot load artifact %s", pointer)
            return current  # keep serving the previous version rather than nothing
        _loaded = LoadedModel(
            version_id=pointer["version_id"], algorithm=pointer["algorithm"], model=artifact.model,
            user_ids=artifact.user_ids, item_ids=artifact.item_ids, user_index=artifact.user_index,
            item_index=artifact.item_index,
            matrix=sp.csr_matrix((len(artifact.user_ids), len(artifact.item_ids)), dtype=np.float32),
            meta=artifact.meta)
        return _loaded


def _env_pointer() -> dict | None:
    # INTERIM: lets a benchmark's server processes share the pointer on the embedded default, whose
    # local-memory cache is per process.
    raw = os.environ.get("RECOMMENDER_SERVING_ARTIFACT")
    return json.loads(raw) if raw else None


def reset() -> None:
    """Forget the loaded model (tests)."""
    global _loaded
    _loaded = None


# INTERIM copy of the training side's default weights (recommender.conf.kind_weights once it lands).
_KIND_WEIGHTS = {"payment": 4.0, "refund": -4.0, "coupon": 2.0, "booking": 3.0, "review": 1.0, "checkin": 2.0,
                 "like": 1.0, "view": 0.5, "save": 2.0, "impression": 0.0, "click": 1.0, "dismiss": -1.0,
                 "import": 1.0}
_HALF_LIFE_DAYS = 90.0


@dataclass
class UserSignals:
    merchant_ids: np.ndarray  # sorted Merchant.pk with a positive confidence
    confidences: np.ndarray  # float32, same order
    seen_ids: np.ndarray  # sorted Merchant.pk the user did anything with (impressions aside)

    @property
    def is_empty(self) -> bool:
        return not len(self.merchant_ids)


def user_signals(user_id: int, *, limit: int, now: datetime | None = None) -> UserSignals:
    """The user's latest `limit` interactions, weighted and summed per merchant, negative totals clipped
    to 0 and dropped. One indexed query (user, occurred_at)."""
    rows = list(Interaction.objects.filter(user_id=user_id).order_by("-occurred_at")
                .values_list("merchant_id", "kind", "value", "occurred_at")[:limit])
    if not rows:
        return UserSignals(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64))
    seen = np.unique(np.array([r[0] for r in rows if r[1] != "impression"], dtype=np.int64))
    merchants = np.array([r[0] for r in rows], dtype=np.int64)
    kinds = [r[1] for r in rows]
    values = np.array([(r[2] - 3.0) if r[1] == "review" else (r[2] if r[1] == "import" else 1.0) for r in rows])
    stamps = np.array([r[3].timestamp() for r in rows])
    weights = confidence_from_events(kinds=kinds, weights_by_kind=_KIND_WEIGHTS, values=values, timestamps=stamps,
                                     now=(now or timezone.now()).timestamp(), half_life_days=_HALF_LIFE_DAYS)
    ids, inverse = np.unique(merchants, return_inverse=True)
    totals = np.zeros(len(ids), np.float64)
    np.add.at(totals, inverse, weights)
    positive = totals > 0
    return UserSignals(ids[positive], totals[positive].astype(np.float32), seen)
