"""Management commands: network import (CSV, GeoJSON, generated), traffic and signal simulation."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.traffic.factories import network
from traffic.models import Intersection, Observation, RoadSegment, SignalPhase


def _last_json(out: StringIO) -> dict:
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.django_db
def test_import_csv_pair_and_reimport_updates(tmp_path):
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("code,lat,lon,signalised,name\nA,30.25,120.15,1,Main x 1st\nB,30.25,120.16,0,\n"
                     "C,30.26,120.15,0,\n", encoding="utf-8")
    segments = tmp_path / "segments.csv"
    segments.write_text("code,from,to,lanes,speed_limit_kmh,free_flow_speed_kmh,road_class\n"
                        "AB,A,B,2,50,45,arterial\nBA,B,A,2,50,,arterial\nCA,C,A,1,30,,local\n", encoding="utf-8")
    out = StringIO()
    call_command("import_road_network", "--city", "hangzhou", "--nodes", str(nodes), "--segments", str(segments),
                 stdout=out)
    assert _last_json(out)["segments_created"] == 3
    ab = RoadSegment.objects.get(code="AB")
    assert ab.lanes == 2 and ab.free_flow_speed_kmh == 45 and 900 < ab.length_m < 1000  # 0.01° lon ≈ 962 m
    assert RoadSegment.objects.get(code="BA").free_flow_speed_kmh == 45  # 90 % of the limit by default
    segments.write_text("code,from,to,lanes,speed_limit_kmh\nAB,A,B,3,60\n", encoding="utf-8")
    out = StringIO()
    call_command("import_road_network", "--city", "hangzhou", "--nodes", str(nodes), "--segments", str(segments),
                 stdout=out)
    assert _last_json(out)["segments_updated"] == 1 and RoadSegment.objects.get(code="AB").lanes == 3
    segments.write_text("code,from,to,lanes,speed_limit_kmh\nXY,X,Y,1,50\n", encoding="utf-8")
    with pytest.raises(CommandError, match="unknown intersection"):
        call_command("import_road_network", "--city", "hangzhou", "--nodes", str(nodes), "--segments",
                     str(segments), stdout=StringIO())


@pytest.mark.django_db
def test_import_geojson_two_way_lines(tmp_path):
    path = tmp_path / "net.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.15, 30.25]},
         "properties": {"code": "A", "signalised": True}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.16, 30.25]}, "properties": {"code": "B"}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[120.15, 30.25], [120.155, 30.251],
                                                                                [120.16, 30.25]]},
         "properties": {"code": "AB", "from": "A", "to": "B", "lanes": 2, "speed_limit_kmh": 50, "oneway": False}},
    ]}), encoding="utf-8")
    call_command("import_road_network", "--city", "shanghai", "--geojson", str(path), stdout=StringIO())
    codes = set(RoadSegment.objects.filter(city__slug="shanghai").values_list("code", flat=True))
    assert codes == {"AB", "AB-r"}
    assert Intersection.objects.get(code="A").signalised


@pytest.mark.django_db
def test_generate_simulate_and_compare_signals():
    out = StringIO()
    call_command("import_road_network", "--city", "hangzhou", "--generate", "4", stdout=out)
    assert _last_json(out)["segments_created"] == 48
    assert SignalPhase.objects.exists()
    out = StringIO()
    # Eight days, so that whatever day and hour the suite runs, the latest weekday's peaks have weekday history
    # before them (with two days, a run on a weekend evening found none and simulated no vehicle at all).
    call_command("simulate_traffic", "--city", "hangzhou", "--days", "8", "--seed", "5", stdout=out)
    summary = _last_json(out)
    assert summary["rows"] == 48 * 288 * 8 == Observation.objects.count()
    assert "written" in out.getvalue()  # progress lines
    out = StringIO()
    call_command("simulate_signals", "--city", "hangzhou", "--intersections", "3", stdout=out)
    result = _last_json(out)
    assert result["intersections"] == 3 and result["vehicles"] > 1000
    assert result["webster_delay_s"] < result["fixed_delay_s"] and result["reduction_pct"] > 0
    with pytest.raises(CommandError):
        call_command("simulate_traffic", "--city", "atlantis", "--days", "1", stdout=StringIO())


@pytest.mark.django_db
def test_simulate_signals_needs_data():
    network()
    with pytest.raises(CommandError, match="no observations"):
        call_command("simulate_signals", "--city", "hangzhou", stdout=StringIO())


@pytest.mark.django_db
def test_simulate_signals_refuses_when_the_forecast_has_no_traffic(monkeypatch):
    """Too little weekday history gives a forecast without flows: the command says so instead of reporting a
    comparison of zero vehicles."""
    from traffic import services as traffic_services

    call_command("import_road_network", "--city", "hangzhou", "--generate", "3", stdout=StringIO())
    call_command("simulate_traffic", "--city", "hangzhou", "--days", "0.25", "--seed", "1", stdout=StringIO())
    monkeypatch.setattr(traffic_services, "flows_forecast", lambda **kwargs: {})
    with pytest.raises(CommandError, match="no forecast traffic for hangzhou"):
        call_command("simulate_signals", "--city", "hangzhou", "--intersections", "2", stdout=StringIO())


@pytest.mark.django_db
def test_simulating_an_overlapping_window_keeps_stored_rows():
    network()
    call_command("simulate_traffic", "--city", "hangzhou", "--days", "0.5", "--seed", "1", stdout=StringIO())
    first = dict(Observation.objects.values_list("pk", "mean_speed_kmh"))
    call_command("simulate_traffic", "--city", "hangzhou", "--days", "0.5", "--seed", "2", stdout=StringIO())
    after = dict(Observation.objects.values_list("pk", "mean_speed_kmh"))
    assert {pk: after[pk] for pk in first} == first  # the first report of an interval stays
