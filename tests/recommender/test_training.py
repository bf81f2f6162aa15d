"""The training service: stages, artifact, registration, the activation gate, rollback and hot reload."""

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from recommender import loader
from recommender.exceptions import ModelVersionNotActivatable, NotEnoughData
from recommender.ml.artifacts import file_sha256
from recommender.models import Interaction, ModelStatus, ModelVersion, TrainingConfig
from recommender.services import (
    model_train,
    model_version_activate,
    model_version_gate,
    model_version_rollback,
    training_config_active,
)
from recommender.tasks import retrain
from tests.recommender.factories import taste_world

pytestmark = pytest.mark.django_db


def test_a_first_model_is_trained_evaluated_saved_and_activated(small_als):
    users, merchants = taste_world()
    version = model_train(config=small_als)
    assert version.status == ModelStatus.ACTIVE, version.reason
    assert set(version.stage_timings) == {"extract", "build", "fit", "evaluate", "fold_in", "save", "register",
                                          "activate"}
    assert version.metrics["ndcg"] > version.baseline_metrics["ndcg"]
    assert version.split["kind"] == "time" and version.split["eval_users"] > 0
    touched = Interaction.objects.values("merchant").distinct().count()
    assert (version.n_users, version.n_items) == (len(users), touched) and touched <= len(merchants)
    assert version.n_interactions == 600 and version.data_from < version.data_to
    assert file_sha256(version.artifact_path) == version.artifact_checksum
    assert "beats popularity" in version.reason


def test_the_loader_serves_the_active_version_and_reloads_after_activation(small_als,
                                                                          django_capture_on_commit_callbacks):
    taste_world()
    first = model_train(config=small_als)
    loaded = loader.active_model()
    assert loaded.version_id == first.pk
    assert loader.active_model() is loaded  # loaded once per process
    user_pk = int(loaded.user_ids[0])
    rows = loaded.user_rows([user_pk, 10**9])
    assert rows[0] == 0 and rows[1] == -1
    ids, _ = loaded.model.recommend(rows[:1], loaded.user_items(rows[:1]), k=5)
    known = set(loaded.matrix[0].indices.tolist())
    assert len(ids[0]) == 5 and not known & set(ids[0].tolist())

    second = model_train(config=small_als, activate=False)
    assert second.status == ModelStatus.TRAINED
    # Serving learns about the new version after the activation commits.
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activate(version=second)
    assert loader.active_model().version_id == second.pk
    first.refresh_from_db()
    assert first.status == ModelStatus.RETIRED


def test_a_version_that_does_not_beat_popularity_is_rejected_with_the_reason():
    version = ModelVersion(metrics={"ndcg": 0.10}, baseline_metrics={"ndcg": 0.12}, split={"k": 10})
    ok, reason = model_version_gate(version=version, active=None)
    assert not ok and "does not beat popularity" in reason and "0.1200" in reason


def test_a_version_worse_than_the_active_one_beyond_tolerance_is_rejected(settings):
    settings.RECOMMENDER_ACTIVATION_TOLERANCE = 0.05
    active = ModelVersion(pk=7, metrics={"ndcg": 0.40}, baseline_metrics={"ndcg": 0.1})
    slightly_worse = ModelVersion(metrics={"ndcg": 0.385}, baseline_metrics={"ndcg": 0.1}, split={"k": 10})
    much_worse = ModelVersion(metrics={"ndcg": 0.30}, baseline_metrics={"ndcg": 0.1}, split={"k": 10})
    assert model_version_gate(version=slightly_worse, active=active)[0]
    ok, reason = model_version_gate(version=much_worse, active=active)
    assert not ok and "worse than the active v7" in reason


