"""The operators' payment-volume chart (drawn with the shared `superapp.charts` helper)."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from superapp.charts import figure_png, no_data
from superapp.money import Money

MAX_CURRENCIES = 6  # one panel each; the busiest ones


def payment_volume_png(series: dict[str, list[dict]], *, days: int) -> bytes:
    """Daily succeeded-payment volume (amount + tip, major units) per currency: one panel per currency
    (their scales differ by orders of magnitude, e.g. JPY and CHF), with the payment count on the right."""
    currencies = list(series)[:MAX_CURRENCIES]
    figure = Figure(figsize=(9, 1.0 + 1.7 * max(1, len(currencies))), dpi=100)
    if not currencies:
        no_data(figure.subplots(), f"No succeeded payments in the last {days} days")
        return figure_png(figure)
    panels = figure.subplots(len(currencies), 1, sharex=True, squeeze=False)[:, 0]
    for axes, currency in zip(panels, currencies, strict=True):
        points = series[currency]
        days_axis = [point["date"] for point in points]
        volume = [float(Money(point["gross"], currency).to_decimal()) for point in points]
        axes.bar(days_axis, volume, color="C0", width=0.8, label="volume")
        axes.set_ylabel(currency)
        axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        counts = axes.twinx()
        counts.plot(days_axis, [point["count"] for point in points], color="C1", marker=".", linewidth=1,
                    label="payments")
        counts.set_ylabel("payments", fontsize=7, color="C1")
        counts.set_ylim(bottom=0)
        total = sum(point["gross"] for point in points)
        axes.set_title(f"{currency}: {Money(total, currency).to_decimal():,} in {sum(p['count'] for p in points)} "
                       f"payments", fontsize=8, loc="left")
        axes.grid(alpha=0.3, axis="y")
    panels[0].figure.suptitle(f"Succeeded payments per day (UTC), last {days} days: volume (bars), count (line)",
                              fontsize=9)
    hidden = len(series) - len(currencies)
    if hidden:
        panels[-1].set_xlabel(f"(+{hidden} quieter currencies not shown)", fontsize=7)
    figure.autofmt_xdate()
    return figure_png(figure)
