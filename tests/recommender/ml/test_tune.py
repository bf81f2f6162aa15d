import numpy as np

from recommender.ml.models import DEFAULT_PARAMS
from recommender.ml.tune import perturb_params, sample_params, tune


def test_tune_starts_from_defaults_and_is_seeded(blocks):
    calls = []
    kw = {"algorithm": "als", "max_trials": 4, "time_budget_s": 60, "seed": 3, "num_threads": 1}
    a = tune(blocks, progress=lambda i, n: calls.append((i, n)), **kw)
    b = tune(blocks, **kw)
    assert a.trials[0].phase == "default" and a.trials[0].params == DEFAULT_PARAMS["als"]
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert a.best_score == max(t.score for t in a.trials)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert {t.phase for t in a.trials} <= {"default", "random", "refine"}


def test_time_budget_stops_search(blocks):
    res = tune(blocks, algorithm="itemknn", max_trials=50, time_budget_s=0.0, num_threads=1)
    assert len(res.trials) == 1  # the default trial always runs


def test_search_space_is_valid_for_every_algorithm():
    rng = np.random.default_rng(0)
    for algorithm in ("als", "bpr", "itemknn"):
        for _ in range(20):
            p = sample_params(algorithm, rng=rng)
            assert set(p) == set(DEFAULT_PARAMS[algorithm])
            q = perturb_params(p, rng=rng)
            assert set(q) == set(p)
            if "B" in q:
                assert 0.0 <= q["B"] <= 1.0