def test_a_worse_trained_model_stays_rejected_and_the_active_one_keeps_serving(small_als,
                                                                             django_capture_on_commit_callbacks):
    taste_world()
    with django_capture_on_commit_callbacks(execute=True):
        good = model_train(config=small_als)
    assert good.status == ModelStatus.ACTIVE
    # A model with one factor and one iteration cannot learn the taste groups.
    weak = TrainingConfig.objects.create(name="weak", algorithm="als",
                                         params={"factors": 1, "iterations": 1, "regularization": 1000.0})
    worse = model_train(config=weak)
    assert worse.status == ModelStatus.REJECTED, worse.metrics
    assert worse.reason
    assert ModelVersion.objects.get(status=ModelStatus.ACTIVE) == good
    assert loader.active_model().version_id == good.pk


def test_rollback_reactivates_the_previous_version(small_als):
    taste_world()
    first = model_train(config=small_als)
    second = model_train(config=small_als, activate=False)
    model_version_activate(version=second)
    restored = model_version_rollback()
    assert restored == first
    second.refresh_from_db()
    assert (restored.status, second.status) == (ModelStatus.ACTIVE, ModelStatus.RETIRED)


def test_rollback_without_history_and_activation_without_artifact_are_refused(small_als):
    with pytest.raises(ModelVersionNotActivatable):
        model_version_rollback()
    orphan = ModelVersion.objects.create(algorithm="als", artifact_path="/nonexistent.npz")
    with pytest.raises(ModelVersionNotActivatable):
        model_version_activate(version=orphan)


OTHER_PARAMS = {
    "bpr": {"factors": 8, "iterations": 30},
    "ials": {"factors": 8, "iterations": 8},
    "itemknn": {"K": 20},
    "ease": {"l2": 5.0},
    "blend": {"first": {"algorithm": "ease", "params": {"l2": 5.0}},
              "second": {"algorithm": "als", "params": {"factors": 8, "iterations": 5}}, "weight": 0.6},
}


@pytest.mark.parametrize("algorithm", sorted(OTHER_PARAMS))
def test_other_algorithms_train_through_the_same_service(algorithm):
    taste_world()
    params = OTHER_PARAMS[algorithm]
    config = TrainingConfig.objects.create(name=algorithm, algorithm=algorithm, params=params, is_active=True)
    version = model_train(config=config)
    assert version.metrics and Path(version.artifact_path).exists()
    assert loader.load_version(version).model.algorithm == algorithm


def test_no_interactions_is_a_clear_error():
    with pytest.raises(NotEnoughData):
        model_train(config=training_config_active())
    assert not ModelVersion.objects.exists()


def test_the_celery_task_and_the_command_use_the_same_service(small_als, capsys):
    taste_world()
    result = retrain.delay(config_id=small_als.pk).get()
    assert result["status"] == ModelStatus.ACTIVE and result["version"]
    call_command("train_recommender", "--config", "test-als", "--no-progress", "--no-activate")
    out = capsys.readouterr().out
    assert '"status": "trained"' in out
    assert ModelVersion.objects.count() == 2


def test_a_data_window_ignores_older_interactions(small_als):
    taste_world()
    small_als.data_window_days = 20
    small_als.save()
    version = model_train(config=small_als)
    assert 0 < version.n_interactions < 600


