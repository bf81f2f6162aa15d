"""Recommender settings, read from `django.conf.settings` when used, with documented defaults.

Confidence of a (user, merchant) pair = sum over its interactions of

    kind_weight[kind] x value_term(kind, value) x 0.5 ** (age_days / half_life_days)

where `value_term` is 1 for most kinds, `rating - REVIEW_NEUTRAL_RATING` for reviews (a 1-2 star review
lowers the confidence, a 4-5 star one raises it) and the imported weight for imports. Refunds and
dismissals have negative weights. Negative pair totals are clipped to 0 when the matrix is built (a refund
cancels a purchase but never becomes a "strong dislike" the model would learn as a preference).

Every value is a setting defined in `superapp/settings.py` from the environment
(`RECOMMENDER_KIND_WEIGHTS="payment=5,view=0.2"`, `RECOMMENDER_HALF_LIFE_DAYS=60`) and read here when used
(`superapp.conf.setting`), so `override_settings` (`RECOMMENDER_KIND_WEIGHTS = {...}`) applies.
"""

from __future__ import annotations

from pathlib import Path

from superapp.conf import setting

DEFAULT_KIND_WEIGHTS: dict[str, float] = {
    "payment": 4.0,   # money spent: the strongest evidence of a preference
    "refund": -4.0,   # undoes a payment
    "coupon": 2.0,
    "booking": 3.0,
    "review": 1.0,    # x (rating - 3): 5 stars = +2, 1 star = -2
    "checkin": 2.0,
    "like": 1.0,
    "view": 0.5,
    "save": 2.0,
    "impression": 0.0,  # seen, no reaction: no evidence either way
    "click": 1.0,
    "dismiss": -1.0,
    "import": 1.0,    # x the imported weight (e.g. a check-in count or a rating)
}


def kind_weights() -> dict[str, float]:
    weights = dict(DEFAULT_KIND_WEIGHTS)
    weights.update(setting("RECOMMENDER_KIND_WEIGHTS") or {})
    return weights


def half_life_days() -> float | None:
    """Half-life of a signal's weight; 0 or empty disables decay."""
    raw = setting("RECOMMENDER_HALF_LIFE_DAYS")
    value = float(raw) if raw not in (None, "") else 0.0
    return value if value > 0 else None


REVIEW_NEUTRAL_RATING = 3.0


def models_dir() -> Path:
    """Where artifacts are written (`SUPERAPP_VAR_DIR/models` by default; `RECOMMENDER_MODELS_DIR` overrides)."""
    raw = setting("RECOMMENDER_MODELS_DIR")
    return Path(raw) if raw else Path(setting("VAR_DIR")) / "models"


def lock_ttl_s() -> int:
    """A crashed run's lock expires after this long (longer than any real run)."""
    return int(setting("RECOMMENDER_LOCK_TTL_S"))


def activation_tolerance() -> float:
    """A new version may be this much (relative nDCG) worse than the active one and still replace it."""
    return float(setting("RECOMMENDER_ACTIVATION_TOLERANCE"))


def train_threads() -> int:
    """implicit's threads while fitting (0 = all cores)."""
    return int(setting("RECOMMENDER_TRAIN_THREADS"))


def extract_snapshot_max_new() -> float:
    """The retrain extracts incrementally while the new rows are at most this share of its snapshot's (0: off)."""
    return float(setting("RECOMMENDER_EXTRACT_SNAPSHOT_MAX_NEW"))


def extract_snapshot_dir() -> Path:
    """The retrain's extract snapshot, beside the model artifacts."""
    return models_dir() / "extract-snapshot"


def retrain_every_s() -> int:
    return int(setting("RECOMMENDER_RETRAIN_EVERY_S"))
