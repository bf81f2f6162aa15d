"""Settings of recommendation serving (`RECOMMENDER_*`): defined in `superapp/settings.py` (defaults,
environment), read from `django.conf.settings` each time one is used (`superapp.conf.settings_reader`), so
`override_settings` applies: `conf.MAX_LIMIT` reads `settings.RECOMMENDER_MAX_LIMIT` now. Import the module,
never the name (`from recommender.serving.conf import MAX_LIMIT` would freeze the value).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from superapp.conf import settings_reader

DEFAULT_LIMIT = 20
DESTINATION_MAX_PER_VERTICAL = 20
# The verticals the guide recommends (city services are paid, not recommended).
RECOMMENDABLE_VERTICALS = ("restaurant", "leisure", "travel", "shopping")
# How many of the user's strongest signals name a "because you liked" anchor and make a content profile.
EXPLAIN_LIKED = 50

# name -> type; each is `settings.RECOMMENDER_<name>`.
_SETTINGS: dict[str, Callable[[Any], Any]] = {
    # Request limits: the largest page and radius a client may ask for.
    "MAX_LIMIT": int,
    "MAX_RADIUS_M": float,
    # Near-real-time profile: how long a recalculated user vector stays cached (a retrain supersedes it
    # anyway: the key carries the model version), and how many of a user's latest interactions it uses.
    "USER_VECTOR_TTL_S": int,
    "PROFILE_MAX_INTERACTIONS": int,
    # The refresh after the app's own events (`POST /events`) is sent per process at most this long after the
    # first event of its batch (payments, check-ins and reviews use superapp.publish.BATCH_WINDOW_S, 0.2 s).
    "EVENTS_REFRESH_WINDOW_S": float,
    # Popularity and content indexes are rebuilt in each process at most this often.
    "POPULARITY_TTL_S": float,
    "POPULARITY_WINDOW_DAYS": int,
    "CONTENT_CHECK_S": float,
    # Cold start: weight of content similarity against normalised popularity when both are known.
    "COLD_START_CONTENT_WEIGHT": float,
    # New merchants (unknown to the model) may take up to this share of a personalised page when their
    # content matches the user's profile (cosine of TF-IDF vectors) at least this well, and at least this
    # fraction of the median match of the model's own picks.
    "NEW_MERCHANT_SHARE": float,
    "NEW_MERCHANT_MIN_SIMILARITY": float,
    "NEW_MERCHANT_RELATIVE_SIMILARITY": float,
    # "Because you liked X" needs at least this cosine between the two merchants' factors (or content).
    "EXPLAIN_MIN_SIMILARITY": float,
    # "Popular with travellers from your city" needs at least this many distinct travellers.
    "EXPLAIN_MIN_TRAVELLERS": int,
    # A traveller's own signals "say little" about a city when fewer of their interactions are there.
    "DESTINATION_MIN_LOCAL_SIGNALS": int,
    # Materialised candidate lists (recommender/serving/materialise.py): the best LIST_SIZE merchants overall
    # plus the best LIST_CITY_SIZE in each of the user's cities, kept LIST_TTL_S; built LIST_BUILD_CHUNK users
    # at a time after an activation; a burst of misses enqueues one build per LIST_BUILD_DEDUP_S.
    "LIST_SIZE": int,
    "LIST_CITY_SIZE": int,
    "LIST_TTL_S": int,
    "LIST_BUILD_CHUNK": int,
    "LIST_BUILD_DEDUP_S": int,
    # Embedded default (per-process local-memory cache): a serving process builds its own lists in a thread.
    "LOCAL_LIST_BUILD": bool,
    # Per-process copies (catalogue.py): merchants and campaigns are re-checked against their shared version
    # key at most every CATALOGUE_CHECK_S, rebuilt anyway after *_MAX_AGE_S (writes that send no signal,
    # campaign budgets and redemption counts).
    "CATALOGUE_CHECK_S": float,
    "CATALOGUE_MAX_AGE_S": float,
    "CAMPAIGNS_MAX_AGE_S": float,
    # Per-user explanation caches (context.py): invalidated explicitly, and never older than this.
    "CONTEXT_TTL_S": int,
    # A user's "friends were here" answer is cached for every merchant at once when their circle's visible
    # visits are at most this many (else per merchant asked, as pages need them).
    "FRIENDS_ANYWHERE_MAX_VISITS": int,
}

__getattr__ = settings_reader(__name__, "RECOMMENDER_", _SETTINGS)
