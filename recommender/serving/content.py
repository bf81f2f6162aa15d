"""Content model: TF-IDF over each merchant's vertical, categories (with their ancestors), name and
description. It answers where collaborative filtering cannot: users with no interactions (matched to the
preferences picked at onboarding), merchants nobody has interacted with yet, and "similar merchants" for a
merchant the model does not know.

The index is built once per process and rebuilt when the catalogue changes (checked with one aggregate
query when the serving catalogue's version moves, and at least every `CONTENT_CHECK_S` seconds), never per
request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from django.db.models import Count, Max
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from merchants.models import Category, City, Merchant
from recommender.serving import conf
from superapp.process_cache import ProcessCache


def _unit_row(row: sp.spmatrix) -> sp.csr_matrix:
    """One sparse row scaled to unit L2 norm (an all-zero row stays zero): scikit-learn's `normalize` for a
    single row, without its per-call parameter validation (~0.5 ms, a third of a live page's content work)."""
    row = sp.csr_matrix(row, dtype=np.float64)
    norm = float(np.sqrt(np.dot(row.data, row.data)))
    return row / norm if norm > 0 else row


@dataclass
class ContentIndex:
    merchant_ids: np.ndarray  # sorted Merchant.pk
    matrix: sp.csr_matrix = field(repr=False)  # rows L2-normalised: a dot product is a cosine
    vectorizer: TfidfVectorizer = field(repr=False)
    fingerprint: tuple

    def rows(self, merchant_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """Row of each merchant id, -1 for merchants not in the index."""
        ids = np.asarray(merchant_ids, dtype=np.int64)
        if not len(self.merchant_ids) or not len(ids):
            return np.full(len(ids), -1, np.int64)
        pos = np.minimum(np.searchsorted(self.merchant_ids, ids), len(self.merchant_ids) - 1)
        return np.where(self.merchant_ids[pos] == ids, pos, -1)

    def cosines(self, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
        """Cosine of each row in `rows_a` with each in `rows_b` (rows of this index, none -1): a dense
        len(a) x len(b) float32 array, `(matrix[rows_a] @ matrix[rows_b].T).toarray()` computed over only the
        terms the rows use. A page compares a few dozen rows, where scipy's per-call overhead (two fancy
        indexings, a sparse product, a densification: ~300 us) was nearly all of the cost."""
        b_row, b_col, b_val = self._entries(rows_b)
        terms = np.unique(b_col)
        dense_b = np.zeros((len(rows_b), len(terms)), np.float32)
        np.add.at(dense_b, (b_row, np.searchsorted(terms, b_col)), b_val)
        a_row, a_col, a_val = self._entries(rows_a)
        pos = np.minimum(np.searchsorted(terms, a_col), max(len(terms) - 1, 0))
        shared = terms[pos] == a_col if len(terms) else np.zeros(len(a_col), dtype=bool)
        dense_a = np.zeros((len(rows_a), len(terms)), np.float32)
        np.add.at(dense_a, (a_row[shared], pos[shared]), a_val[shared])
        return dense_a @ dense_b.T

    def _entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position in `rows`, term, value) of every stored entry of these rows."""
        indptr = self.matrix.indptr
        starts = indptr[rows].astype(np.int64)
        lengths = indptr[np.asarray(rows) + 1].astype(np.int64) - starts
        owner = np.repeat(np.arange(len(rows)), lengths)
        first = np.cumsum(lengths) - lengths  # where each row's entries start in the output
        at = np.arange(int(lengths.sum())) - np.repeat(first, lengths) + np.repeat(starts, lengths)
        return owner, self.matrix.indices[at], self.matrix.data[at]

    def text_vector(self, texts: Iterable[str]) -> sp.csr_matrix:
        """One L2-normalised row for the given free texts (preferences), or an all-zero row."""
        joined = " ".join(t for t in texts if t)
        return _unit_row(self.vectorizer.transform([joined])) if joined else sp.csr_matrix((1, self.matrix.shape[1]))

    def profile(self, *, texts: Iterable[str] = (), merchant_ids: np.ndarray | None = None,
                weights: np.ndarray | None = None) -> sp.csr_matrix:
        """A user's taste as one normalised row: their onboarding preferences plus the (confidence-weighted)
        merchants they interacted with. Preferences count as much as the whole history when both exist."""
        parts = []
        pref = self.text_vector(texts)
        if pref.nnz:
            parts.append(pref)
        if merchant_ids is not None and len(merchant_ids):
            rows = self.rows(merchant_ids)
            keep = rows >= 0
            if keep.any():
                w = np.ones(int(keep.sum())) if weights is None else np.log1p(np.asarray(weights)[keep])
                history = sp.csr_matrix(w.reshape(1, -1)) @ self.matrix[rows[keep]]
                parts.append(_unit_row(history))
        if not parts:
            return sp.csr_matrix((1, self.matrix.shape[1]))
        return _unit_row(sum(parts[1:], parts[0]))

    def scores(self, profile: sp.csr_matrix, merchant_ids: np.ndarray) -> np.ndarray:
        """Cosine of `profile` with each merchant (0 for merchants not in the index)."""
        rows = self.rows(merchant_ids)
        out = np.zeros(len(rows), np.float32)
        keep = rows >= 0
        if keep.any() and profile.nnz:
            out[keep] = np.asarray((self.matrix[rows[keep]] @ profile.T).todense()).ravel()
        return out


def _category_paths() -> dict[int, str]:
    """Category id -> its name and slug plus every ancestor's, so 'hotpot' also says 'chinese restaurant'."""
    rows = {pk: (name, slug, parent) for pk, name, slug, parent in
            Category.objects.values_list("pk", "name", "slug", "parent_id")}
    paths = {}
    for pk in rows:
        words, node, hops = [], pk, 0
        while node is not None and node in rows and hops < 10:
            name, slug, parent = rows[node]
            words += [name, slug.replace("-", " ")]
            node, hops = parent, hops + 1
        paths[pk] = " ".join(words)
    return paths


def _fingerprint() -> tuple:
    stats = Merchant.objects.filter(is_active=True).aggregate(n=Count("pk"), top=Max("pk"))
    links = Merchant.categories.through.objects.aggregate(n=Count("pk"), top=Max("pk"))
    return stats["n"], stats["top"], links["n"], links["top"]


_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _location_stop_words() -> list[str]:
    """English stop words plus every word of city names and street addresses: where a merchant is says
    nothing about what it is (and location is a filter already), but names like "Hotpot (Main Street)" and
    descriptions like "Sushi in Main Street, Davos." would otherwise make neighbours look alike."""
    words = set(ENGLISH_STOP_WORDS)
    texts = list(City.objects.values_list("name", flat=True))
    texts += list(Merchant.objects.filter(is_active=True).exclude(address="").values_list("address", flat=True))
    for text in texts:
        words.update(_TOKEN.findall(text.lower()))
    # ...but never a word that names a category ("Tea Street" must not hide tea shops).
    for name, slug in Category.objects.values_list("name", "slug"):
        words.difference_update(_TOKEN.findall(f"{name} {slug.replace('-', ' ')}".lower()))
    return sorted(words)


def content_index_build() -> ContentIndex:
    paths = _category_paths()
    cats: dict[int, list[str]] = {}
    for merchant_id, category_id in Merchant.categories.through.objects.values_list("merchant_id", "category_id"):
        cats.setdefault(merchant_id, []).append(paths.get(category_id, ""))
    ids, docs = [], []
    for pk, name, description, vertical in (Merchant.objects.filter(is_active=True).order_by("pk")
                                            .values_list("pk", "name", "description", "vertical")):
        ids.append(pk)
        # Categories are the strongest signal of what a place is: repeat them so they outweigh names.
        categories = " ".join(cats.get(pk, []))
        docs.append(f"{vertical} {categories} {categories} {name} {description}")
    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words=_location_stop_words())
    if docs:
        try:
            matrix = vectorizer.fit_transform(docs).tocsr().astype(np.float32)
        except ValueError:  # only stop words everywhere
            vectorizer = TfidfVectorizer(sublinear_tf=True)
            matrix = vectorizer.fit_transform(docs).tocsr().astype(np.float32)
    else:  # no merchant yet ("empty" is itself an English stop word: fit without the stop words)
        vectorizer = TfidfVectorizer(sublinear_tf=True).fit(["empty"])
        matrix = sp.csr_matrix((0, 1), dtype=np.float32)
    return ContentIndex(np.array(ids, dtype=np.int64), matrix, vectorizer, _fingerprint())


def _catalogue_version() -> int:
    from recommender.serving.catalogue import catalogue

    return catalogue().version


# Looked at again when the catalogue's version moves or every `CONTENT_CHECK_S`; rebuilt only when the
# merchants' fingerprint differs.
_index: ProcessCache[ContentIndex] = ProcessCache(
    "recommender.content_index", lambda _version: content_index_build(), version=_catalogue_version,
    max_age_s=lambda: conf.CONTENT_CHECK_S, keep=lambda index: _fingerprint() == index.fingerprint)


def content_index() -> ContentIndex:
    """The current content index of this process: built on first use, looked at again when the catalogue's
    version moves (merchants changed) or every `CONTENT_CHECK_S`, rebuilt when the merchants' fingerprint
    differs."""
    return _index.get()
