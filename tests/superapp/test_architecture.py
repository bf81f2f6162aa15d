"""The dependency direction between the apps (docs/CONVENTIONS.md, "Between apps") holds, and the upward
paths it leaves (events to the recommender, the recommender's explicit imports) work."""

import ast
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


PACKAGES = ("superapp", "merchants", "bookings", "cityservices", "appointments", "traffic", "payments", "recommender")


def test_each_type_variable_is_defined_once_per_module():
    """One rule, one place, down to type variables: a second `M = TypeVar(...)` in a module (superapp/db.py had
    one) silently rebinds the name for the code below it."""
    twice = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            names = [target.id for node in ast.parse(path.read_text()).body if isinstance(node, ast.Assign)
                     and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "TypeVar"
                     for target in node.targets if isinstance(target, ast.Name)]
            twice += [f"{path.relative_to(ROOT)}: {name}" for name in sorted(set(names)) if names.count(name) > 1]
    assert not twice, twice


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
