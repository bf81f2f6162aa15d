"""The one way app code reads its settings. `superapp/settings.py` reads the environment (its `env_*` helpers,
with each default, nowhere else); an app's `conf.py` reads `django.conf.settings` through `setting` each time a
value is used (remembered until a setting changes), so `override_settings` changes it in tests.

An app's `conf.py` offers its values either as functions (`payments.conf.fx_spread()`) or as module attributes
read when used (`bookings.conf.BOOKING_HOLD_MINUTES`, through `settings_reader`, a module `__getattr__`,
PEP 562): import the module, never the name (`from bookings.conf import BOOKING_HOLD_MINUTES` freezes it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

_values: dict[tuple[str, Callable[[Any], Any] | None], Any] = {}
_MAX_VALUES = 4_096  # far above the settings there are; a guard against a cast made anew on each call


def setting(name: str, cast: Callable[[Any], Any] | None = None) -> Any:
    """`settings.<name>` now (every one has its default in settings.py), converted by `cast`.

    Remembered per process until a setting changes: `override_settings` and pytest-django's `settings`
    fixture send `setting_changed`, which forgets every value. Reading `django.conf.settings` through its
    lazy object and converting was a few percent of a recommendation page (dozens of reads per request)."""
    key = (name, cast)
    try:
        return _values[key]
    except KeyError:
        pass
    value = getattr(settings, name)
    value = value if cast is None else cast(value)
    if len(_values) >= _MAX_VALUES:
        _values.clear()
    _values[key] = value
    return value


@receiver(setting_changed)
def _forget_values(**kwargs: Any) -> None:
    _values.clear()


def settings_reader(module: str, prefix: str, types: dict[str, Callable[[Any], Any]]) -> Callable[[str], Any]:
    """A module `__getattr__` that reads `settings.<prefix><NAME>` for each NAME of `types`, converted by its
    type, when it is used; any other name is an AttributeError."""

    def __getattr__(name: str) -> Any:
        cast = types.get(name)
        if cast is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return setting(prefix + name, cast)

    return __getattr__