def test_fold_in_gives_held_out_users_the_factors_a_full_solve_would(small_als):
    import numpy as np

    taste_world()
    version = model_train(config=small_als, activate=False)
    loaded = loader.load_version(version)
    rows = np.arange(10)
    exact = loaded.model.recalculate_user(loaded.matrix[rows])
    # From a cold start CG needs more steps; from the trained factors (as in training) 3 are enough.
    folded = loaded.model.fold_in(loaded.matrix[rows], loaded.model.user_factors[rows], cg_steps=8)
    cosine = (exact * folded).sum(1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(folded, axis=1)
    assert cosine.min() > 0.99


def test_tune_recommender_searches_the_algorithm_and_saves_the_validation_winner(capsys):
    taste_world()
    call_command("tune_recommender", "--budget", "60", "--trials", "6", "--no-activate", "--name", "searched")
    body = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    saved = TrainingConfig.objects.get(name="searched")
    assert body["searched"] == "auto" and saved.algorithm == body["algorithm"]
    assert saved.params == body["best_params"] and not saved.is_active
    assert {"default", "tuned", "popularity"} <= set(body["test"])
    version = model_train(config=saved, activate=False)  # what was saved trains as is
    assert version.algorithm == saved.algorithm and version.metrics


def _write_lightgcn(directory: Path) -> None:
    """Two taste groups of 12 users over 16 items, one line per user, like the published splits."""
    files = {"train": [], "valid": [], "test": []}
    for user in range(24):
        own = list(range(0, 8)) if user < 12 else list(range(8, 16))
        shift = user % 8
        items = own[shift:] + own[:shift]
        files["train"].append([user, *items[:5]])
        files["valid"].append([user, items[5]])
        files["test"].append([user, *items[6:]])
    for name, lines in files.items():
        (directory / f"{name}.txt").write_text("".join(" ".join(map(str, line)) + "\n" for line in lines))


def test_evaluate_recommender_lightgcn_mode_prints_the_table_as_json(tmp_path, capsys):
    _write_lightgcn(tmp_path)
    call_command("evaluate_recommender", "--lightgcn", str(tmp_path), "--budget", "20", "--trials", "5")
    captured = capsys.readouterr()
    body = json.loads(captured.out.strip().splitlines()[-1])
    models = [row["model"] for row in body["results"]]
    assert models[0] == "popularity" and models[-1] == "this project's pipeline, tuned"
    assert body["data"]["k"] == 20 and body["data"]["users"] == 24 and body["data"]["items"] == 16
    tuned = body["results"][-1]
    assert tuned["trials"] >= 1 and tuned["tune_s"] <= 20 + 10
    # Two clean taste groups: anything personal beats popularity on Recall@20 (a cut-off above the catalogue size
    # makes recall 1 for everyone, so the comparison is on NDCG).
    assert tuned["ndcg"] > body["results"][0]["ndcg"]
    assert "| this project's pipeline, tuned |" in captured.err


def test_evaluate_recommender_lightgcn_mode_rejects_a_missing_split(tmp_path):
    with pytest.raises(CommandError, match="train.txt"):
        call_command("evaluate_recommender", "--lightgcn", str(tmp_path))


def test_numpy_hugepage_advice_is_switched_for_a_block_and_restored():
    from recommender.training import _madvise_hugepage_switch, numpy_hugepages

    switch = _madvise_hugepage_switch()
    if switch is None:
        pytest.skip("this NumPy has no hugepage switch")

    def current() -> bool:
        value = switch(True)
        switch(value)
        return bool(value)

    before = current()
    with numpy_hugepages(False):
        assert current() is False
        with numpy_hugepages(None):  # NumPy's own default, as a bare fit has it
            assert current() is True or before is False
        assert current() is False
    assert current() is before


def test_the_served_matrix_has_every_event_and_the_baseline_is_scored_on_the_holdout(small_als):
    """The retrain builds only the training matrix before the fit and the full one beside it (from the training
    matrix, the evaluation users' rows rebuilt): the full one is still every event's confidence summed per pair."""
    from django.utils import timezone

    from recommender.confidence import encode, event_confidence
    from recommender.extract import interactions_extract
    from recommender.ml.dataset import pairs_to_csr
    from recommender.training import decay_reference

    taste_world()
    now = timezone.now()
    version = model_train(config=small_als, activate=False, now=now)
    arrays = interactions_extract()
    weights = event_confidence(arrays, now=decay_reference(arrays, now.timestamp()))
    user_ids, user_codes = encode(arrays.user_ids)
    item_ids, item_codes = encode(arrays.merchant_ids)
    direct = pairs_to_csr(user_codes, item_codes, weights, (len(user_ids), len(item_ids)))
    served = loader.load_version(version).matrix
    assert (served.indptr == direct.indptr).all() and (served.indices == direct.indices).all()
    assert (served.data == direct.data).all()
    assert version.split["test_pairs"] > 0 and version.baseline_metrics["ndcg"] > 0
