"""The admin's chart of model-version metrics (drawn with the shared `superapp.charts` helper)."""

from __future__ import annotations

from collections.abc import Iterable

from matplotlib.figure import Figure

from recommender.models import ModelStatus, ModelVersion
from superapp.charts import figure_png, no_data

_STATUS_MARKERS = {ModelStatus.ACTIVE: "*", ModelStatus.REJECTED: "x", ModelStatus.RETIRED: "o",
                   ModelStatus.TRAINED: "s", ModelStatus.FAILED: "X"}


def metrics_chart_png(versions: Iterable[ModelVersion]) -> bytes:
    """nDCG, precision, recall and MAP per version, with popularity's nDCG on the same split dashed."""
    versions = [v for v in versions if v.metrics]
    figure = Figure(figsize=(9, 3.2), dpi=100)
    axes = figure.subplots()
    if not versions:
        no_data(axes, "No evaluated model versions yet")
    else:
        xs = list(range(len(versions)))
        for name in ("ndcg", "precision", "recall", "map"):
            axes.plot(xs, [v.metrics.get(name, 0) for v in versions], label=f"{name}@k", linewidth=1.5)
        axes.plot(xs, [v.baseline_metrics.get("ndcg", 0) for v in versions], "k--", label="popularity nDCG",
                  linewidth=1)
        for x, version in zip(xs, versions, strict=True):
            axes.plot(x, version.metrics.get("ndcg", 0), _STATUS_MARKERS.get(version.status, "o"), color="C0",
                      markersize=8)
        step = max(1, len(versions) // 15)
        axes.set_xticks(xs[::step], [f"v{v.pk}\n{v.algorithm}" for v in versions][::step], fontsize=7)
        axes.set_ylabel("metric")
        axes.set_title("Model versions (★ active, × rejected, ○ retired)", fontsize=9)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7, loc="upper left", ncols=5)
    return figure_png(figure)
