"""Load the active model once per process and notice a newly activated version without a restart.

Serving code calls `active_model()` per request: it costs one cache GET (the active version id, set by
`model_version_activate`) and loads the artifact from disk only when that id changes. The artifact's
checksum is verified against the `ModelVersion` row before use.

    loaded = active_model()
    if loaded is None: ...fallback...
    rows = loaded.user_rows([user.pk])            # -1 for users the model has never seen
    ids, scores = loaded.model.recommend(rows, loaded.user_items(rows), k=10)
    merchant_ids = loaded.item_ids[ids]           # ids == -1 are empty slots
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.core.cache import cache

from recommender.ml.artifacts import load_artifact
from recommender.ml.models import Recommender
from recommender.models import ModelVersion
from recommender.selectors import active_model_version
from recommender.services import ACTIVE_VERSION_CACHE_KEY
from recommender.training import matrix_path
from superapp.process_cache import ProcessCache

logger = logging.getLogger(__name__)
NO_ACTIVE = 0  # cached when no version is active, so the miss is cached too


@dataclass
class LoadedModel:
    version_id: int
    algorithm: str
    model: Recommender = field(repr=False)
    user_ids: np.ndarray = field(repr=False)  # row -> User.pk
    item_ids: np.ndarray = field(repr=False)  # column -> Merchant.pk
    user_index: dict[Any, int] = field(repr=False)
    item_index: dict[Any, int] = field(repr=False)
    # users x items confidence the model was trained with: each user's known items
    matrix: sp.csr_matrix = field(repr=False)
    meta: dict[str, Any] = field(repr=False)

    def user_rows(self, user_pks) -> np.ndarray:
        return np.array([self.user_index.get(int(pk), -1) for pk in user_pks], dtype=np.int64)

    def item_rows(self, merchant_pks) -> np.ndarray:
        return np.array([self.item_index.get(int(pk), -1) for pk in merchant_pks], dtype=np.int64)

    def user_items(self, rows: np.ndarray) -> sp.csr_matrix:
        """Known items of these user rows (an empty row for -1)."""
        rows = np.asarray(rows, dtype=np.int64)
        block = self.matrix[np.maximum(rows, 0)].tolil()
        for position in np.flatnonzero(rows < 0):
            block.rows[position], block.data[position] = [], []
        return block.tocsr()


def load_version(version: ModelVersion) -> LoadedModel:
    """Load and verify one version's artifact (raises `ChecksumMismatchError` if the file changed)."""
    artifact = load_artifact(version.artifact_path, expected_checksum=version.artifact_checksum or None,
                             num_threads=1)
    extra = matrix_path(version.artifact_path)
    matrix = (sp.load_npz(extra).tocsr() if Path(extra).exists()
              else sp.csr_matrix((len(artifact.user_ids), len(artifact.item_ids)), dtype=np.float32))
    return LoadedModel(
        version_id=version.pk, algorithm=version.algorithm, model=artifact.model, user_ids=artifact.user_ids,
        item_ids=artifact.item_ids, user_index=artifact.user_index, item_index=artifact.item_index,
        matrix=matrix, meta=artifact.meta,
    )


class _VersionGone(Exception):
    """The active version's row was deleted since its id was cached."""


def _load(version_id: int) -> LoadedModel:
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise _VersionGone(version_id)
    return load_version(version)


# The loaded model of this process, for the version id it was loaded for (given by the caller on every read).
_model: ProcessCache[LoadedModel] = ProcessCache("recommender.active_model", _load)


def active_version_id() -> int | None:
    cached = cache.get(ACTIVE_VERSION_CACHE_KEY)
    if cached is None:
        version = active_model_version()
        cached = version.pk if version else NO_ACTIVE
        # `add`, not `set`: an activation committed since our read has already set the key (shared by every
        # serving process through Redis) and must not be overwritten with what we read before it.
        if not cache.add(ACTIVE_VERSION_CACHE_KEY, cached, timeout=60):
            cached = cache.get(ACTIVE_VERSION_CACHE_KEY, cached)
    return cached or None


def loaded_version_id() -> int | None:
    """The version this process has loaded (no I/O): a caller may read its data's keys in the same round
    trip as `ACTIVE_VERSION_CACHE_KEY` and pass what it read to `active_model(cached_id=...)`."""
    current = _model.peek()
    return current.version_id if current is not None else None


def loaded_model() -> LoadedModel | None:
    """The version this process has loaded, without I/O (None before the first `active_model`)."""
    return _model.peek()


def active_model(*, cached_id: int | None = None) -> LoadedModel | None:
    """The active version, loaded once per process; None when no version is active (use a fallback).
    `cached_id`: the value of `ACTIVE_VERSION_CACHE_KEY` the caller has just read itself (None: read it)."""
    version_id = active_version_id() if cached_id is None else (cached_id or None)
    if version_id is None:
        return None
    try:
        return _model.get(version=version_id)
    except _VersionGone:
        cache.delete(ACTIVE_VERSION_CACHE_KEY)
        return None
    except (OSError, ValueError):
        logger.exception("recommender: cannot load model version %s", version_id)
        return _model.peek()  # keep serving the previous one rather than nothing
