import math

import numpy as np
import optuna
import pytest

from recommender.ml.models import DEFAULT_PARAMS, make_model
from recommender.ml.tune import NOISE_Z, SEARCHABLE, paired_gain, search_algorithms, suggest_params, tune


def test_tune_starts_from_defaults_and_is_seeded(blocks):
    calls = []
    kw = {"algorithm": "als", "max_trials": 4, "time_budget_s": 60, "seed": 3, "num_threads": 1, "blend": False}
    a = tune(blocks, progress=lambda i, n: calls.append((i, n)), **kw)
    b = tune(blocks, **kw)
    assert a.trials[0].phase == "default" and a.trials[0].params == DEFAULT_PARAMS["als"]
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    scored = [t.score for t in a.trials if t.phase != "pruned"]
    assert a.best_score == max(scored)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert {t.phase for t in a.trials} <= {"default", "tpe", "pruned"}


def test_auto_searches_every_algorithm_starting_from_each_default(blocks):
    res = tune(blocks, max_trials=6, time_budget_s=120, seed=1, num_threads=1, blend=False)
    defaults = [t for t in res.trials if t.phase == "default"]
    assert [t.algorithm for t in defaults] == list(SEARCHABLE)
    assert all(t.params == DEFAULT_PARAMS[t.algorithm] for t in defaults)
    assert res.algorithm in SEARCHABLE and res.best_score == max(t.score for t in res.trials if t.phase != "pruned")
    make_model(res.algorithm, res.best_params)  # what is returned can be trained as is


def test_time_budget_stops_search(blocks):
    res = tune(blocks, algorithm="itemknn", max_trials=50, time_budget_s=0.0, num_threads=1)
    assert len(res.trials) == 1  # the default trial always runs


def test_a_blend_is_chosen_only_when_it_beats_the_best_single_model_beyond_noise(blocks):
    res = tune(blocks, algorithm=["itemknn", "ease"], max_trials=2, time_budget_s=60, seed=0, num_threads=1)
    blends = [t for t in res.trials if t.phase == "blend"]
    assert blends, "two algorithms were fitted, so blends were scored"
    assert all(t.per_user is not None and len(t.per_user) == len(blends[0].per_user) for t in blends)
    single = res.best_single["score"]
    chosen_single = next(t for t in res.trials if t.phase != "blend" and t.params == res.best_single["params"]
                         and t.algorithm == res.best_single["algorithm"])
    top = max(blends, key=lambda t: t.score)
    gain, se = paired_gain(top.per_user, chosen_single.per_user)
    assert res.selection["blend_gain"] == pytest.approx(gain, abs=1e-5)
    if res.algorithm == "blend":
        assert res.best_score > single and res.best_score == top.score and gain >= NOISE_Z * se
        model = make_model("blend", res.best_params).fit(blocks)
        assert model.recommend([0], blocks[[0]], k=3)[0].shape == (1, 3)
    else:
        assert top.score <= single * 1.001 or gain < NOISE_Z * se
        assert res.best_score == single


def test_paired_gain_is_the_mean_difference_and_its_standard_error():
    gain, se = paired_gain(np.array([0.5, 0.7, 0.9, 0.3]), np.array([0.4, 0.7, 0.8, 0.3]))
    diff = np.array([0.1, 0.0, 0.1, 0.0])
    assert gain == pytest.approx(diff.mean()) and se == pytest.approx(diff.std(ddof=1) / 2)
    assert paired_gain(np.array([1.0]), np.array([0.0]))[1] == math.inf


def test_a_searched_configuration_beats_the_best_default_beyond_noise_or_the_default_is_kept(blocks):
    rng = np.random.default_rng(0)
    noisy = blocks.copy()
    noisy.data = rng.uniform(0.5, 5.0, noisy.nnz).astype(np.float32)
    res = tune(noisy, max_trials=12, time_budget_s=120, seed=2, num_threads=1, blend=False)
    scored = [t for t in res.trials if t.phase not in ("pruned", "blend")]
    best = max(scored, key=lambda t: t.score)
    default = max((t for t in scored if t.phase == "default"), key=lambda t: t.score)
    assert res.selection["best_trial"] == pytest.approx(best.score, abs=1e-5)
    if best is default:
        assert res.best_score == default.score and res.selection["kept"] == "default"
        return
    gain, se = paired_gain(best.per_user, default.per_user)
    if gain >= NOISE_Z * se:
        assert res.selection["kept"] == "searched" and res.best_params == best.params
    else:
        assert res.selection["kept"] == "default" and res.best_params == default.params
        assert res.best_score == default.score < best.score


def test_the_search_spends_its_trials_on_algorithms_whose_defaults_are_close_to_the_best(blocks, monkeypatch):
    from recommender.ml import tune as tune_module

    monkeypatch.setattr(tune_module, "FOCUS_SHARE", 1.0)  # only the best default's algorithm
    res = tune(blocks, max_trials=10, time_budget_s=120, seed=0, num_threads=1, blend=False)
    defaults = [t for t in res.trials if t.phase == "default"]
    leader = max(defaults, key=lambda t: t.score).algorithm
    assert {t.algorithm for t in res.trials if t.phase != "default"} <= {leader}


