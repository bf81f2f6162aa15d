"""Recommender writes. Other apps report a signal through `superapp.events` (`interaction_on_commit`,
`interactions_in_transaction`, `interactions_insert_sql`); `RecommenderConfig.ready` subscribes
`interaction_record`, `interactions_record_in_transaction` and `interactions_insert_sql` here to store them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from merchants.models import Merchant
from recommender import conf
from recommender.evaluation import TuningOutcome, tuning_run
from recommender.exceptions import ModelVersionNotActivatable
from recommender.extract_snapshot import snapshot_written_in_background
from recommender.locks import training_lock
from recommender.ml.models import make_model
from recommender.models import Algorithm, Interaction, ModelStatus, ModelVersion, TrainingConfig
from recommender.selectors import active_model_version
from recommender.serving import conf as serving_conf
from recommender.serving.tasks import (
    candidate_lists_build_version,
    user_vector_refresh,
    user_vectors_refresh,
    user_vectors_refresh_after_events,
)
from recommender.training import (
    StageClock,
    TrainingProgress,
    artifact_write,
    extract_window,
    fit_and_evaluate,
    numpy_hugepages,
)
from superapp.db import rows_by_pk, rows_insert_new
from superapp.events import RECORD_ID
from superapp.exceptions import ValidationFailed
from superapp.publish import publish_batched_on_commit, publish_on_commit

ACTIVE_VERSION_CACHE_KEY = "recommender:active-version"


def interaction_record(*, user_id: int, merchant_id: int, kind: str, value: float = 1.0,
                       occurred_at: datetime | None = None, source: str = "") -> Interaction | None:
    """Store one interaction. Idempotent on (kind, source): replaying an event stores it once."""
    try:
        with transaction.atomic():
            publish_on_commit(user_vector_refresh, user_id)  # serving: near-real-time profile
            return Interaction.objects.create(
                user_id=user_id, merchant_id=merchant_id, kind=kind, value=value,
                occurred_at=occurred_at or timezone.now(), source=source,
            )
    except IntegrityError:
        return None


def interactions_record_in_transaction(*, events: list[dict[str, Any]]) -> None:
    """Store interactions as part of the caller's open transaction (one INSERT), so they exist if and
    only if the caller's work commits, without a second transaction after it; for hot paths such as
    wallet payments. Each event has the keyword arguments of `interaction_record`. Idempotent on
    (kind, source) like it; the users' vectors are refreshed after commit."""
    if not events:
        return
    sql, params = interactions_insert_sql(events=events, record_id_sql="NULL")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def interactions_insert_sql(*, events: list[dict[str, Any]], record_id_sql: str) -> tuple[str, list]:
    """The one INSERT of `interactions_record_in_transaction`, for a caller that runs it inside its own statement
    (`superapp.events.interactions_insert_sql`, a CTE of the wallet's ledger statement on PostgreSQL): idempotent
    on (kind, source), the users' vectors refreshed after commit. A `source` ending with `RECORD_ID` takes the id
    that the SQL expression `record_id_sql` reads. No model instances: it is on every wallet payment's path."""
    now = timezone.now()
    ops = connection.ops
    rows, params = [], []
    for event in events:
        source = event.get("source", "")
        source_sql = "%s"
        if source.endswith(RECORD_ID):
            source, source_sql = source.removesuffix(RECORD_ID), f"%s || CAST({record_id_sql} AS text)"
        rows.append(f"(%s, %s, %s, %s, %s, {source_sql})")
        params += [event["user_id"], event["merchant_id"], str(event["kind"]), float(event.get("value", 1.0)),
                   ops.adapt_datetimefield_value(event.get("occurred_at") or now), source]
    table = ops.quote_name(Interaction._meta.db_table)
    sql = (f"INSERT INTO {table} (user_id, merchant_id, kind, value, occurred_at, source) "  # noqa: S608 - model name
           f"VALUES {', '.join(rows)} ON CONFLICT DO NOTHING")
    for user_id in dict.fromkeys(event["user_id"] for event in events):
        # Batched per process (one message per 0.2 s for all users); dropped if the broker is down: rebuildable.
        publish_batched_on_commit(user_vectors_refresh, user_id)
    return sql, params


