"""Charts of promosim results: each function takes a Dataset and returns a Figure.

Every chart uses one style (applied inside the function, never at import),
labels its axes with units and currency, shows dates as local dates and money
in compact units (bn, m).

>>> from sim.plots import fan_chart          # doctest: +SKIP
>>> fan_chart(ds).savefig("fan.png")         # doctest: +SKIP
"""

from sim.plots.compare import comparison_chart, response_heatmap, tornado_chart
from sim.plots.fulfilment import capacity_chart, delivery_chart, peak_day, promise_chart
from sim.plots.render import CHARTS, render_all
from sim.plots.sales import fan_chart, kpi_distributions, subsidy_waterfall, waterfall_steps
from sim.plots.style import compact, styled, to_data_uri, to_png

__all__ = [
    "CHARTS",
    "capacity_chart",
    "compact",
    "comparison_chart",
    "delivery_chart",
    "fan_chart",
    "kpi_distributions",
    "peak_day",
    "promise_chart",
    "render_all",
    "response_heatmap",
    "styled",
    "subsidy_waterfall",
    "to_data_uri",
    "to_png",
    "tornado_chart",
    "waterfall_steps",
]
