"""Bulk ingestion: device-key auth, idempotency per (sensor, interval), per-row reasons."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.superapp.test_api_conventions import assert_error_shape
from tests.traffic.factories import camera, gateway, network
from traffic import services
from traffic.models import Observation, PlateSighting, RoadSegment

URL = "/api/v1/traffic/observations"


def device_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Device {key}")
    return client


def aligned(minutes_ago: int = 30) -> datetime:
    now = timezone.now().astimezone(UTC)
    return now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0) - timedelta(minutes=minutes_ago)


def row(sensor_id, start, count=12, speed=38.5, occupancy=0.1):
    return {"sensor_id": sensor_id, "interval_start": start.isoformat(), "vehicle_count": count,
            "mean_speed_kmh": speed, "occupancy": occupancy}


@pytest.fixture
def world(db):
    place = network()
    segments = list(RoadSegment.objects.filter(city=place).order_by("pk")[:3])
    cams = [camera(s) for s in segments]
    gw, gw_key = gateway(place)
    return {"city": place, "segments": segments, "cameras": [c for c, _ in cams], "camera_keys": [k for _, k in cams],
            "gateway": gw, "gateway_key": gw_key}


def post(client, rows):
    return client.post(URL, {"observations": rows}, format="json")


def test_gateway_batch_is_stored_and_a_replay_is_idempotent(world, sql_branch):
    client = device_client(world["gateway_key"])
    start = aligned()
    rows = [row(c.pk, start - timedelta(minutes=5 * i)) for c in world["cameras"] for i in range(4)]
    first = post(client, rows)
    assert first.status_code == 200, first.content
    assert first.json() == {"received": 12, "stored": 12, "duplicates": 0, "rejected": 0, "errors": []}
    stored = Observation.objects.get(sensor=world["cameras"][0], interval_start=start)
    assert stored.segment_id == world["segments"][0].pk and stored.city_id == world["city"].pk
    assert stored.vehicle_count == 12 and stored.mean_speed_kmh == 38.5
    again = post(client, rows)
    assert again.json() == {"received": 12, "stored": 0, "duplicates": 12, "rejected": 0, "errors": []}
    assert Observation.objects.count() == 12


def test_bad_rows_get_reasons_and_good_rows_are_stored(world, sql_branch):
    client = device_client(world["gateway_key"])
    cam, other_cam, revoked_cam = world["cameras"]
    services.device_revoke(device=revoked_cam)
    start = aligned()
    post(client, [row(cam.pk, start - timedelta(minutes=60), count=5), row(cam.pk, start - timedelta(minutes=65))])
    foreign_city = network("shanghai", size=3)
    foreign_cam, _ = camera(RoadSegment.objects.filter(city=foreign_city).first())
    rows = [
        row(cam.pk, start),  # 0 good
        row(999_999, start),  # 1 unknown sensor
        row(revoked_cam.pk, start),  # 2 revoked key
        row(cam.pk, start + timedelta(hours=2)),  # 3 future
        row(cam.pk, start - timedelta(minutes=5), count=-3),  # 4 negative count
        row(cam.pk, start - timedelta(minutes=10), speed=420.0),  # 5 speed above the sanity limit
        row(cam.pk, start - timedelta(minutes=60), count=9),  # 6 stored earlier with other values
        row(cam.pk, start - timedelta(minutes=65)),  # 7 same as stored: duplicate, not an error
        row(cam.pk, start - timedelta(minutes=2)),  # 8 not aligned to 5 minutes
        row(cam.pk, start - timedelta(minutes=15), occupancy=1.5),  # 9 occupancy
        {"sensor_id": cam.pk},  # 10 missing fields
        "not an object",  # 11
        row(foreign_cam.pk, start),  # 12 another city's camera
        row(other_cam.pk, start, count=7),  # 13 good
        row(other_cam.pk, start, count=8),  # 14 same interval twice in one batch, other values
        {**row(cam.pk, start - timedelta(minutes=20)), "interval_start": "yesterday"},  # 15
        row(other_cam.pk, start, count=7),  # 16 same as 13: duplicate
    ]
    response = post(client, rows)
    assert response.status_code == 200, response.content
    body = response.json()
    codes = {e["index"]: e["code"] for e in body["errors"]}
    assert codes == {
        1: "unknown_sensor", 2: "sensor_revoked", 3: "interval_in_future", 4: "negative_count",
        5: "speed_out_of_range", 6: "duplicate_conflict", 8: "interval_misaligned", 9: "invalid_occupancy",
        10: "invalid_row", 11: "invalid_row", 12: "unknown_sensor", 14: "duplicate_conflict",
        15: "invalid_interval_start",
    }
    assert all(e["message"] for e in body["errors"])
    assert (body["stored"], body["duplicates"], body["rejected"]) == (2, 2, 13)
    assert Observation.objects.get(sensor=cam, interval_start=start - timedelta(minutes=60)).vehicle_count == 5
    assert Observation.objects.filter(sensor=other_cam).get().vehicle_count == 7
    assert not Observation.objects.filter(sensor=revoked_cam).exists()


def test_a_camera_reports_only_for_itself(world):
    cam, other, _ = world["cameras"]
    response = post(device_client(world["camera_keys"][0]), [row(cam.pk, aligned()), row(other.pk, aligned())])
    assert [e["code"] for e in response.json()["errors"]] == ["sensor_not_allowed"]
    assert response.json()["stored"] == 1


def test_device_endpoints_refuse_users_bad_and_revoked_keys(world, user, api_client):
    rows = [row(world["cameras"][0].pk, aligned())]
    assert_error_shape(post(api_client, rows), 401, "not_authenticated")
    user_client = APIClient()
    user_client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    assert user_client.get("/api/v1/me").status_code == 200  # a valid user token...
    refused = post(user_client, rows)  # ...is not a device key, and the answer says what to send
    assert_error_shape(refused, 401, "not_authenticated")
    assert refused.json()["error"]["message"].startswith("This endpoint takes a device key: send `Authorization: "
                                                         "Device <key>`.")
    assert "access token is not accepted here" in refused.json()["error"]["message"]
    wrong_way = device_client(world["camera_keys"][0]).get("/api/v1/me")  # and a device key on a user endpoint
    assert_error_shape(wrong_way, 401, "not_authenticated")
    assert "takes a user's access token" in wrong_way.json()["error"]["message"]
    assert "Device keys are accepted only on the device endpoints" in wrong_way.json()["error"]["message"]
    assert_error_shape(post(device_client("tdk_0123456789_nope"), rows), 401, "invalid_device_key")
    assert_error_shape(post(device_client("garbage"), rows), 401, "invalid_device_key")
    services.device_revoke(device=world["gateway"])
    assert_error_shape(post(device_client(world["gateway_key"]), rows), 401, "device_key_revoked")
    # A rotated key works again, the old one does not.
    new_key = services.device_key_rotate(device=world["gateway"])
    assert post(device_client(new_key), rows).status_code == 200
    assert_error_shape(post(device_client(world["gateway_key"]), rows), 401, "invalid_device_key")
    assert not Observation.objects.exclude(pk__in=[]).filter(vehicle_count=0).exists()


def test_a_device_key_is_not_a_user_login(world):
    client = device_client(world["gateway_key"])
    assert_error_shape(client.get("/api/v1/traffic/cities/hangzhou/dashboard"), 401)


def test_whole_request_errors(world, settings):
    client = device_client(world["gateway_key"])
    assert_error_shape(client.post(URL, data="{nope", content_type="application/json"), 400, "malformed_request")
    assert_error_shape(client.post(URL, {"rows": []}, format="json"), 400, "validation_error")
    assert_error_shape(client.post(URL, [1, 2], format="json"), 400, "validation_error")
    settings.TRAFFIC_MAX_BATCH_ROWS = 2
    big = [row(world["cameras"][0].pk, aligned(5 * i)) for i in range(3)]
    assert_error_shape(post(client, big), 413, "batch_too_large")
    assert Observation.objects.count() == 0


def test_only_a_hash_of_the_key_is_stored(world):
    gw = world["gateway"]
    gw.refresh_from_db()
    assert world["gateway_key"] not in (gw.key_hash, gw.key_prefix)
    assert len(gw.key_hash) == 64 and world["gateway_key"].split("_")[1] == gw.key_prefix


def test_plate_sightings_are_stored_as_salted_hashes(world, settings):
    cam, other, _ = world["cameras"]
    cam.is_plate_reader = True
    cam.save()
    client = device_client(world["gateway_key"])
    seen = timezone.now() - timedelta(minutes=3)
    response = client.post("/api/v1/traffic/sightings", {"sightings": [
        {"sensor_id": cam.pk, "plate": "浙A 12345", "seen_at": seen.isoformat()},
        {"sensor_id": other.pk, "plate": "浙A12345", "seen_at": seen.isoformat()},
        {"sensor_id": cam.pk, "plate": "", "seen_at": seen.isoformat()},
    ]}, format="json")
    assert response.status_code == 200
    assert [e["code"] for e in response.json()["errors"]] == ["not_a_plate_reader", "invalid_row"]
    sighting = PlateSighting.objects.get()
    assert "12345" not in sighting.plate_hash and sighting.plate_hash == services.plate_hash("浙a-12345")
    settings.TRAFFIC_PLATE_HASH_SECRET = "another-secret"
    assert services.plate_hash("浙A12345") != sighting.plate_hash


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_store_each_interval_once(concurrently):
    place = network()
    segment = RoadSegment.objects.filter(city=place).first()
    cam, _ = camera(segment)
    gw, key = gateway(place)
    start = aligned()
    rows = [row(cam.pk, start - timedelta(minutes=5 * i), count=i) for i in range(50)]

    def send(i):
        return post(device_client(key), rows).json()

    results = concurrently(send, 6)
    assert Observation.objects.filter(sensor=cam).count() == 50
    assert sum(r["stored"] for r in results) == 50
    assert all(r["stored"] + r["duplicates"] == 50 and r["rejected"] == 0 for r in results)


def test_ids_beyond_bigint_are_unknown_not_errors(world, auth_client):
    client = device_client(world["gateway_key"])
    huge = 2**70
    response = post(client, [row(huge, aligned())])
    # orjson reads integers beyond 64 bits as floats: such a row is invalid rather than unknown.
    assert response.status_code == 200 and response.json()["errors"][0]["code"] == "invalid_row"
    response = post(client, [row(2**63, aligned())])
    assert response.status_code == 200 and response.json()["errors"][0]["code"] in {"unknown_sensor", "invalid_row"}
    sightings = client.post("/api/v1/traffic/sightings", {"sightings": [
        {"sensor_id": 2**63, "plate": "AB123", "seen_at": aligned().isoformat()}]}, format="json")
    assert sightings.json()["errors"][0]["code"] in {"unknown_sensor", "invalid_row"}
    assert_error_shape(client.get(f"/api/v1/traffic/intersections/{huge}/plan"), 404)
    assert_error_shape(auth_client.get("/api/v1/traffic/travel-times", {"from_sensor": huge, "to_sensor": 1}), 400)
