"""Batch top-k for many users from the active model (campaigns, offline evaluation by other teams)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from merchants.models import Merchant
from recommender.exceptions import NoActiveModel
from recommender.loader import LoadedModel, active_model
from superapp.accounts.models import User


@dataclass
class BatchReport:
    requested: int = 0
    unknown_users: int = 0
    not_in_model: int = 0
    rows_written: int = 0
    version_id: int | None = None


def _user_pks(identifiers: list[str]) -> dict[str, int]:
    """External id first, then username, for each identifier."""
    found: dict[str, int] = {}
    for start in range(0, len(identifiers), 2000):
        chunk = identifiers[start:start + 2000]
        found.update(User.objects.filter(external_id__in=chunk).values_list("external_id", "pk"))
        rest = [i for i in chunk if i not in found]
        if rest:
            found.update(User.objects.filter(username__in=rest).values_list("username", "pk"))
    return found


def candidate_rows(loaded: LoadedModel, *, vertical: str | None, city: str | None) -> np.ndarray | None:
    if not vertical and not city:
        return None
    merchants = Merchant.objects.filter(is_active=True)
    if vertical:
        merchants = merchants.filter(vertical=vertical)
    if city:
        merchants = merchants.filter(city__slug=city)
    rows = loaded.item_rows(merchants.values_list("pk", flat=True))
    return np.unique(rows[rows >= 0])


def recommendations_write(*, identifiers: Iterable[str], output: TextIO, k: int = 10, vertical: str | None = None,
                          city: str | None = None, batch_size: int = 1000,
                          progress: Callable[[int], None] | None = None) -> BatchReport:
    """Write `user,rank,merchant_external_id,merchant_id,score` rows, excluding what each user already has.

    Scoring is batched (one matrix product per `batch_size` users) and the vertical/city filter is applied
    inside the scoring call, so every user still gets k results when the filter excludes most merchants.
    """
    loaded = active_model()
    if loaded is None:
        raise NoActiveModel("No model version is active: train one first (manage.py train_recommender).")
    report = BatchReport(version_id=loaded.version_id)
    identifiers = list(dict.fromkeys(i.strip() for i in identifiers if i.strip()))
    report.requested = len(identifiers)
    pks = _user_pks(identifiers)
    report.unknown_users = len(identifiers) - len(pks)
    known = [(ident, pks[ident]) for ident in identifiers if ident in pks]
    rows = loaded.user_rows([pk for _, pk in known])
    in_model = rows >= 0
    report.not_in_model = int((~in_model).sum())
    known = [pair for pair, ok in zip(known, in_model, strict=True) if ok]
    rows = rows[in_model]
    candidates = candidate_rows(loaded, vertical=vertical, city=city)
    external = dict(Merchant.objects.filter(pk__in=loaded.item_ids.tolist()).exclude(external_id=None)
                    .values_list("pk", "external_id")) if len(loaded.item_ids) < 1_000_000 else {}
    writer = csv.writer(output)
    writer.writerow(["user", "rank", "merchant_external_id", "merchant_id", "score"])
    for start in range(0, len(rows), batch_size):
        block = rows[start:start + batch_size]
        if candidates is not None and not len(candidates):
            break
        ids, scores = loaded.model.recommend(block, loaded.user_items(block), k=k, filter_already_liked=True,
                                             items=candidates)
        for (ident, _), item_rows, item_scores in zip(known[start:start + batch_size], ids, scores, strict=True):
            rank = 0
            for item_row, score in zip(item_rows.tolist(), item_scores.tolist(), strict=True):
                if item_row < 0:
                    continue
                rank += 1
                merchant_pk = int(loaded.item_ids[item_row])
                writer.writerow([ident, rank, external.get(merchant_pk, ""), merchant_pk, f"{score:.6g}"])
                report.rows_written += 1
        if progress:
            progress(min(start + batch_size, len(rows)))
    return report
