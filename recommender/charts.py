"""The admin's chart of model-version metrics (drawn with the shared `superapp.charts` helper)."""

from __future__ import annotations

from collections.abc import Iterable

from matplotlib.figure import Figure

from recommender.models import ModelStatus, ModelVersion
from superapp.charts import figure_png, no_data

_STATUS_MARKERS = {ModelStatus.ACTIVE: "*", ModelStatus.REJECTED: "x", ModelStatus.RETIRED: "o",
                   ModelStatus.TRAINED: "s", ModelStatus.FAILED: "X"}


def metrics_chart_png(versions: Iterable[ModelVersion], *, highlight: int | None = None) -> bytes:
    return figure_png(metrics_chart_figure(versions, highlight=highlight))


def metrics_chart_figure(versions: Iterable[ModelVersion], *, highlight: int | None = None) -> Figure:
    """nDCG, precision, recall and MAP per version, with popularity's nDCG on the same split dashed; each
    version's status marked on its nDCG point. The legend sits beside the axes so it hides no line, and every
    value is a marker too, so a single version still shows all its metrics (a line needs two points)."""
    versions = [v for v in versions if v.metrics]
    figure = Figure(figsize=(10, 3.2), dpi=100)
    axes = figure.subplots()
    if not versions:
        no_data(axes, "No evaluated model versions yet")
        return figure
    xs = list(range(len(versions)))
    for name in ("ndcg", "precision", "recall", "map"):
        axes.plot(xs, [v.metrics.get(name, 0) for v in versions], label=f"{name}@k", linewidth=1.5, marker=".",
                  markersize=6)
    axes.plot(xs, [v.baseline_metrics.get("ndcg", 0) for v in versions], "k--", label="popularity nDCG",
              linewidth=1, marker="_", markersize=10)
    statuses = []
    for x, version in zip(xs, versions, strict=True):
        marker = _STATUS_MARKERS.get(version.status, "o")
        axes.plot(x, version.metrics.get("ndcg", 0), marker, color="C0", markersize=10, markerfacecolor="none",
                  markeredgewidth=1.5)
        if version.status not in statuses:
            statuses.append(version.status)
    for status in statuses:  # legend entries for the status markers present
        axes.plot([], [], _STATUS_MARKERS.get(status, "o"), color="C0", markerfacecolor="none",
                  label=ModelStatus(status).label.lower())
    for x, version in zip(xs, versions, strict=True):
        if version.pk == highlight:  # the version whose page shows the chart
            axes.axvline(x, color="0.6", linewidth=6, alpha=0.35, zorder=0, label=f"v{version.pk}")
    if len(xs) == 1:
        axes.set_xlim(-1, 1)
    step = max(1, len(versions) // 15)
    axes.set_xticks(xs[::step], [f"v{v.pk}\n{v.algorithm}" for v in versions][::step], fontsize=7)
    axes.set_ylim(bottom=0)
    axes.set_ylabel("metric")
    axes.set_title("Model versions: metrics@k on the held-out split, status marked on nDCG", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return figure
