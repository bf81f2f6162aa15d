"""Celery jobs: incident detection and forecasts every 5 minutes, signal plans every 15, training nightly.
Each takes plain JSON, is safe to run twice, and loops over the cities that have a road network."""

from __future__ import annotations

from celery import shared_task

from merchants.models import City
from traffic import services


def _cities(city_slug: str | None):
    cities = City.objects.filter(road_segments__isnull=False).distinct()
    return cities.filter(slug=city_slug) if city_slug else cities


@shared_task(name="traffic.tasks.incidents_detect", time_limit=240)
def incidents_detect(city_slug: str | None = None) -> dict[str, int]:
    return {c.slug: len(services.incidents_detect(city=c)) for c in _cities(city_slug)}


@shared_task(name="traffic.tasks.forecasts_refresh", time_limit=240)
def forecasts_refresh(city_slug: str | None = None) -> dict[str, int]:
    return {c.slug: services.forecasts_refresh(city=c) for c in _cities(city_slug)}


@shared_task(name="traffic.tasks.signal_plans_refresh", time_limit=600)
def signal_plans_refresh(city_slug: str | None = None) -> dict[str, int]:
    return {c.slug: services.signal_plans_refresh(city=c) for c in _cities(city_slug)}


@shared_task(name="traffic.tasks.predictor_train", time_limit=3600)
def predictor_train(city_slug: str | None = None) -> dict[str, dict]:
    result = {}
    for city in _cities(city_slug):
        try:
            version = services.predictor_train(city=city)
        except ValueError as exc:  # no or too little data: nothing to train, not a failure to retry
            result[city.slug] = {"skipped": str(exc)}
            continue
        result[city.slug] = {"version": version.version, "status": version.status, "metrics": version.metrics}
    return result


@shared_task(name="traffic.tasks.simulated_feed", time_limit=240)
def simulated_feed(city_slugs: list[str]) -> dict[str, int]:
    """The demo's simulated cameras (the seeder schedules this for its cities only; real cities have devices)."""
    return {c.slug: services.traffic_simulate_to_now(city=c) for c in _cities(None).filter(slug__in=city_slugs)}
