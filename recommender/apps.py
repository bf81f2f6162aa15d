from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"
    verbose_name = "Recommender"

    def ready(self) -> None:
        # Cache invalidation only (no business logic): trips, coupons, campaigns and social visits tell the
        # recommendation caches what changed (recommender/serving/context.py).
        from recommender.services import (
            interaction_record,
            interactions_insert_sql,
            interactions_record_in_transaction,
        )
        from recommender.serving.context import connect_signals
        from superapp.events import interactions_subscribe

        connect_signals()
        # The other apps send what users did through `superapp.events` (they never import the recommender).
        interactions_subscribe(on_commit=interaction_record, in_transaction=interactions_record_in_transaction,
                               in_statement=interactions_insert_sql)
        # A serving process builds what every page reads before its first request (superapp.warmup).
        from superapp.warmup import warm_on_start

        warm_on_start("recommender serving", _serving_caches_warm)


def _serving_caches_warm() -> None:
    from recommender.serving.services import serving_caches_warm  # NumPy, SciPy, scikit-learn: only when serving

    serving_caches_warm()
