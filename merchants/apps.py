from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    """Cities, categories, merchants, opening hours, staff, saved merchants and trips.

    The label stays `services` (the package this came from): the tables (`services_*`), the migration history
    and the admin's URLs of every area split out of it (bookings, city services, appointments) keep it. Their
    models say `app_label = "services"`, and their migrations live here, in `merchants/migrations/`."""

    name = "merchants"
    label = "services"
    verbose_name = "Merchants, city services and bookings"

    def ready(self) -> None:
        # Cache invalidation only (no business logic): any saved or deleted merchant, opening interval or
        # exception tells the serving processes' nearby index to rebuild. Bulk writers call
        # `geo_index_invalidate()` themselves. The receiver is a module function: signals hold receivers weakly, and
        # a function defined here would die when ready() returns. It did once, with DEBUG off only: with DEBUG on
        # Django's signature check of a new receiver caches it, which kept it alive in development, tests and CI.
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from merchants.geo_index import geo_index_invalidate as invalidate
        from merchants.models import Merchant, OpeningException, OpeningHours

        for model in (Merchant, OpeningHours, OpeningException):
            post_save.connect(invalidate, sender=model, dispatch_uid=f"geo-index-{model.__name__}-save")
            post_delete.connect(invalidate, sender=model, dispatch_uid=f"geo-index-{model.__name__}-delete")
        m2m_changed.connect(invalidate, sender=Merchant.categories.through, dispatch_uid="geo-index-categories")
