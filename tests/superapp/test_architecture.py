"""The dependency direction between the apps (docs/CONVENTIONS.md, "Between apps") holds, and the upward
paths it leaves (events to the recommender, the recommender's explicit imports) work."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    """`lint-imports` with the contracts in pyproject.toml: apps in layers (so no import cycle between apps),
    a kernel that imports no app, recommender.ml and traffic.core free of Django."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_renamed_selector_fails_at_import_not_silently(monkeypatch):
    """The recommender imports other apps' selectors by name: if one is renamed, importing serving fails
    (it used to look them up with importlib and quietly leave the explanation out)."""
    from recommender.serving import integrations
    from superapp.social import selectors

    monkeypatch.delattr(selectors, "friends_who_visited")
    with pytest.raises(ImportError, match="friends_who_visited"):
        importlib.reload(integrations)
    monkeypatch.undo()
    importlib.reload(integrations)
    assert integrations.friends_who_visited is selectors.friends_who_visited


@pytest.mark.django_db
def test_an_interaction_event_is_stored_after_commit_only(django_capture_on_commit_callbacks):
    """The apps below the recommender send `superapp.events`; the recommender subscribes and stores them once
    the sender's transaction commits, never for rolled-back work."""
    from django.db import transaction

    from recommender.models import Interaction
    from superapp.events import InteractionKind, interaction_on_commit, interactions_in_transaction
    from tests.factories import MerchantFactory, UserFactory

    user, merchant = UserFactory(), MerchantFactory()
    event = {"user_id": user.pk, "merchant_id": merchant.pk, "kind": InteractionKind.VIEW}
    with django_capture_on_commit_callbacks(execute=True):
        interaction_on_commit(**event, source="view:1")
        assert not Interaction.objects.exists()  # not before the commit
    assert Interaction.objects.filter(source="view:1").count() == 1
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        interaction_on_commit(**event, source="view:2")
        interactions_in_transaction(events=[{**event, "source": "view:3"}])
        assert Interaction.objects.filter(source="view:3").exists()  # inside the sender's transaction
        raise RuntimeError("rolled back")
    assert not Interaction.objects.filter(source__in=["view:2", "view:3"]).exists()
