"""Admin change lists stay fast on large tables (superapp/admin_lists.py); every one of them opens."""

import pytest
from django.contrib import admin
from django.urls import reverse

from superapp.accounts.models import User
from superapp.admin_lists import CappedCountPaginator
from tests.factories import UserFactory

OUR_PACKAGES = {"superapp", "merchants", "bookings", "cityservices", "appointments", "traffic", "payments",
                "recommender"}


def test_every_registered_admin_counts_capped_and_has_no_date_hierarchy():
    problems = []
    for model, model_admin in admin.site._registry.items():
        name = f"{model._meta.label}"
        if not issubclass(model_admin.paginator, CappedCountPaginator):
            problems.append(f"{name}: paginator {model_admin.paginator.__name__} counts the whole table")
        if model_admin.show_full_result_count:
            problems.append(f"{name}: show_full_result_count counts the whole table again")
        ours = type(model_admin).__module__.split(".")[0] in OUR_PACKAGES
        if ours and model_admin.date_hierarchy:  # (django-celery-beat's periodic tasks are a handful of rows)
            problems.append(f"{name}: date_hierarchy scans the table; use a date in list_filter")
    assert problems == []


@pytest.mark.django_db
def test_the_count_is_exact_up_to_the_cap_and_capped_above(django_assert_max_num_queries):
    UserFactory.create_batch(7)
    paginator = CappedCountPaginator(User.objects.order_by("-pk"), 2)
    paginator.count_cap = 5
    with django_assert_max_num_queries(2):  # the capped count (and on PostgreSQL the table estimate)
        assert paginator.count >= 5
    filtered = CappedCountPaginator(User.objects.filter(pk__gt=0).order_by("-pk"), 2)
    filtered.count_cap = 5
    assert filtered.count == 5 and filtered.num_pages == 3
    small = CappedCountPaginator(User.objects.filter(pk__lt=0).order_by("-pk"), 2)
    assert small.count == 0
    exact = CappedCountPaginator(User.objects.order_by("-pk"), 2)
    assert exact.count == User.objects.count()


@pytest.mark.django_db
def test_the_fast_action_checkbox_draws_what_djangos_widget_draws():
    user = UserFactory(username='o\'brien <b>&"co"')
    model_admin = admin.site._registry[User]
    ours = model_admin.action_checkbox(user)
    assert ours == model_admin.django_action_checkbox(user)
    assert f'value="{user.pk}"' in ours and "&lt;b&gt;&amp;" in ours.lower() and "<b>" not in ours.lower()


@pytest.mark.django_db
def test_every_admin_change_list_opens(client):
    root = User.objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(root)
    failures = []
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        if response.status_code != 200:
            failures.append((url, response.status_code))
    assert failures == []


@pytest.mark.django_db
def test_large_table_searches_find_by_name_hash_and_source_through_indexes(client):
    """The large tables' searches (`LargeTableAdmin`) look up exact keys or names in small tables first."""
    from datetime import timedelta

    from django.utils import timezone

    from recommender.models import Interaction
    from tests.factories import MerchantFactory
    from tests.traffic.factories import camera, network
    from traffic.models import Observation, PlateSighting

    root = User.objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(root)
    place = network()
    first, second = place.road_segments.order_by("pk")[:2]
    (cam_a, _), (cam_b, _) = camera(first, plate_reader=True), camera(second, plate_reader=True)
    start = timezone.now().replace(second=0, microsecond=0)
    for cam, segment in ((cam_a, first), (cam_b, second)):
        Observation.objects.create(sensor=cam, segment=segment, city=place, interval_start=start, interval_s=300,
                                   vehicle_count=3, mean_speed_kmh=30, occupancy=0.1)
    PlateSighting.objects.create(sensor=cam_a, plate_hash="ab" * 32, seen_at=start)
    PlateSighting.objects.create(sensor=cam_b, plate_hash="cd" * 32, seen_at=start + timedelta(seconds=5))
    alice, bob = UserFactory(username="alice-search"), UserFactory(username="bob-search")
    noodles, tea = MerchantFactory(name="Lanzhou Noodle House"), MerchantFactory(name="West Lake Tea")
    Interaction.objects.create(user=alice, merchant=tea, kind="view", source="view:1")
    Interaction.objects.create(user=bob, merchant=noodles, kind="payment", source="payment:77")
    Interaction.objects.create(user=bob, merchant=tea, kind="save", source="save:9")

    def found(url: str, term: str) -> int:
        response = client.get(url, {"q": term})
        assert response.status_code == 200
        return len(response.context["cl"].result_list)

    observations, sightings = "/admin/traffic/observation/", "/admin/traffic/platesighting/"
    interactions = "/admin/recommender/interaction/"
    assert found(observations, first.code) == 1 and found(observations, "cam ") == 2
    assert found(observations, "no-such-segment") == 0
    assert found(sightings, "AB" * 32) == 1 and found(sightings, "ab" * 31) == 0  # a hash is searched whole
    assert found(interactions, "bob-search") == 2 and found(interactions, "bob") == 0  # usernames whole
    assert found(interactions, "noodle") == 1 and found(interactions, "tea") == 2  # merchant names in part
    assert found(interactions, "payment:77") == 1 and found(interactions, "") == 3
