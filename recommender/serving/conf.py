"""Settings of recommendation serving, read from `django.conf.settings` (env overrides) with defaults."""

from __future__ import annotations

import os

from django.conf import settings


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else float(getattr(settings, name, default))


# Request limits: the largest page and radius a client may ask for.
MAX_LIMIT = int(_number("RECOMMENDER_MAX_LIMIT", 50))
DEFAULT_LIMIT = 20
MAX_RADIUS_M = _number("RECOMMENDER_MAX_RADIUS_M", 50_000)
DESTINATION_MAX_PER_VERTICAL = 20
# The verticals the guide recommends (city services are paid, not recommended).
RECOMMENDABLE_VERTICALS = ("restaurant", "leisure", "travel", "shopping")

# Near-real-time profile: how long a recalculated user vector stays cached (a retrain supersedes it
# anyway: the key carries the model version), and how many of a user's latest interactions it uses.
USER_VECTOR_TTL_S = int(_number("RECOMMENDER_USER_VECTOR_TTL_S", 7 * 24 * 3600))
PROFILE_MAX_INTERACTIONS = int(_number("RECOMMENDER_PROFILE_MAX_INTERACTIONS", 500))

# Popularity and content indexes are rebuilt in each process at most this often.
POPULARITY_TTL_S = _number("RECOMMENDER_POPULARITY_TTL_S", 300)
POPULARITY_WINDOW_DAYS = int(_number("RECOMMENDER_POPULARITY_WINDOW_DAYS", 180))
CONTENT_CHECK_S = _number("RECOMMENDER_CONTENT_CHECK_S", 60)

# Cold start: weight of content similarity against normalised popularity when both are known.
COLD_START_CONTENT_WEIGHT = _number("RECOMMENDER_COLD_START_CONTENT_WEIGHT", 0.6)
# New merchants (unknown to the model) may take up to this share of a personalised page when their
# content matches the user's profile (cosine of TF-IDF vectors) at least this well, and at least this
# fraction of the median match of the model's own picks.
NEW_MERCHANT_SHARE = _number("RECOMMENDER_NEW_MERCHANT_SHARE", 0.2)
NEW_MERCHANT_MIN_SIMILARITY = _number("RECOMMENDER_NEW_MERCHANT_MIN_SIMILARITY", 0.15)
NEW_MERCHANT_RELATIVE_SIMILARITY = _number("RECOMMENDER_NEW_MERCHANT_RELATIVE_SIMILARITY", 0.6)
# "Because you liked X" needs at least this cosine between the two merchants' factors (or content).
EXPLAIN_MIN_SIMILARITY = _number("RECOMMENDER_EXPLAIN_MIN_SIMILARITY", 0.3)
# "Popular with travellers from your city" needs at least this many distinct travellers.
EXPLAIN_MIN_TRAVELLERS = int(_number("RECOMMENDER_EXPLAIN_MIN_TRAVELLERS", 2))
# A traveller's own signals "say little" about a city when fewer of their interactions are there.
DESTINATION_MIN_LOCAL_SIGNALS = int(_number("RECOMMENDER_DESTINATION_MIN_LOCAL_SIGNALS", 3))

# Materialised candidate lists (recommender/serving/materialise.py): the best LIST_SIZE merchants overall
# plus the best LIST_CITY_SIZE in each of the user's cities, kept LIST_TTL_S; built LIST_BUILD_CHUNK users
# at a time after an activation; a burst of misses enqueues one build per LIST_BUILD_DEDUP_S.
LIST_SIZE = int(_number("RECOMMENDER_LIST_SIZE", 200))
LIST_CITY_SIZE = int(_number("RECOMMENDER_LIST_CITY_SIZE", 100))
LIST_TTL_S = int(_number("RECOMMENDER_LIST_TTL_S", 3 * 24 * 3600))
LIST_BUILD_CHUNK = int(_number("RECOMMENDER_LIST_BUILD_CHUNK", 500))
LIST_BUILD_DEDUP_S = int(_number("RECOMMENDER_LIST_BUILD_DEDUP_S", 30))
# Embedded default (per-process local-memory cache): a serving process builds its own lists in a thread.
LOCAL_LIST_BUILD = bool(_number("RECOMMENDER_LOCAL_LIST_BUILD", 1))
# How many of the user's strongest signals name a "because you liked" anchor and make a content profile.
EXPLAIN_LIKED = 50

# Per-process copies (catalogue.py): merchants and campaigns are re-checked against their shared version
# key at most every CATALOGUE_CHECK_S, rebuilt anyway after *_MAX_AGE_S (writes that send no signal,
# campaign budgets and redemption counts).
CATALOGUE_CHECK_S = _number("RECOMMENDER_CATALOGUE_CHECK_S", 1)
CATALOGUE_MAX_AGE_S = _number("RECOMMENDER_CATALOGUE_MAX_AGE_S", 300)
CAMPAIGNS_MAX_AGE_S = _number("RECOMMENDER_CAMPAIGNS_MAX_AGE_S", 30)
# Per-user explanation caches (context.py): invalidated explicitly, and never older than this.
CONTEXT_TTL_S = int(_number("RECOMMENDER_CONTEXT_TTL_S", 300))
