"""Recommendation serving: personalised, filtered, explained recommendations at home and at a destination.

Importing the tasks here registers them with Celery workers (this package is not a Django app of its
own, so `autodiscover_tasks` would not find them).
"""

from recommender.serving import tasks as tasks  # noqa: F401
