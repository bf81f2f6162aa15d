"""The one way app code reads its settings. `superapp/settings.py` reads the environment (its `env_*` helpers,
with each default, nowhere else); an app's `conf.py` reads `django.conf.settings` through `setting` each time a
value is used, so `override_settings` changes it in tests.

An app's `conf.py` offers its values either as functions (`payments.conf.fx_spread()`) or as module attributes
read when used (`bookings.conf.BOOKING_HOLD_MINUTES`, through `settings_reader`, a module `__getattr__`,
PEP 562): import the module, never the name (`from bookings.conf import BOOKING_HOLD_MINUTES` freezes it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings


def setting(name: str, cast: Callable[[Any], Any] | None = None) -> Any:
    """`settings.<name>` now (every one has its default in settings.py), converted by `cast`."""
    value = getattr(settings, name)
    return value if cast is None else cast(value)


def settings_reader(module: str, prefix: str, types: dict[str, Callable[[Any], Any]]) -> Callable[[str], Any]:
    """A module `__getattr__` that reads `settings.<prefix><NAME>` for each NAME of `types`, converted by its
    type, when it is used; any other name is an AttributeError."""

    def __getattr__(name: str) -> Any:
        cast = types.get(name)
        if cast is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return setting(prefix + name, cast)

    return __getattr__
