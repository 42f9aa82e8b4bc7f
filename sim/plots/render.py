"""Every chart of a results Dataset at once, e.g. to PNG files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from sim.plots.fulfilment import capacity_chart, delivery_chart, promise_chart
from sim.plots.sales import fan_chart, kpi_distributions, subsidy_waterfall

CHARTS: dict[str, tuple[Callable[[xr.Dataset], Figure], str | None]] = {
    "gmv_fan": (fan_chart, None),
    "kpi_distributions": (kpi_distributions, None),
    "subsidy_waterfall": (subsidy_waterfall, None),
    "capacity": (capacity_chart, "fulfilment_picked"),
    "delivery": (delivery_chart, "fulfilment_picked"),
    "promise": (promise_chart, "fulfilment_delivered_by_order_hour"),
}
"""Charts of one results Dataset: name -> (function, the variable it needs, if any:
results without a fulfilment model, or saved before the promise chart existed, skip
the charts they cannot draw)."""


def charts(ds: xr.Dataset) -> dict[str, Figure]:
    """Every applicable chart of a results Dataset, by name."""
    return {name: fn(ds) for name, (fn, needs) in CHARTS.items() if needs is None or needs in ds}


def render_all(
    ds: xr.Dataset, folder: str | os.PathLike[str], prefix: str = "", dpi: int = 150
) -> list[Path]:
    """Save every applicable chart of ``ds`` as ``folder/<prefix><name>.png``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in charts(ds).items():
        p = out / f"{prefix}{name}.png"
        fig.savefig(p, dpi=dpi)
        paths.append(p)
    return paths
