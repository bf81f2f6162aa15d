"""Checksummed, pickle-free model artifacts.

An artifact is one ``.npz`` file holding the model arrays (``Recommender.to_arrays``),
the row/column -> external id maps and a JSON ``meta`` blob. It is written with
``allow_pickle=False`` semantics (no object arrays), so loading a tampered or foreign
file can never execute code, and ``save_artifact`` returns the file's sha256 for the
Django side to store next to the artifact row; ``load_artifact`` refuses a file whose
checksum doesn't match.

External ids are stored as unicode string arrays (Django primary keys may be ints or
UUIDs); ``meta['id_kinds']`` remembers whether they were integers so they come back as
``int64`` in that case.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .models import Recommender, model_from_arrays

__all__ = ["Artifact", "ChecksumMismatchError", "file_sha256", "load_artifact", "save_artifact"]

FORMAT_VERSION = 1


class ChecksumMismatchError(ValueError):
    """The artifact on disk is not the one that was recorded (corrupt or replaced)."""


@dataclass
class Artifact:
    """A loaded artifact: ready-to-serve model plus its id maps and metadata."""

    model: Recommender
    user_ids: np.ndarray
    item_ids: np.ndarray
    meta: dict[str, Any]
    checksum: str
    user_index: dict[Any, int] = field(repr=False, default_factory=dict)
    item_index: dict[Any, int] = field(repr=False, default_factory=dict)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, streamed so large artifacts don't need to fit in memory twice."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _ids_to_str(ids: np.ndarray) -> tuple[np.ndarray, str]:
    ids = np.asarray(ids)
    kind = "int" if ids.dtype.kind in "iu" else "str"
    if ids.dtype.kind == "O" and len(ids) and all(isinstance(x, int | np.integer) for x in ids.tolist()):
        kind = "int"
    if ids.dtype.kind in "iu" and len(ids):
        # NumPy's own conversion (~10x faster than a Python loop over a retrain's 200k users), as wide as the longest
        # id, as the loop's array is.
        width = max(len(str(ids.min())), len(str(ids.max())))
        return ids.astype(f"<U{width}"), kind
    return np.array([str(x) for x in ids.tolist()], dtype=str), kind


def _ids_from_str(ids: np.ndarray, kind: str) -> np.ndarray:
    return ids.astype(np.int64) if kind == "int" else ids.astype(str)


def save_artifact(
    path: str | os.PathLike[str],
    *,
    model: Recommender,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    meta: Mapping[str, Any] | None = None,
) -> str:
    """Write ``model`` + id maps + ``meta`` (JSON-serialisable) to ``path``; return sha256.

    Written to a temporary file in the same directory and renamed into place, so a
    reader never sees a half-written artifact (rename is atomic on POSIX).
    """
    if len(user_ids) != model.n_users or len(item_ids) != model.n_items:
        raise ValueError(
            f"id maps ({len(user_ids)} users, {len(item_ids)} items) don't match the model "
            f"({model.n_users} users, {model.n_items} items)"
        )
    users, user_kind = _ids_to_str(user_ids)
    items, item_kind = _ids_to_str(item_ids)
    full_meta = dict(meta or {})
    full_meta["format_version"] = FORMAT_VERSION
    full_meta["id_kinds"] = {"user": user_kind, "item": item_kind}
    arrays: dict[str, np.ndarray] = {f"model.{k}": v for k, v in model.to_arrays().items()}
    arrays["user_ids"] = users
    arrays["item_ids"] = items
    arrays["meta"] = np.array(json.dumps(full_meta, sort_keys=True, default=str))
    for name, arr in arrays.items():
        if np.asarray(arr).dtype.kind == "O":
            raise TypeError(f"artifact array {name!r} has dtype object; it would need pickle")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return file_sha256(target)


def load_artifact(
    path: str | os.PathLike[str], *, expected_checksum: str | None = None, num_threads: int = 0
) -> Artifact:
    """Load and (optionally) verify an artifact written by ``save_artifact``.

    Raises ``ChecksumMismatchError`` if ``expected_checksum`` is given and differs. The
    checksum is computed before parsing, so a bad file is rejected before numpy reads it.
    """
    checksum = file_sha256(path)
    if expected_checksum is not None and checksum != expected_checksum:
        raise ChecksumMismatchError(f"{path}: sha256 {checksum} != expected {expected_checksum}")
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    meta = json.loads(str(arrays.pop("meta")))
    kinds = meta.get("id_kinds", {})
    user_ids = _ids_from_str(arrays.pop("user_ids"), kinds.get("user", "str"))
    item_ids = _ids_from_str(arrays.pop("item_ids"), kinds.get("item", "str"))
    model_arrays = {k[len("model.") :]: v for k, v in arrays.items() if k.startswith("model.")}
    model = model_from_arrays(model_arrays, num_threads=num_threads)
    return Artifact(
        model=model,
        user_ids=user_ids,
        item_ids=item_ids,
        meta=meta,
        checksum=checksum,
        user_index={u: i for i, u in enumerate(user_ids.tolist())},
        item_index={it: i for i, it in enumerate(item_ids.tolist())},
    )
