"""One check for read-time status rules: the Python rule and its SQL filter form pick the same rows."""

from collections.abc import Callable, Iterable

from django.db.models import QuerySet


def assert_filter_agrees_with_rule(objects: QuerySet, statuses: Iterable[str], *, rule: Callable[[object], str],
                                   filtered: Callable[[QuerySet, str], QuerySet]) -> None:
    """Every status the rule gives is covered by the cases, and `filtered(objects, status)` holds exactly the
    objects for which `rule(obj) == status`."""
    statuses = list(statuses)
    by_rule = {obj.pk: rule(obj) for obj in objects}
    assert set(by_rule.values()) == set(statuses)  # the cases cover every status
    for status in statuses:
        in_sql = set(filtered(objects, status).values_list("pk", flat=True))
        assert in_sql == {pk for pk, s in by_rule.items() if s == status}, status
