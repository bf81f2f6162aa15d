"""`manage.py import_venues` on a sample in Foursquare's NYC/Tokyo check-in format (TSMC 2014)."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from merchants.models import Merchant
from merchants.seed import categories_ensure

SAMPLE = Path(__file__).parent / "data" / "foursquare_tsmc2014_sample.tsv"


def _run(*args) -> dict:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_venues", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def _expected_venue_ids() -> set[str]:
    good = set()
    for raw in SAMPLE.read_bytes().splitlines():
        fields = raw.decode("latin-1").split("\t")
        if len(fields) == 8 and fields[1] and fields[3] != "Home (private)":
            try:
                lat, lon, offset = float(fields[4]), float(fields[5]), int(fields[6])
            except ValueError:
                continue
            if -90 <= lat <= 90 and -180 <= lon <= 180 and abs(offset) <= 840:
                good.add(fields[1])
    return good


@pytest.mark.django_db
def test_import_foursquare_sample_reports_and_rejects_bad_rows():
    categories_ensure()
    venue_ids = _expected_venue_ids()
    summary = _run(str(SAMPLE), "--format", "foursquare")
    assert summary["rows"] == 62
    assert summary["venues"] == summary["imported"] == len(venue_ids) == 22
    assert summary["rejected_by_reason"] == {
        "invalid_latitude": 2, "invalid_longitude": 1, "invalid_tz_offset": 1, "missing_external_id": 1,
        "not_a_venue": 1, "wrong_column_count": 1}
    assert summary["duplicate_rows"] == 62 - 7 - 22
    assert "line" in summary["rejected_examples"]["invalid_latitude"]
    assert set(Merchant.objects.values_list("external_id", flat=True)) == venue_ids

    tokyo = Merchant.objects.filter(city__slug="tokyo")
    new_york = Merchant.objects.filter(city__slug="new-york")
    assert tokyo.count() == 7 and new_york.count() == 15
    # The offset is one the city uses, so the venue gets the city's real zone (daylight saving included).
    assert set(tokyo.values_list("time_zone", flat=True)) == {"Asia/Tokyo"}
    assert set(new_york.values_list("time_zone", flat=True)) == {"America/New_York"}
    # Latin-1 bytes in the file are decoded; categories are mapped to ours or imported under a vertical.
    cafe = Merchant.objects.get(external_id="4e0a1c7b1f6e8b3c2a5d9f10")
    assert cafe.name.startswith("Café") and [c.slug for c in cafe.categories.all()] == ["cafe"]
    assert cafe.vertical == "restaurant" and cafe.accepts_wallet is False
    crafts = Merchant.objects.filter(categories__slug="imported-arts-crafts-store").first()
    assert crafts is not None and crafts.vertical == "shopping"


@pytest.mark.django_db
def test_import_is_idempotent_and_updates_changed_venues(tmp_path):
    categories_ensure()
    first = _run(str(SAMPLE), "--format", "foursquare")
    again = _run(str(SAMPLE), "--format", "foursquare")
    assert again["imported"] == again["updated"] == 0 and again["unchanged"] == first["imported"]
    assert Merchant.objects.count() == first["imported"]

    moved = tmp_path / "moved.tsv"
    moved.write_bytes(SAMPLE.read_bytes().replace(b"40.7411\t-73.9897", b"40.7420\t-73.9890"))
    result = _run(str(moved), "--format", "foursquare")
    assert result["updated"] == 1 and result["imported"] == 0
    assert Merchant.objects.get(external_id="4e0a1c7b1f6e8b3c2a5d9f10").latitude == 40.742


@pytest.mark.django_db
def test_import_fills_in_placeholders_from_interaction_imports():
    categories_ensure()
    Merchant.objects.create(name="item 4e0a1c7b", external_id="4e0a1c7b1f6e8b3c2a5d9f10", vertical="leisure",
                            is_placeholder=True)
    result = _run(str(SAMPLE), "--format", "foursquare")
    assert result["updated"] == 1
    venue = Merchant.objects.get(external_id="4e0a1c7b1f6e8b3c2a5d9f10")
    assert venue.is_placeholder is False and venue.latitude == 40.7411 and venue.city.slug == "new-york"


@pytest.mark.django_db
def test_dry_run_writes_nothing():
    categories_ensure()
    result = _run(str(SAMPLE), "--format", "foursquare", "--dry-run")
    assert result["imported"] == 22
    assert not Merchant.objects.exists()


@pytest.mark.django_db
def test_csv_with_column_mapping(tmp_path):
    categories_ensure()
    path = tmp_path / "pois.csv"
    path.write_text(
        "poi,title,kind,y,x,town,tz\n"
        "p1,Kunsthaus,Museum,47.3703,8.5481,zurich,Europe/Zurich\n"
        "p2,Blue Bottle,Coffee Shop,35.6702,139.7026,,\n"
        "p3,Nowhere Inn,Hotel,0.0,0.0,atlantis,\n"
        "p4,Bad Zone Bar,Bar,47.37,8.54,zurich,Mars/Olympus\n"
        "p5,Far away,Park,-45.0,170.0,,\n")
    result = _run(str(path), "--external-id", "poi", "--name", "title", "--category", "kind", "--lat", "y",
                  "--lon", "x", "--city", "town", "--time-zone", "tz", "--id-prefix", "osm:")
    assert result["imported"] == 3
    assert result["rejected_by_reason"] == {"unknown_city": 1, "invalid_time_zone": 1}
    assert Merchant.objects.get(external_id="osm:p1").city.slug == "zurich"
    assert Merchant.objects.get(external_id="osm:p2").city.slug == "tokyo"
    far = Merchant.objects.get(external_id="osm:p5")
    assert far.city is None and far.time_zone == "UTC"


def test_missing_mapping_is_a_clear_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n")
    with pytest.raises(CommandError, match="--external-id"):
        call_command("import_venues", str(path))
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_venues", str(tmp_path / "missing.tsv"))
