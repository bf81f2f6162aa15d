"""Charts in the Django admin: matplotlib figures rendered server-side to PNG, drawn above a model's
change list. One helper for every app (the recommender's model metrics, the wallet's payment volume).

    class PaymentAdmin(ChangeListChartMixin, admin.ModelAdmin):
        chart_alt = "Payment volume per day"

        def chart_png(self, request) -> bytes:
            figure = Figure(figsize=(9, 3)); ...; return figure_png(figure)

The chart is served at `<change list>/chart.png` (URL name `admin:<app>_<model>_chart`) to staff who
may view the model; everyone else gets the admin's login redirect or a 403.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse

if TYPE_CHECKING:
    # Figure (not pyplot): no global state and no GUI backend, safe in threaded servers. Imported where a
    # chart is drawn, never at start-up: matplotlib took most of a worker's boot (the admin is autodiscovered
    # in every process) and let gunicorn miss its start-up deadline on a loaded machine.
    from matplotlib.figure import Figure


def figure_png(figure: Figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def no_data(axes, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center")
    axes.set_axis_off()


class ChangeListChartMixin:
    """ModelAdmin mixin: implement `chart_png(request) -> bytes`; it is shown above the change list."""

    change_list_template = "admin/chart_change_list.html"
    chart_alt = "Chart"

    def chart_png(self, request: HttpRequest) -> bytes:
        raise NotImplementedError

    def _chart_url_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_chart"

    def get_urls(self):
        return [path("chart.png", self.admin_site.admin_view(self.chart_view), name=self._chart_url_name()),
                *super().get_urls()]

    def chart_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return HttpResponse(self.chart_png(request), content_type="image/png", headers={"Cache-Control": "no-store"})

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "chart_url": reverse(f"admin:{self._chart_url_name()}"),
                         "chart_alt": self.chart_alt}
        return super().changelist_view(request, extra_context=extra_context)
