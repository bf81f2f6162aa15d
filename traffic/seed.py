"""Demo world for City Brain: networks for Hangzhou and Shanghai, a week (Hangzhou) and a day
(Shanghai) of simulated observations ending now, plate sightings between two cameras, a trained
predictor, forecasts, incidents, signal phases and plans, and device keys printed once."""

from __future__ import annotations

import json
import random
import time
from datetime import timedelta

from django.utils import timezone

from merchants.models import City
from traffic import services
from traffic.core.network import grid_network
from traffic.models import Device, DeviceKind, Intersection, PlateSighting, RoadSegment

CITIES = [  # slug, grid size, spacing (m), days of observations, train a predictor
    ("hangzhou", 8, 650.0, 7, True),
    ("shanghai", 6, 700.0, 1, False),
]


def _sightings(*, city: City, rng: random.Random, end) -> int:
    """Plates driving between two plate-reading cameras on consecutive segments of one street."""
    first = RoadSegment.objects.filter(city=city, road_class="arterial").order_by("pk").first()
    if first is None:
        return 0
    second = RoadSegment.objects.filter(city=city, from_intersection=first.to_intersection,
                                        name=first.name).exclude(to_intersection=first.from_intersection).first()
    if second is None:
        return 0
    cameras = []
    for segment in (first, second):
        camera = Device.objects.filter(city=city, kind=DeviceKind.CAMERA, segment=segment).first()
        Device.objects.filter(pk=camera.pk).update(is_plate_reader=True)
        cameras.append(camera)
    rows = []
    for n in range(300):
        plate = f"浙A{rng.randrange(10000, 99999)}"
        seen = end - timedelta(minutes=rng.uniform(30, 24 * 60))
        trip = second.length_m / (rng.uniform(18, 45) / 3.6) + rng.uniform(5, 40)  # plus a signal wait
        hashed = services.plate_hash(plate + str(n))
        rows.append(PlateSighting(sensor=cameras[0], plate_hash=hashed, seen_at=seen))
        if rng.random() < 0.85:  # some cars turn off before the second camera
            rows.append(PlateSighting(sensor=cameras[1], plate_hash=hashed, seen_at=seen + timedelta(seconds=trip)))
    PlateSighting.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


FEED_TASK = "Traffic (demo): simulated camera feed"


def _schedule_feed(slugs: list[str]) -> None:
    """The demo's cameras keep reporting while the demo runs: a beat job of the demo world only."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every, _ = IntervalSchedule.objects.get_or_create(every=5 * 60, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(name=FEED_TASK, defaults={
        "task": "traffic.tasks.simulated_feed", "interval": every, "kwargs": json.dumps({"city_slugs": slugs})})


def seed(*, rng: random.Random, stdout) -> None:
    end = timezone.now()
    for slug, size, spacing, days, train in CITIES:
        city = City.objects.filter(slug=slug).first()
        if city is None:
            continue
        started = time.perf_counter()
        nodes, segments = grid_network(center=(city.latitude, city.longitude), size=size, spacing_m=spacing, rng=rng)
        services.road_network_import(city=city, nodes=nodes, segments=segments)
        services.signal_phases_generate(city=city)
        summary = services.traffic_simulate(city=city, days=days, end=end, seed=rng.randrange(2**31),
                                            progress=lambda line: None)
        stdout.write(f"  traffic {slug}: {len(segments)} segments, {summary['rows']} observations, "
                     f"{len(summary['incidents'])} injected incidents ({time.perf_counter() - started:.1f}s)")
        _sightings(city=city, rng=rng, end=end)
        if train:
            version = services.predictor_train(city=city, grid=summary["grid"])
            stdout.write(f"  traffic {slug}: predictor v{version.version} {version.status}, MAE km/h "
                         f"{version.params['summary_mae']}")
            services.forecasts_refresh(city=city)
        services.incidents_detect(city=city)
        plans = services.signal_plans_refresh(city=city, at=end)
        gateway, key = services.device_register(city=city, kind=DeviceKind.GATEWAY, name=f"{slug} edge gateway")
        stdout.write(f"  traffic {slug}: {plans} signal plans; gateway device {gateway.pk} key (shown once): {key}")
        intersection = Intersection.objects.filter(city=city, signalised=True, plans__isnull=False).order_by(
            "pk").first()
        if intersection is not None:
            controller, key = services.device_register(city=city, kind=DeviceKind.CONTROLLER,
                                                       name=f"controller {intersection.code}",
                                                       intersection=intersection)
            stdout.write(f"  traffic {slug}: controller of intersection {intersection.pk} key (shown once): {key}")
    _schedule_feed([slug for slug, *_ in CITIES if City.objects.filter(slug=slug).exists()])
