"""Admin change lists that stay fast on tables with millions of rows.

Django's change list counts the filtered rows for its paginator (`SELECT COUNT(*)` over the whole table on
every page), counts the unfiltered table again for "N total" and, with `date_hierarchy`, scans the table for
the distinct years, months or days. On 1M rows each of these costs far more than the page itself. So every
ModelAdmin here (set once in `superapp.admin`, for every app and third-party admin alike):

- counts at most `COUNT_CAP` rows exactly (`SELECT COUNT(*) FROM (... LIMIT cap+1)`); above that, an
  unfiltered list on PostgreSQL shows the planner's estimate of the table size, a filtered one "more than
  the cap" (the pages past it are not linked; search or filter to reach those rows);
- never counts the whole table a second time (`show_full_result_count = False`);
- uses no `date_hierarchy` on a large table (a test holds every registered admin to it): filter dates with
  `list_filter` (`DateFieldListFilter`: today, past 7 days, this month, this year), which is an index range;
- on the large tables themselves (`LargeTableAdmin`): shows 50 rows a page (rendering, not SQL, is most of a
  page: about 1 ms a row) and searches only through indexes (each such admin says how in `search_help_text`:
  exact ids, usernames and hashes, or names looked up in a small table first), never `ILIKE` over every row;
- draws each row's action checkbox with one `format_html` instead of a form widget rendered through the
  template engine (Django's way cost about a quarter of a 100-row page; a test holds the HTML to Django's).

`manage.py bench_admin` times the change lists of the large tables with 1M rows.
"""

from __future__ import annotations

from django.contrib.admin import helpers
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext as _

COUNT_CAP = 10_000
LARGE_TABLE_PAGE = 50
SEARCH_MATCH_CAP = 500  # ids a name may resolve to before the large table is searched by them


class LargeTableAdmin:
    """Mixin (before `admin.ModelAdmin`) for a change list over millions of rows. Subclasses override
    `get_search_results` to search through indexes only and say how in `search_help_text`."""

    list_per_page = LARGE_TABLE_PAGE

    def capped_ids(self, request, queryset, what: str) -> list[int]:
        """The ids of a small table's rows that match a search term, at most SEARCH_MATCH_CAP (the operator is told
        when there were more)."""
        ids = list(queryset.values_list("pk", flat=True)[: SEARCH_MATCH_CAP + 1])
        if len(ids) > SEARCH_MATCH_CAP:
            self.message_user(request, f"More than {SEARCH_MATCH_CAP} {what} match; searched the first "
                                       f"{SEARCH_MATCH_CAP}. Type more of the name.", level="warning")
        return ids[:SEARCH_MATCH_CAP]


class CappedCountPaginator(Paginator):
    count_cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not hasattr(queryset, "query"):  # a list: its length is known
            return len(queryset)
        capped = queryset.order_by()[: self.count_cap + 1].count()
        if capped <= self.count_cap:
            return capped
        if not queryset.query.where:
            estimate = _table_estimate(queryset)
            if estimate is not None and estimate > self.count_cap:
                return estimate
        return self.count_cap


def _table_estimate(queryset) -> int | None:
    """PostgreSQL's own estimate of the table's rows (kept by autovacuum/ANALYZE), or None elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                       [queryset.model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] and row[0] > 0 else None


def action_checkbox(self, obj) -> str:
    """The change list's per-row checkbox, the same HTML as Django's `ModelAdmin.action_checkbox` (which renders
    a `CheckboxInput` through the form template renderer for every row)."""
    label = format_html(_("Select this object for an action - {}"), str(obj))
    return format_html('<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
                       helpers.ACTION_CHECKBOX_NAME, str(obj.pk), label)


def use_for_every_admin(model_admin_class) -> None:
    if model_admin_class.action_checkbox is not action_checkbox:
        model_admin_class.django_action_checkbox = model_admin_class.action_checkbox  # kept for the test
        model_admin_class.action_checkbox = action_checkbox
    model_admin_class.paginator = CappedCountPaginator
    model_admin_class.show_full_result_count = False
