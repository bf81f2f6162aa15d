"""Shortcuts of the cached page agree with what they stand for."""

from datetime import UTC, datetime, time, timedelta

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from merchants.selectors import merchant_is_open
from recommender.serving import catalogue as serving_catalogue
from recommender.serving.content import ContentIndex, _unit_row
from superapp import process_cache
from tests.conftest import client_for
from tests.factories import MerchantFactory, UserFactory, city
from tests.merchants.factories import hours


@pytest.mark.parametrize("seed", range(5))
def test_a_row_is_normalised_as_scikit_learn_does(seed):
    rng = np.random.default_rng(seed)
    row = sp.random(1, 40, density=0.3 if seed else 0.0, random_state=seed, format="csr") * rng.uniform(0.1, 9)
    assert np.allclose(_unit_row(row).toarray(), normalize(row).toarray())


@pytest.mark.parametrize("seed", range(6))
def test_cosines_over_the_rows_terms_are_the_sparse_product(seed):
    rng = np.random.default_rng(seed)
    n, vocab = int(rng.integers(1, 60)), int(rng.integers(1, 80))
    matrix = normalize(sp.random(n, vocab, density=float(rng.uniform(0, 0.3)), random_state=seed, format="csr",
                                 dtype=np.float32))
    index = ContentIndex(np.arange(n, dtype=np.int64), matrix.astype(np.float32).tocsr(), None, ())
    a, b = rng.integers(0, n, int(rng.integers(0, 30))), rng.integers(0, n, int(rng.integers(0, 30)))
    got = index.cosines(a, b)
    assert got.shape == (len(a), len(b))
    assert np.allclose(got, (index.matrix[a] @ index.matrix[b].T).toarray(), atol=1e-6)


@pytest.mark.django_db
def test_open_now_remembered_per_second_is_the_services_rule():
    merchants = [MerchantFactory(city=city(slug)) for slug in ("hangzhou", "davos", "hangzhou")]
    hours(merchants[0], opens=time(9), closes=time(17))
    hours(merchants[1], opens=time(22), closes=time(2))  # over midnight
    process_cache.reset_all()  # build the catalogue afresh
    cat = serving_catalogue.catalogue()
    ids = [m.pk for m in merchants]
    start = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    for step in range(0, 48 * 60, 17):  # every 17 minutes over two days, twice in each second
        at = start + timedelta(minutes=step)
        for moment in (at, at + timedelta(microseconds=400_000)):
            expected = {m.pk for m in merchants if merchant_is_open(m, moment)}
            assert cat.open_ids(ids, moment) == expected


@pytest.mark.django_db
def test_open_now_is_remembered_for_a_minute_only_when_nothing_opens_within_it():
    """Whole-minute hours: one evaluation serves the minute. An opening at 09:00:30 must be seen at 09:00:40 even
    after a page at 09:00:10 (then it is remembered per second), and the next minute is evaluated afresh."""
    whole, seconds = MerchantFactory(city=city("hangzhou")), MerchantFactory(city=city("hangzhou"))
    hours(whole, opens=time(9), closes=time(17))
    process_cache.reset_all()
    cat = serving_catalogue.catalogue()
    at = datetime(2026, 3, 2, 0, 59, 10, tzinfo=UTC)  # 08:59:10 in Hangzhou
    assert cat.open_ids([whole.pk], at) == set()
    assert cat._open_memo[1] - cat._open_memo[0] == 60
    assert cat.open_ids([whole.pk], at + timedelta(seconds=50)) == {whole.pk}  # 09:00:00: a new minute
    hours(seconds, opens=time(9, 0, 30), closes=time(17))
    process_cache.reset_all()
    cat = serving_catalogue.catalogue()
    assert cat.open_ids([seconds.pk], at + timedelta(seconds=60)) == set()  # 09:00:10
    assert cat._open_memo[1] - cat._open_memo[0] == 1
    assert cat.open_ids([seconds.pk], at + timedelta(seconds=90)) == {seconds.pk}  # 09:00:40