def test_ease_leaves_the_search_when_the_catalogue_does_not_fit(monkeypatch):
    monkeypatch.setenv("SUPERAPP_EASE_MAX_BYTES", "1")
    assert "ease" not in search_algorithms((40, 20))
    with pytest.raises(ValueError):
        search_algorithms((40, 20), "ease")
    with pytest.raises(ValueError):
        search_algorithms((40, 20), "svd")


def test_search_space_is_valid_for_every_algorithm():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for algorithm in SEARCHABLE:
        for _ in range(20):
            trial = study.ask()
            p = suggest_params(trial, algorithm, (5000, 3000))
            assert set(p) == set(DEFAULT_PARAMS[algorithm])
            make_model(algorithm, p)  # valid parameters
            if "B" in p:
                assert 0.0 <= p["B"] <= 1.0
            study.tell(trial, 0.0)


def test_factor_range_grows_with_the_data():
    def factors(shape, n):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        return {suggest_params(study.ask(), "als", shape)["factors"] for _ in range(n)}

    small, large = factors((200, 150), 30), factors((100_000, 40_000), 60)
    assert small == {32, 128} and 512 in large  # the default (128) stays a choice on any data


def test_pruned_trials_are_recorded_and_never_chosen(blocks):
    res = tune(blocks, algorithm="als", max_trials=12, time_budget_s=120, seed=5, num_threads=1, blend=False)
    for t in res.trials:
        if t.phase == "pruned":
            assert math.isnan(t.score)
    assert np.isfinite(res.best_score)


def test_ease_is_left_out_when_one_trial_would_take_half_the_budget(blocks, monkeypatch):
    from recommender.ml import tune as tune_module

    monkeypatch.setattr(tune_module, "gemm_flops_per_s", lambda num_threads=0: 1.0)  # a hopelessly slow machine
    res = tune(blocks, algorithm=["itemknn", "ease"], max_trials=2, time_budget_s=30, num_threads=1)
    assert "ease" in res.excluded and {t.algorithm for t in res.trials} == {"itemknn"}
    monkeypatch.setattr(tune_module, "gemm_flops_per_s", lambda num_threads=0: 1e15)
    res = tune(blocks, algorithm=["itemknn", "ease"], max_trials=2, time_budget_s=30, num_threads=1)
    assert not res.excluded and {t.algorithm for t in res.trials if t.phase == "default"} == {"itemknn", "ease"}


def test_the_machine_speed_is_measured_and_the_ease_estimate_grows_with_the_catalogue():
    from recommender.ml.tune import ease_trial_seconds, gemm_flops_per_s

    assert gemm_flops_per_s(1) > 1e6
    assert ease_trial_seconds((100_000, 20_000), 2000, 1e10) > ease_trial_seconds((100_000, 5_000), 2000, 1e10)
    assert ease_trial_seconds((2_000, 20_000), 2000, 1e10) < ease_trial_seconds((20_000, 20_000), 2000, 1e10)


