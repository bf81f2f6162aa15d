"""Incidents, the dashboard, routing and ETAs, travel times, the predictor, forecasts and signal plans."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from tests.superapp.test_api_conventions import assert_error_shape
from tests.traffic.factories import camera, network
from traffic import selectors, services
from traffic.models import (
    DeviceKind,
    Incident,
    IncidentStatus,
    Intersection,
    Observation,
    PlateSighting,
    PredictorStatus,
    PredictorVersion,
    RoadSegment,
    SegmentForecast,
    SignalPlan,
)

END = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # a Thursday, 18:00 in Hangzhou


@pytest.fixture
def place(db):
    selectors.city_graph_invalidate()
    yield network()
    selectors.city_graph_invalidate()


def _series(place, segment, speeds_by_step, *, step_min=5):
    cam, _ = camera(segment)
    rows = [Observation(sensor=cam, segment=segment, city=place, interval_start=END - timedelta(minutes=step_min * i),
                        interval_s=300, vehicle_count=20, mean_speed_kmh=speed, occupancy=0.1)
            for i, speed in speeds_by_step]
    Observation.objects.bulk_create(rows)
    return cam


def test_incident_detected_on_a_crafted_series(place):
    jammed, normal = RoadSegment.objects.filter(city=place).order_by("pk")[:2]
    rng = np.random.default_rng(0)
    steps = range(0, 7 * 288)
    history = {i: round(40 + rng.normal(0, 1.5), 1) for i in steps}
    _series(place, jammed, [(i, 12.0 if i == 0 else history[i]) for i in steps])
    _series(place, normal, [(i, 38.5 if i == 0 else history[i]) for i in steps])
    raised = services.incidents_detect(city=place)
    assert [i.segment_id for i in raised] == [jammed.pk]
    incident = raised[0]
    assert incident.interval_start == END and incident.observed_speed_kmh == 12.0
    assert incident.expected_speed_kmh == pytest.approx(40, abs=1) and incident.robust_z < -3.5
    assert services.incidents_detect(city=place) == []  # idempotent
    assert Incident.objects.count() == 1
    # The next interval is back to normal: the incident resolves.
    Observation.objects.create(sensor=jammed.sensors.get(), segment=jammed, city=place,
                               interval_start=END + timedelta(minutes=5), interval_s=300, vehicle_count=20,
                               mean_speed_kmh=40.0, occupancy=0.1)
    services.incidents_detect(city=place, at=END + timedelta(minutes=5))
    assert Incident.objects.get().status == IncidentStatus.RESOLVED


def test_dashboard_and_incident_list(place, auth_client, django_assert_num_queries):
    segments = list(RoadSegment.objects.filter(city=place).order_by("pk")[:2])
    _series(place, segments[0], [(i, segments[0].free_flow_speed_kmh * 0.3) for i in range(40)])
    _series(place, segments[1], [(i, segments[1].free_flow_speed_kmh * 0.9) for i in range(40)])
    Incident.objects.create(city=place, segment=segments[0], interval_start=END, observed_speed_kmh=10,
                            expected_speed_kmh=35, robust_z=-6)
    response = auth_client.get("/api/v1/traffic/cities/hangzhou/dashboard")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["worst_segments"][0]["segment_id"] == segments[0].pk
    assert body["worst_segments"][0]["congestion_index"] == pytest.approx(0.7, abs=0.01)
    assert body["worst_segments"][0]["level"] == "jammed"
    assert body["average_congestion_index"] == pytest.approx(0.4, abs=0.01)
    assert len(body["trend"]) == 13 and body["open_incidents"] == 1
    with django_assert_num_queries(2):
        incidents = auth_client.get("/api/v1/traffic/cities/hangzhou/incidents")
    assert incidents.json()["results"][0]["segment_code"] == segments[0].code
    assert_error_shape(auth_client.get("/api/v1/traffic/cities/atlantis/dashboard"), 404)
    empty = auth_client.get("/api/v1/traffic/cities/paris/dashboard").json()
    assert empty["as_of"] is None and empty["worst_segments"] == []


def test_route_and_eta_on_observed_speeds(place, auth_client):
    corners = Intersection.objects.filter(city=place).order_by("code")
    a, b = corners.first(), corners.last()
    origin, destination = (a.latitude, a.longitude), (b.latitude, b.longitude)
    free = selectors.eta_minutes(city=place, origin=origin, destination=destination)
    assert free is not None and 1 < free < 10  # ~3 km at free-flow speeds
    response = auth_client.get("/api/v1/traffic/route", {"from": f"{a.latitude},{a.longitude}",
                                                         "to": f"{b.latitude},{b.longitude}"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["speed_source"] == "free_flow" and body["eta_minutes"] == free and body["speeds_as_of"] is None
    assert body["path"][0] == [a.latitude, a.longitude] and body["path"][-1] == [b.latitude, b.longitude]
    assert len(body["segments"]) == 6  # 3 blocks east + 3 north on the 4x4 grid
    # Jam every segment of that route: the ETA grows, when asked for a time near the observations.
    for seg in body["segments"]:
        _series(place, RoadSegment.objects.get(pk=seg["segment_id"]), [(0, 5.0)])
    jammed = selectors.eta_minutes(city=place, origin=origin, destination=destination, at=END)
    assert jammed > free
    many = selectors.eta_minutes_many(city=place, origin=origin, destinations=[destination, (0.0, 0.0)], at=END)
    assert many == [jammed, None]


def test_route_bad_input(place, auth_client):
    assert_error_shape(auth_client.get("/api/v1/traffic/route", {"from": "x", "to": "1,2"}), 400, "validation_error")
    assert_error_shape(auth_client.get("/api/v1/traffic/route", {"from": "91,0", "to": "1,2"}), 400)
    assert_error_shape(auth_client.get("/api/v1/traffic/route"), 400)
    far = auth_client.get("/api/v1/traffic/route", {"from": "30.27,120.15", "to": "31.9,121.0"})
    assert_error_shape(far, 422, "outside_road_network")
    assert selectors.eta_minutes(city=place, origin=(0.0, 0.0), destination=(30.27, 120.15)) is None
    assert_error_shape(APIClient().get("/api/v1/traffic/route", {"from": "1,1", "to": "1,1"}), 401)


def test_travel_time_from_matched_plates(place, auth_client):
    first, second = RoadSegment.objects.filter(city=place).order_by("pk")[:2]
    a, _ = camera(first, plate_reader=True)
    b, _ = camera(second, plate_reader=True)
    start = END - timedelta(hours=2)
    for n, trip in enumerate([60, 80, 100, 120]):
        h = services.plate_hash(f"P{n}")
        PlateSighting.objects.create(sensor=a, plate_hash=h, seen_at=start + timedelta(minutes=n))
        PlateSighting.objects.create(sensor=b, plate_hash=h, seen_at=start + timedelta(minutes=n, seconds=trip))
    PlateSighting.objects.create(sensor=a, plate_hash=services.plate_hash("lost"), seen_at=start)
    response = auth_client.get("/api/v1/traffic/travel-times", {
        "from_sensor": a.pk, "to_sensor": b.pk, "since": (END - timedelta(hours=3)).isoformat(),
        "until": END.isoformat()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["matches"] == 4 and body["median_s"] == 90.0 and body["mean_s"] == 90.0
    assert_error_shape(auth_client.get("/api/v1/traffic/travel-times", {"from_sensor": a.pk, "to_sensor": a.pk}), 400)
    assert_error_shape(auth_client.get("/api/v1/traffic/travel-times", {"from_sensor": a.pk, "to_sensor": 10**9}),
                       404)


@pytest.fixture
def simulated(place, settings, tmp_path):
    settings.TRAFFIC_MODEL_DIR = str(tmp_path)
    services.signal_phases_generate(city=place)
    summary = services.traffic_simulate(city=place, days=4, end=END, seed=3)
    return place, summary


def test_predictor_trains_activates_and_forecasts(simulated, auth_client):
    place, summary = simulated
    assert summary["rows"] == 48 * 4 * 288
    version = services.predictor_train(city=place, days=4)
    assert version.status == PredictorStatus.ACTIVE, version.metrics
    for horizon in ("15", "30", "60"):
        m = version.metrics[horizon]
        assert m["model"] < m["last_value"] and m["model"] < m["time_of_week"]
    assert services.forecasts_refresh(city=place) == 48 * 3
    forecast = SegmentForecast.objects.filter(horizon_min=30).first()
    assert forecast.target_at == forecast.issued_for + timedelta(minutes=30)
    assert 2 <= forecast.speed_kmh <= 100
    # A second version retires the first; a tampered artifact is refused.
    second = services.predictor_train(city=place, days=4)
    version.refresh_from_db()
    assert second.status == PredictorStatus.ACTIVE and version.status == PredictorStatus.RETIRED
    with open(second.artifact_path, "ab") as artifact:
        artifact.write(b"tampered")
    with pytest.raises(ValueError):
        services.forecasts_refresh(city=place)
    # Routing uses forecasts when asked for a time one of them targets.
    corners = Intersection.objects.filter(city=place).order_by("code")
    a, b = corners.first(), corners.last()
    at = forecast.target_at.isoformat()
    route = auth_client.get("/api/v1/traffic/route", {"from": f"{a.latitude},{a.longitude}",
                                                      "to": f"{b.latitude},{b.longitude}", "depart_at": at})
    assert route.json()["speed_source"] == "forecast_30min"
    assert parse_datetime(route.json()["speeds_as_of"]) == forecast.target_at  # what a client sees move on


def test_forecasts_refresh_retires_an_active_predictor_trained_with_other_features(simulated, monkeypatch):
    """After an upgrade that changed the features, the forecast job neither fails nor serves the old version."""
    place, _ = simulated
    from traffic.core import predictor

    old = PredictorVersion.objects.create(city=place, version=1, status=PredictorStatus.ACTIVE, artifact_path="x")
    segments = np.array(list(RoadSegment.objects.filter(city=place).values_list("pk", flat=True)))
    rng = np.random.default_rng(0)
    older_models = {h: predictor.SpeedModel().fit(rng.random((50, 10)), rng.random(50)) for h in (15, 30, 60)}
    monkeypatch.setattr(services, "predictor_load", lambda version: (older_models, segments,
                                                                    np.ones((2, len(segments), 10))))
    assert services.forecasts_refresh(city=place) == 0
    old.refresh_from_db()
    assert old.status == PredictorStatus.RETIRED
    assert services.forecasts_refresh(city=place) == 0  # no active version now: nothing to do


def test_predictor_kept_inactive_when_it_does_not_beat_the_baselines(simulated, monkeypatch):
    place, _ = simulated
    from traffic.core import predictor

    monkeypatch.setattr(predictor.TrainedPredictor, "beats_baselines", lambda self: False)
    version = services.predictor_train(city=place, days=4)
    assert version.status == PredictorStatus.TRAINED


def test_signal_plans_and_the_controller_endpoint(simulated, auth_client):
    place, _ = simulated
    made = services.signal_plans_refresh(city=place)
    signalised = Intersection.objects.filter(city=place, signalised=True, phases__isnull=False).distinct()
    assert made == signalised.count() > 0
    intersection = signalised.first()
    plan = SignalPlan.objects.filter(intersection=intersection).get()
    greens = [g["green_s"] for g in plan.greens]
    phases = list(intersection.phases.order_by("order"))
    assert plan.cycle_s == pytest.approx(sum(greens) + plan.lost_time_s, abs=0.2)
    assert all(g >= max(p.min_green_s, p.pedestrian_min_green_s) - 0.05 for g, p in zip(greens, phases, strict=True))
    controller, key = services.device_register(city=place, kind=DeviceKind.CONTROLLER, name="ctl",
                                               intersection=intersection)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Device {key}")
    response = client.get(f"/api/v1/traffic/intersections/{intersection.pk}/plan")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["plan_id"] == plan.pk and [p["phase_id"] for p in body["phases"]] == [p.pk for p in phases]
    other = signalised.exclude(pk=intersection.pk).first()
    assert_error_shape(client.get(f"/api/v1/traffic/intersections/{other.pk}/plan"), 404)
    # A signed-in user (here forced past authentication) is not a device.
    assert_error_shape(auth_client.get(f"/api/v1/traffic/intersections/{intersection.pk}/plan"), 403)
    unplanned = Intersection.objects.filter(city=place, signalised=False).first()
    _, gw_key = services.device_register(city=place, kind=DeviceKind.GATEWAY, name="gw")
    client.credentials(HTTP_AUTHORIZATION=f"Device {gw_key}")
    assert client.get(f"/api/v1/traffic/intersections/{other.pk}/plan").status_code == 200
    assert_error_shape(client.get(f"/api/v1/traffic/intersections/{unplanned.pk}/plan"), 404, "plan_not_available")


def test_an_expired_plan_is_never_served_as_current(simulated):
    place, _ = simulated
    intersection = Intersection.objects.filter(city=place, signalised=True, phases__isnull=False).first()
    assert services.signal_plans_refresh(city=place, at=END) > 0  # plans for END .. END + 15 min: long past
    old = SignalPlan.objects.get(intersection=intersection)
    assert selectors.signal_plan_current(intersection=intersection) is None
    assert selectors.signal_plan_current(intersection=intersection, at=END + timedelta(minutes=5)) == old
    controller, key = services.device_register(city=place, kind=DeviceKind.CONTROLLER, name="ctl",
                                               intersection=intersection)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Device {key}")
    body = client.get(f"/api/v1/traffic/intersections/{intersection.pk}/plan").json()  # no job has run since
    assert body["plan_id"] != old.pk
    fresh = SignalPlan.objects.get(pk=body["plan_id"])
    assert fresh.valid_from <= datetime.now(UTC) < fresh.valid_until
    assert client.get(f"/api/v1/traffic/intersections/{intersection.pk}/plan").json()["plan_id"] == fresh.pk


def test_times_far_from_now_are_rejected(place, auth_client):
    far = auth_client.get("/api/v1/traffic/route", {"from": "30.27,120.15", "to": "30.28,120.16",
                                                    "depart_at": "9999-12-31T23:59:59Z"})
    assert_error_shape(far, 400, "validation_error")
    old = auth_client.get("/api/v1/traffic/travel-times", {"from_sensor": 1, "to_sensor": 2,
                                                           "until": "0001-01-01T00:00:00Z"})
    assert_error_shape(old, 400, "validation_error")


def test_trend_does_not_jump_when_only_a_few_sensors_reported_the_newest_interval(place, auth_client):
    segments = list(RoadSegment.objects.filter(city=place).order_by("pk"))
    for segment in segments:  # 2 hours of every segment at 80 % of free flow
        _series(place, segment, [(i, segment.free_flow_speed_kmh * 0.8) for i in range(1, 25)])
    before = auth_client.get("/api/v1/traffic/cities/hangzhou/dashboard").json()["trend"]
    # The newest interval: 2 sensors so far, both jammed.
    _series(place, segments[0], [(0, segments[0].free_flow_speed_kmh * 0.1)])
    _series(place, segments[1], [(0, segments[1].free_flow_speed_kmh * 0.1)])
    after = auth_client.get("/api/v1/traffic/cities/hangzhou/dashboard").json()["trend"]
    assert len(segments) >= 20
    assert [p["congestion_index"] for p in after] == [p["congestion_index"] for p in before]
    assert after[-1]["congestion_index"] == pytest.approx(0.2, abs=0.001)
    # Once most sensors have reported it, the newest interval counts.
    for segment in segments[2:]:
        _series(place, segment, [(0, segment.free_flow_speed_kmh * 0.1)])
    latest = auth_client.get("/api/v1/traffic/cities/hangzhou/dashboard").json()["trend"]
    assert latest[-1]["bucket_start"] > after[-1]["bucket_start"] and latest[-1]["congestion_index"] > 0.8


def test_the_demo_feed_continues_up_to_the_last_ended_interval(place, sql_branch):
    from traffic.tasks import simulated_feed

    now = datetime(2026, 11, 26, 10, 7, 30, tzinfo=UTC)
    segments = RoadSegment.objects.filter(city=place).count()
    assert services.traffic_simulate_to_now(city=place, now=now, max_days=1 / 48) == segments * 6  # 30 min
    latest = Observation.objects.filter(city=place).order_by("-interval_start").first().interval_start
    assert latest == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # 10:00-10:05 has ended, 10:05-10:10 has not
    assert services.traffic_simulate_to_now(city=place, now=now) == 0  # nothing new: safe to run twice
    later = now + timedelta(minutes=10)
    assert services.traffic_simulate_to_now(city=place, now=later) == segments * 2
    assert simulated_feed(city_slugs=["paris"]) == {}  # only cities with a road network


def test_a_city_without_a_network_is_remembered_until_one_is_imported(db, django_assert_num_queries):
    """Drive times on a recommendation page ask for every city's graph: a city without a road network is
    not asked the database again on every page, and an import is seen at once (in its process)."""
    from tests.traffic.factories import city

    selectors.city_graph_invalidate()
    place = city("hangzhou")
    assert selectors.city_graph(place.pk) is None
    with django_assert_num_queries(0):
        assert selectors.city_graph(place.pk) is None
    network()
    graph = selectors.city_graph(place.pk)
    assert graph is not None and len(graph.graph.node_ids) == Intersection.objects.filter(city=place).count()
    selectors.city_graph_invalidate()


def test_speeds_of_a_minute_are_the_speeds_at_its_start_and_refresh_within_a_minute(place, monkeypatch,
                                                                                      django_assert_num_queries):
    """`segment_speeds_at_minute` (drive times on recommendation pages) answers what `segment_speeds_at`
    answers at the start of the minute, computes it once per minute, and sees new observations when its
    copy is older than `_SPEEDS_TTL_S`."""
    graph = selectors.city_graph(place.pk)
    segments = list(RoadSegment.objects.filter(city=place).order_by("pk")[:3])
    for offset_s, speeds in ((0, (30.0, 20.0, 10.0)), (90, (31.0, 21.0, 11.0))):
        at = END + timedelta(seconds=offset_s + 17)
        minute = at.replace(second=0)
        for seg, speed in zip(segments, speeds, strict=True):
            _series(place, seg, [(0, speed)])
        monkeypatch.setattr(selectors, "_SPEEDS_TTL_S", 0.0)  # no copy is fresh: computed now
        cached = selectors.segment_speeds_at_minute(city_graph_=graph, at=at)
        reference = selectors.segment_speeds_at(city_graph_=graph, at=minute)
        assert np.array_equal(cached[0], reference[0]) and cached[1:] == reference[1:] == ("observed", END)
        monkeypatch.setattr(selectors, "_SPEEDS_TTL_S", 60.0)
        selectors.segment_speeds_at_minute(city_graph_=graph, at=at)
        with django_assert_num_queries(0):
            again = selectors.segment_speeds_at_minute(city_graph_=graph, at=minute + timedelta(seconds=59))
        assert again[0] is selectors.segment_speeds_at_minute(city_graph_=graph, at=at)[0]
        assert not again[0].flags.writeable
        Observation.objects.filter(city=place).delete()
