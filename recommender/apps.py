from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"
    verbose_name = "Recommender"

    def ready(self) -> None:
        # Cache invalidation only (no business logic): trips, coupons, campaigns and social visits tell the
        # recommendation caches what changed (recommender/serving/context.py).
        from recommender.serving.context import connect_signals

        connect_signals()