def test_refit_fits_the_winner_on_the_whole_training_part_inside_the_budget(blocks, monkeypatch):
    """With a clock on which every fit takes 10 s, the search keeps time for the final fit: search and refit
    end within the budget, while the same search without ``refit`` leaves no room for it."""
    import types

    from recommender.ml import tune as tune_module
    from recommender.ml.models import ItemKNNModel

    now = [0.0]
    monkeypatch.setattr(tune_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    real_fit = ItemKNNModel.fit

    def slow_fit(self, matrix, **kw):
        now[0] += 10.0
        return real_fit(self, matrix, **kw)

    monkeypatch.setattr(ItemKNNModel, "fit", slow_fit)
    kw = {"algorithm": "itemknn", "max_trials": 50, "time_budget_s": 100.0, "num_threads": 1, "blend": False}
    plain = tune(blocks, **kw)
    now[0] = 0.0
    res = tune(blocks, refit=True, **kw)
    assert plain.model is None and plain.seconds + 10.0 > 100.0  # a refit after it would overrun
    assert res.refit_seconds == 10.0 and res.seconds <= 100.0 and len(res.trials) < len(plain.trials)
    fresh = make_model(res.algorithm, res.best_params).fit(blocks)
    assert res.model.n_users == blocks.shape[0]
    np.testing.assert_allclose(res.model.score(np.arange(40), blocks), fresh.score(np.arange(40), blocks), rtol=1e-5)


def test_fit_work_grows_with_what_makes_a_fit_slower(blocks):
    from recommender.ml.tune import fit_work

    als = dict(DEFAULT_PARAMS["als"])
    assert fit_work("als", {**als, "factors": 512}, blocks) > 4 * fit_work("als", {**als, "factors": 128}, blocks)
    assert fit_work("als", {**als, "iterations": 30}, blocks) == 2 * fit_work("als", {**als, "iterations": 15}, blocks)
    bpr = dict(DEFAULT_PARAMS["bpr"])
    assert fit_work("bpr", {**bpr, "factors": 128}, blocks) == 2 * fit_work("bpr", bpr, blocks)
    ials = dict(DEFAULT_PARAMS["ials"])
    assert fit_work("ials", {**ials, "iterations": 24}, blocks) == 2 * fit_work("ials", ials, blocks)
    assert fit_work("ials", {**ials, "factors": 512}, blocks) > 4 * fit_work("ials", ials, blocks)
    assert fit_work("ease", DEFAULT_PARAMS["ease"], blocks) == fit_work("ease", {"l2": 5.0}, blocks)


def _fake_clock(monkeypatch, seconds_per_iteration):
    """The tuner's clock advances only when a fit iterates: ``seconds_per_iteration(algorithm)`` per iteration
    (evaluations take no time). Returns the clock (a one-element list)."""
    import types

    from recommender.ml import tune as tune_module
    from recommender.ml.models import ALSModel, IALSModel

    now = [0.0]
    monkeypatch.setattr(tune_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    for cls in (ALSModel, IALSModel):
        real_fit = cls.fit

        def timed_fit(self, matrix, *, progress=None, _real=real_fit):
            def tick(done, total):
                now[0] += seconds_per_iteration(self.algorithm)
                if progress is not None:
                    progress(done, total)

            return _real(self, matrix, progress=tick)

        monkeypatch.setattr(cls, "fit", timed_fit)
    return now


def test_the_first_trial_of_a_factor_model_is_estimated_at_another_ones_measured_rate(blocks, monkeypatch):
    """ALS's default fit takes 15 s on this clock, iALS's 96 s. Before iALS has been fitted, its cost is its
    ``fit_work`` at ALS's measured rate (≈ 49 s): with the final refit kept in reserve that no longer fits in
    100 s, so iALS is never started and the whole run (search and refit) stays inside the budget. (It used to
    be estimated at the mean trial so far, 15 s: started, it ended at 111 s.)"""
    now = _fake_clock(monkeypatch, lambda algorithm: {"als": 1.0, "ials": 8.0}[algorithm])
    res = tune(blocks, algorithm=["als", "ials"], max_trials=20, time_budget_s=100.0, num_threads=1, refit=True)
    assert res.seconds == now[0] <= 100.0 and res.refit_seconds == 15.0
    assert "ials" not in {t.algorithm for t in res.trials} and res.algorithm == "als"


def test_a_fit_slower_than_its_estimate_is_stopped_when_its_iterations_say_it_no_longer_fits(blocks, monkeypatch):
    """The machine gets busy after the first trial: ALS iterations take 1 s, then 2 s. The next trial was
    estimated at the rate measured so far (15 s); its first iteration shows 30 s, which with the refit (at that
    rate) kept in reserve overruns the budget, so it is stopped there (recorded as pruned), nothing more is
    started, and the run, refit at the slower rate included, ends in time."""
    iterations = [0]

    def seconds(algorithm):
        iterations[0] += 1
        return 1.0 if iterations[0] <= 15 else 2.0

    now = _fake_clock(monkeypatch, seconds)
    res = tune(blocks, algorithm="als", max_trials=20, time_budget_s=60.0, num_threads=1, blend=False,
               refit=True)
    stopped = [t for t in res.trials if t.phase == "pruned"]
    assert [t.phase for t in res.trials] == ["default", "pruned"] and len(stopped) == 1
    assert res.refit_seconds == 30.0 and now[0] == res.seconds <= 60.0


def test_an_ease_trial_is_estimated_from_its_matrix_products_before_its_first_fit(blocks, monkeypatch):
    """EASE's first fit is estimated from its matrix products at the measured GEMM speed (here 45 s), not
    from the trials so far (10 s of item-kNN): with its refit and the partner's kept in reserve that no longer
    fits in 100 s, so it is not started; the search goes on with item-kNN and ends inside the budget."""
    import types

    from recommender.ml import tune as tune_module
    from recommender.ml.models import EASEModel, ItemKNNModel

    now = [0.0]
    monkeypatch.setattr(tune_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(tune_module, "gemm_flops_per_s", lambda num_threads=0: 1e9)
    monkeypatch.setattr(tune_module, "ease_flops", lambda shape, n_eval_users: (45e9, 0.0))
    for cls, seconds in ((ItemKNNModel, 10.0), (EASEModel, 45.0)):
        real_fit = cls.fit

        def timed_fit(self, matrix, *, _real=real_fit, _seconds=seconds, **kw):
            now[0] += _seconds
            return _real(self, matrix, **kw)

        monkeypatch.setattr(cls, "fit", timed_fit)
    res = tune(blocks, algorithm=["itemknn", "ease"], max_trials=20, time_budget_s=100.0, num_threads=1,
               refit=True)
    assert {t.algorithm for t in res.trials} == {"itemknn"} and not res.excluded
    assert res.seconds == now[0] <= 100.0 and len(res.trials) > 1
