"""Every chart of a results Dataset at once, e.g. to PNG files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from sim.plots.fulfilment import capacity_chart, delivery_chart, promise_chart
from sim.plots.sales import fan_chart, kpi_distributions, subsidy_waterfall

CHARTS: dict[str, tuple[Callable[[xr.Dataset], Figure], bool]] = {
    "gmv_fan": (fan_chart, False),
    "kpi_distributions": (kpi_distributions, False),
    "subsidy_waterfall": (subsidy_waterfall, False),
    "capacity": (capacity_chart, True),
    "delivery": (delivery_chart, True),
    "promise": (promise_chart, True),
}
"""Charts of one results Dataset: name -> (function, needs a fulfilment model)."""


def charts(ds: xr.Dataset) -> dict[str, Figure]:
    """Every applicable chart of a results Dataset, by name (fulfilment charts only if the
    results have a fulfilment model)."""
    has_f = "fulfilment_picked" in ds
    return {name: fn(ds) for name, (fn, needs_f) in CHARTS.items() if has_f or not needs_f}


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