CLIENT_EVENT_MAX_AGE = timedelta(days=30)
CLIENT_EVENT_MAX_SKEW = timedelta(minutes=5)


def client_events_record(*, user, events: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Store a batch of client events (already shape-validated); all or nothing.

    Each event needs an active merchant and a plausible time, else the whole batch is rejected with
    per-event details. Deduplicated by (user, client id): a retried event is reported as `duplicate`.
    """
    now = timezone.now()
    # Two statements a batch, neither compiled by the ORM per request (a POST per ~20 page views in the app).
    active = {merchant.pk for merchant in rows_by_pk(Merchant, {event["merchant"] for event in events})
              if merchant.is_active}
    # Keyed by the event's position, like DRF's own per-item errors for the same list.
    errors: dict[str, dict[str, list[str]]] = {}
    for position, event in enumerate(events):
        problems: dict[str, list[str]] = {}
        if event["merchant"] not in active:
            problems["merchant"] = ["No active merchant with this id."]
        when = event.get("occurred_at")
        if when is not None and when > now + CLIENT_EVENT_MAX_SKEW:
            problems["occurred_at"] = ["Must not be in the future."]
        elif when is not None and when < now - CLIENT_EVENT_MAX_AGE:
            problems["occurred_at"] = ["Events older than 30 days are not accepted."]
        if problems:
            errors[str(position)] = problems
    if errors:
        raise ValidationFailed("Some events are invalid; nothing was stored.", details={"events": errors})

    # New ids are those the INSERT reports: an id already stored (a retried batch, or a concurrent retry that
    # committed first) is skipped by the unique (user, client id) and is a duplicate, as is a repeat in the batch.
    first: dict[str, dict[str, Any]] = {}
    for event in events:
        first.setdefault(event["id"], event)
    new = set(rows_insert_new([Interaction(user=user, merchant_id=event["merchant"], kind=event["kind"], value=1.0,
                                           occurred_at=event.get("occurred_at") or now, client_event_id=event["id"])
                               for event in first.values()], returning="client_event_id"))
    results = [{"id": event["id"], "status": "accepted" if event["id"] in new and first[event["id"]] is event
                else "duplicate"} for event in events]
    if new:
        # Serving's near-real-time profile, batched per process like the interactions', in a longer window (the
        # app's own impressions and views need no sub-second effect; fewer, larger refreshes cost less per user);
        # a broker outage drops it instead of failing the request: the next event rebuilds it.
        publish_batched_on_commit(user_vectors_refresh_after_events, user.pk,
                                  window_s=serving_conf.EVENTS_REFRESH_WINDOW_S)
    return results


# --------------------------------------------------------------------------------------------- training


def training_config_active() -> TrainingConfig:
    """The configuration scheduled retraining uses; created with the ML core's defaults on first use."""
    config = TrainingConfig.objects.filter(is_active=True).first()
    if config is not None:
        return config
    config, _ = TrainingConfig.objects.get_or_create(name="default", defaults={"algorithm": Algorithm.ALS})
    return training_config_activate(config=config)


def training_config_activate(*, config: TrainingConfig) -> TrainingConfig:
    with transaction.atomic():
        TrainingConfig.objects.filter(is_active=True).exclude(pk=config.pk).update(is_active=False)
        TrainingConfig.objects.filter(pk=config.pk).update(is_active=True)
    config.is_active = True
    return config


def training_config_save(*, name: str, algorithm: str, params: dict[str, Any], activate: bool = True,
                         notes: str = "", **fields: Any) -> TrainingConfig:
    """Create or update a named configuration (e.g. the winner of `tune_recommender`)."""
    make_model(algorithm, params)  # unknown algorithm or parameter: fail before anything is written
    config, _ = TrainingConfig.objects.update_or_create(
        name=name, defaults={"algorithm": algorithm, "params": params, "notes": notes, **fields})
    return training_config_activate(config=config) if activate else config


def training_config_tune(*, algorithm: str = "auto", name: str | None = None, activate: bool = True, k: int = 10,
                         max_trials: int = 200, time_budget_s: float = 300.0, seed: int = 42,
                         source_prefix: str | None = None, split: str = "auto", test_fraction: float = 0.2,
                         progress=None) -> tuple[TrainingConfig, TuningOutcome]:
    """Search the model (`algorithm`: `auto` = every algorithm that fits, or one name) on the stored
    interactions and save the winner -- possibly a blend -- as a training configuration.

    The winner is chosen on a validation split of the training part only; the held-out test part is used
    once, to report the tuned model next to the defaults and popularity in the notes (choosing between
    them on test would leak it into the choice)."""
    outcome = tuning_run(algorithm=algorithm, k=k, max_trials=max_trials, time_budget_s=time_budget_s, seed=seed,
                         source_prefix=source_prefix, split=split, test_fraction=test_fraction, progress=progress,
                         num_threads=conf.train_threads())
    tested, result = outcome.tested, outcome.result
    notes = (f"tune_recommender: {result.algorithm} chosen from {len(result.trials)} trials in "
             f"{result.seconds:.0f}s; validation nDCG@{k} {result.best_score:.4f}; test nDCG@{k} tuned "
             f"{tested['tuned']['ndcg']:.4f}, default {tested['default']['algorithm']} "
             f"{tested['default']['ndcg']:.4f}, popularity {tested['popularity']['ndcg']:.4f}.")
    config = training_config_save(name=name or f"tuned-{algorithm}", algorithm=result.algorithm,
                                  params=result.best_params, activate=activate, k=k, notes=notes)
    return config, outcome


def model_train(*, config: TrainingConfig | None = None, triggered_by: str = "command", wait_s: float = 0.0,
                activate: bool = True, progress: TrainingProgress | None = None,
                now: datetime | None = None) -> ModelVersion:
    """Train, evaluate, save and register a model version; activate it if it passes the gate.

    One run at a time (`recommender.locks.training_lock`): a second run waits up to `wait_s`, then raises
    `TrainingInProgress`. A failure after registration marks the version `failed` with the error.
    """
    config = config or training_config_active()
    progress = progress or TrainingProgress()
    now = now or timezone.now()
    # The extract snapshot is written while the model is built and fitted, and before the lock is released.
    with training_lock(wait_s=wait_s), numpy_hugepages(False), snapshot_written_in_background():
        clock = StageClock(progress)
        result = fit_and_evaluate(  # holding no reference to the extract: it is freed once the build has read it
            arrays=extract_window(data_window_days=config.data_window_days, now=now, clock=clock, progress=progress),
            algorithm=config.algorithm, params=config.params, now=now.timestamp(), k=config.k,
            split=config.split, test_fraction=config.test_fraction, eval_users=config.eval_users,
            seed=config.seed, clock=clock, num_threads=conf.train_threads(), iteration=progress.iteration,
        )
        version = ModelVersion.objects.create(
            config=config if config.pk else None, algorithm=config.algorithm, params=result.model.params,
            triggered_by=triggered_by,
            status=ModelStatus.TRAINED, data_from=result.data_from, data_to=result.data_to, split=result.split,
            metrics=result.metrics, baseline_metrics=result.baseline_metrics, **result.counts,
        )
        try:
            with clock.stage("save"):
                path, checksum, size = artifact_write(result=result, version_id=version.pk, meta={
                    "version_id": version.pk, "algorithm": config.algorithm, "trained_at": now.isoformat(),
                    "metrics": result.metrics})
            with clock.stage("register"):
                version.artifact_path, version.artifact_checksum, version.artifact_bytes = str(path), checksum, size
                version.stage_timings = clock.timings
                version.save(update_fields=["artifact_path", "artifact_checksum", "artifact_bytes",
                                            "stage_timings"])
            if activate:
                with clock.stage("activate"):
                    model_version_gate_and_activate(version=version)
        except Exception as exc:
            version.status, version.reason = ModelStatus.FAILED, f"{type(exc).__name__}: {exc}"
            version.save(update_fields=["status", "reason"])
            raise
        version.stage_timings = clock.timings
        version.save(update_fields=["stage_timings"])
        return version


def model_version_gate(*, version: ModelVersion, active: ModelVersion | None) -> tuple[bool, str]:
    """Whether `version` may replace `active`: it must beat popularity on its own holdout and not be
    worse than the active version's nDCG beyond the tolerance. Returns (ok, reason)."""
    k = version.split.get("k", 10)
    ndcg, baseline = version.metrics.get("ndcg"), version.baseline_metrics.get("ndcg")
    if ndcg is None or baseline is None:
        return False, "Not enough held-out interactions to evaluate this version; activate it manually if needed."
    if ndcg <= baseline:
        return False, f"nDCG@{k} {ndcg:.4f} does not beat popularity ({baseline:.4f}) on the same split."
    if active is not None and active.ndcg is not None:
        tolerance = conf.activation_tolerance()
        floor = active.ndcg * (1 - tolerance)
        if ndcg < floor:
            return False, (f"nDCG@{k} {ndcg:.4f} is worse than the active v{active.pk} ({active.ndcg:.4f}) "
                           f"beyond the {tolerance:.0%} tolerance.")
    lift = ndcg / baseline if baseline else float("inf")
    return True, f"nDCG@{k} {ndcg:.4f} beats popularity ({baseline:.4f}, x{lift:.2f})."


def model_version_gate_and_activate(*, version: ModelVersion) -> ModelVersion:
    ok, reason = model_version_gate(version=version, active=active_model_version())
    if not ok:
        version.status, version.reason = ModelStatus.REJECTED, reason
        version.save(update_fields=["status", "reason"])
        return version
    return model_version_activate(version=version, reason=reason)


def model_version_activate(*, version: ModelVersion, reason: str = "Activated manually.",
                           override_rejection: bool = False) -> ModelVersion:
    """Make `version` the served one; the previous active version is retired. Serving processes notice
    through `recommender.loader` (a cache key), without a restart. A version the quality gate rejected is
    activated only with `override_rejection=True` (the admin asks for a confirmation first)."""
    if not version.artifact_path or not Path(version.artifact_path).exists():
        raise ModelVersionNotActivatable("This version has no artifact on disk.", details={"version": version.pk})
    if version.status == ModelStatus.FAILED:
        raise ModelVersionNotActivatable("A failed version cannot be activated.", details={"version": version.pk})
    if version.status == ModelStatus.REJECTED and not override_rejection:
        raise ModelVersionNotActivatable(
            f"v{version.pk} was rejected by the quality gate ({version.reason}); activating it needs a confirmation.",
            code="model_version_rejected", details={"version": version.pk, "rejected_because": version.reason})
    with transaction.atomic():
        # Lock the current active row so two activations serialise (the partial unique index backs it up).
        for previous in ModelVersion.objects.select_for_update().filter(status=ModelStatus.ACTIVE).exclude(
                pk=version.pk):
            previous.status, previous.reason = ModelStatus.RETIRED, f"Replaced by v{version.pk}."
            previous.save(update_fields=["status", "reason"])
        version.status, version.reason, version.activated_at = ModelStatus.ACTIVE, reason, timezone.now()
        version.save(update_fields=["status", "reason", "activated_at"])
        transaction.on_commit(lambda: cache.set(ACTIVE_VERSION_CACHE_KEY, version.pk, timeout=None))
        # Serving: materialise every known user's candidate list for this version (in chunks, in Celery).
        transaction.on_commit(lambda: candidate_lists_build_version.delay(version.pk))
    return version


def model_version_rollback() -> ModelVersion:
    """Re-activate the version that was active before the current one."""
    current = active_model_version()
    previous = (ModelVersion.objects.filter(status=ModelStatus.RETIRED, activated_at__isnull=False)
                .exclude(pk=getattr(current, "pk", None)).order_by("-activated_at").first())
    if previous is None:
        raise ModelVersionNotActivatable("There is no previously active version to roll back to.")
    return model_version_activate(version=previous, reason=f"Rolled back from v{getattr(current, 'pk', None)}.")
