"""Smoke checks on the public real data sets (skip without them, fail in CI: the `shared_data` fixture)."""

import pytest

from recommender.ml.bench_real import load_split
from recommender.ml.evaluate import evaluate
from recommender.ml.models import make_model


def test_movielens_time_split_protocol_and_als_beats_popularity(shared_data):
    shared_data("movielens-100k", "u.data")
    split, validation = load_split("movielens")
    assert split.train.shape == (943, 1682)
    assert validation is not None
    assert split.train.multiply(split.test).nnz == 0
    pop = evaluate(make_model("popularity").fit(split.train), split.train, split.test)
    als = evaluate(make_model("als", num_threads=1).fit(split.train), split.train, split.test)
    assert 0.08 < pop["ndcg"] < 0.2
    assert als["ndcg"] > 1.3 * pop["ndcg"]


@pytest.mark.slow
def test_foursquare_defaults_reach_three_times_popularity(shared_data):
    shared_data("foursquare-checkin-counts", "ratings_data.txt")
    split, _ = load_split("foursquare")
    pop = evaluate(make_model("popularity").fit(split.train), split.train, split.test)
    als = evaluate(make_model("als", num_threads=1).fit(split.train), split.train, split.test)
    assert als["ndcg"] >= 3 * pop["ndcg"]