@pytest.mark.django_db
def test_remembered_query_strings_still_refuse_bad_input_every_time():
    client = client_for(UserFactory())
    for _ in range(2):
        response = client.get("/api/v1/recommendations", {"limit": "abc"})
        assert response.status_code == 400
    first = client.get("/api/v1/recommendations", {"limit": "3"}).json()
    again = client.get("/api/v1/recommendations", {"limit": "3"}).json()
    assert len(first["results"]) <= 3 and first == again


@pytest.mark.django_db
def test_the_catalogue_loads_cards_and_hours_of_many_merchants_by_subquery(monkeypatch):
    """A new worker's catalogue preloads up to CARDS_MAX cards and every merchant's weekly hours; passing their
    ids as one query parameter each took seconds with 100,000 merchants (a first request past the bench's 10 s).
    The selection is a subquery: cards of exactly the first CARDS_MAX active merchants, hours of all of them."""
    from django.db import connection

    parameters = []

    def count_parameters(execute, sql, params, many, context):
        parameters.append(len(params or ()))
        return execute(sql, params, many, context)

    monkeypatch.setattr(serving_catalogue, "CARDS_MAX", 30)
    merchants = [MerchantFactory(city=city("hangzhou")) for _ in range(40)]
    for merchant in merchants[::3]:
        hours(merchant, opens=time(9), closes=time(17), weekdays=[merchant.pk % 7])
    process_cache.reset_all()
    with connection.execute_wrapper(count_parameters):
        cat = serving_catalogue.catalogue()
    assert parameters and max(parameters) < 25
    first = sorted(cat.ids.tolist())[:30]
    assert sorted(cat.cards) == first
    for merchant in merchants:
        (row,) = cat.rows(np.array([merchant.pk]))
        expected = [(merchant.pk % 7, time(9), time(17))] if merchant in merchants[::3] else []
        assert cat.hours.of_row(row) == expected
        if merchant.pk in first:
            assert cat.cards[merchant.pk]["name"] == merchant.name


@pytest.mark.django_db
def test_a_full_card_store_makes_room_for_new_cards_without_forgetting_the_rest(monkeypatch):
    """Over a catalogue larger than CARDS_MAX the store keeps working: the oldest cards make room (it used to
    start over empty, so every page missed until it had refilled)."""
    monkeypatch.setattr(serving_catalogue, "CARDS_MAX", 20)
    merchants = [MerchantFactory(city=city("hangzhou")) for _ in range(40)]
    process_cache.reset_all()
    cat = serving_catalogue.catalogue()
    ids = sorted(m.pk for m in merchants)
    assert sorted(cat.cards) == ids[:20]
    assert set(cat.cards_for(ids[20:23])) == set(ids[20:23])
    assert len(cat.cards) <= 20
    assert set(ids[20:23]) <= set(cat.cards) and set(ids[5:20]) <= set(cat.cards)  # the oldest quarter went
    assert cat.cards_for(ids[:3]) == {pk: cat.cards[pk] for pk in ids[:3]}  # and comes back when asked for


@pytest.mark.parametrize("seed", range(5))
def test_membership_in_sorted_candidates_is_numpys_isin(seed):
    from recommender.serving.services import _in_sorted

    rng = np.random.default_rng(seed)
    candidates = np.unique(rng.integers(1, 500, size=rng.integers(0, 200)))
    ids = rng.integers(0, 520, size=300)
    assert (_in_sorted(ids, candidates) == np.isin(ids, candidates)).all()


@pytest.mark.django_db
def test_cards_kept_last_outlive_the_room_made_for_new_ones(monkeypatch):
    """The catalogue keeps the loaded model's merchants' cards last (every materialised list is made of them), so
    the room made for other merchants' cards is taken from the rest first."""
    monkeypatch.setattr(serving_catalogue, "CARDS_MAX", 20)
    merchants = [MerchantFactory(city=city("hangzhou")) for _ in range(40)]
    process_cache.reset_all()
    cat = serving_catalogue.catalogue()
    ids = sorted(m.pk for m in merchants)
    kept = ids[:3] + ids[35:37]  # the oldest kept, and two not kept yet
    cat.cards_keep(kept)
    assert set(kept) <= set(cat.cards) and len(cat.cards) <= 20
    cat.cards_for(ids[25:30])
    assert set(kept) <= set(cat.cards) and set(ids[25:30]) <= set(cat.cards)
