"""Import a city's road network from a CSV pair or a GeoJSON file, or generate the demo grid.

CSV: `--nodes nodes.csv` with columns code,lat,lon,signalised[,name] and `--segments segments.csv`
with code,from,to,lanes,speed_limit_kmh[,free_flow_speed_kmh,length_m,road_class,name]
(free flow defaults to 90 % of the limit; length to the great-circle distance).

GeoJSON: one FeatureCollection; Point features are intersections (properties code, signalised,
name), LineString features are directed segments (properties code, from, to, lanes,
speed_limit_kmh, optional free_flow_speed_kmh, road_class, name, oneway; length from the geometry).
A LineString with `"oneway": false` also makes the reverse segment (code + "-r").

Re-importing updates rows in place by code.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from django.core.management import BaseCommand, CommandError

from merchants.models import City
from superapp.geo import haversine_m
from traffic import selectors, services
from traffic.core.network import NodeSpec, SegmentSpec, grid_network

ROAD_CLASSES = {"local", "collector", "arterial", "expressway"}


def _bool(value) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "y", "t"}


def _segment(props: dict, nodes: dict[str, NodeSpec], *, length_m: float | None, where: str) -> SegmentSpec:
    try:
        code, src, dst = str(props["code"]), str(props["from"]), str(props["to"])
        lanes = int(props.get("lanes") or 1)
        limit = float(props["speed_limit_kmh"])
        free_flow = float(props.get("free_flow_speed_kmh") or 0.9 * limit)
    except (KeyError, TypeError, ValueError) as exc:
        raise CommandError(f"{where}: missing or invalid field ({exc})")
    if src not in nodes or dst not in nodes:
        raise CommandError(f"{where}: unknown intersection {src!r} or {dst!r}")
    if props.get("length_m"):
        length_m = float(props["length_m"])
    if length_m is None:
        a, b = nodes[src], nodes[dst]
        length_m = float(haversine_m(a.latitude, a.longitude, b.latitude, b.longitude))
    road_class = str(props.get("road_class") or "local")
    if road_class not in ROAD_CLASSES:
        raise CommandError(f"{where}: road_class must be one of {sorted(ROAD_CLASSES)}")
    if lanes < 1 or limit <= 0 or free_flow <= 0 or length_m <= 0:
        raise CommandError(f"{where}: lanes, speeds and length must be positive")
    return SegmentSpec(code=code, from_code=src, to_code=dst, length_m=round(length_m, 1), lanes=lanes,
                       speed_limit_kmh=limit, free_flow_speed_kmh=free_flow, road_class=road_class,
                       name=str(props.get("name") or ""))


def read_csv(nodes_path: Path, segments_path: Path) -> tuple[list[NodeSpec], list[SegmentSpec]]:
    nodes: dict[str, NodeSpec] = {}
    with nodes_path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                nodes[row["code"]] = NodeSpec(code=row["code"], latitude=float(row["lat"]), longitude=float(row["lon"]),
                                              signalised=_bool(row.get("signalised", "")), name=row.get("name") or "")
            except (KeyError, TypeError, ValueError) as exc:
                raise CommandError(f"{nodes_path}:{line}: {exc}")
    with segments_path.open(newline="", encoding="utf-8") as handle:
        segments = [_segment(row, nodes, length_m=None, where=f"{segments_path}:{line}")
                    for line, row in enumerate(csv.DictReader(handle), start=2)]
    return list(nodes.values()), segments


def read_geojson(path: Path) -> tuple[list[NodeSpec], list[SegmentSpec]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        features = data["features"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CommandError(f"{path}: not a GeoJSON FeatureCollection ({exc})")
    nodes: dict[str, NodeSpec] = {}
    lines = []
    for i, feature in enumerate(features):
        geometry, props = feature.get("geometry") or {}, feature.get("properties") or {}
        if geometry.get("type") == "Point":
            lon, lat = geometry["coordinates"][:2]
            code = str(props.get("code", f"p{i}"))
            nodes[code] = NodeSpec(code=code, latitude=float(lat), longitude=float(lon),
                                   signalised=_bool(props.get("signalised", False)), name=str(props.get("name") or ""))
        elif geometry.get("type") == "LineString":
            lines.append((i, geometry["coordinates"], props))
    segments = []
    for i, coords, props in lines:
        length = sum(float(haversine_m(a[1], a[0], b[1], b[0])) for a, b in zip(coords[:-1], coords[1:], strict=True))
        segment = _segment(props, nodes, length_m=length or None, where=f"{path} feature {i}")
        segments.append(segment)
        if props.get("oneway") is False or str(props.get("oneway", "")).lower() in {"false", "no", "0"}:
            segments.append(SegmentSpec(**{**segment.__dict__, "code": segment.code + "-r",
                                           "from_code": segment.to_code, "to_code": segment.from_code}))
    return list(nodes.values()), segments


class Command(BaseCommand):
    help = "Import (or generate) a city's road network."

    def add_arguments(self, parser):
        parser.add_argument("--city", required=True, help="City slug, e.g. hangzhou")
        parser.add_argument("--nodes", type=Path)
        parser.add_argument("--segments", type=Path)
        parser.add_argument("--geojson", type=Path)
        parser.add_argument("--generate", type=int, metavar="SIZE",
                            help="Generate the demo grid-plus-arterials network of SIZE x SIZE intersections.")
        parser.add_argument("--spacing", type=float, default=650.0, help="Block length in metres (--generate).")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, city: str, nodes, segments, geojson, generate, spacing, seed, **options):
        place = City.objects.filter(slug=city).first()
        if place is None:
            raise CommandError(f"unknown city {city!r}")
        if generate:
            node_specs, segment_specs = grid_network(center=(place.latitude, place.longitude), size=generate,
                                                     spacing_m=spacing, rng=random.Random(seed))
        elif geojson:
            node_specs, segment_specs = read_geojson(geojson)
        elif nodes and segments:
            node_specs, segment_specs = read_csv(nodes, segments)
        else:
            raise CommandError("give --nodes and --segments, or --geojson, or --generate SIZE")
        self.stdout.write(f"importing {len(node_specs)} intersections and {len(segment_specs)} segments ...")
        try:
            summary = services.road_network_import(city=place, nodes=node_specs, segments=segment_specs)
        except ValueError as exc:
            raise CommandError(str(exc))
        phased = services.signal_phases_generate(city=place)
        selectors.city_graph_invalidate(place.pk)
        self.stdout.write(json.dumps({**summary.__dict__, "intersections_phased": phased}))
