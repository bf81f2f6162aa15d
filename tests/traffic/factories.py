"""A small road network for the traffic tests: a 4x4 grid (48 directed segments) in Hangzhou."""

import random

from tests.factories import city
from traffic import services
from traffic.core.network import grid_network
from traffic.models import Device, DeviceKind, RoadSegment


def network(slug: str = "hangzhou", size: int = 4):
    place = city(slug)
    nodes, segments = grid_network(center=(place.latitude, place.longitude), size=size, spacing_m=500,
                                   rng=random.Random(1), prefix=f"{slug[:2]}")
    services.road_network_import(city=place, nodes=nodes, segments=segments)
    return place


def camera(segment: RoadSegment, *, interval_s: int = 300, plate_reader: bool = False) -> tuple[Device, str]:
    return services.device_register(city=segment.city, kind=DeviceKind.CAMERA, name=f"cam {segment.code}",
                                     segment=segment, interval_s=interval_s, is_plate_reader=plate_reader)


def gateway(place) -> tuple[Device, str]:
    return services.device_register(city=place, kind=DeviceKind.GATEWAY, name=f"{place.slug} gateway")
