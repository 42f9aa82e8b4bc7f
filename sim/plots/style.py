"""One chart style for every promosim figure: rcParams, colours, money and date axes.

The style is applied inside each chart function with :func:`styled` (a
``matplotlib.rc_context``), never globally, so importing :mod:`sim.plots`
changes nothing. Figures are built with :class:`matplotlib.figure.Figure`
directly (no pyplot state); save them with ``fig.savefig`` or show them in a
notebook as the last expression of a cell.
"""

from __future__ import annotations

import base64
import io
import textwrap
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import xarray as xr
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
BLUE = "#0072B2"
ORANGE = "#E69F00"
GREEN = "#009E73"
RED = "#D55E00"
PURPLE = "#CC79A7"
SKY = "#56B4E9"
YELLOW = "#F0E442"
GREY = "#555555"
LIGHT = "#BBBBBB"
PALETTE = (BLUE, ORANGE, GREEN, RED, PURPLE, SKY, GREY)

RC: dict[str, Any] = {
    "figure.figsize": (11.0, 6.0),
    "figure.dpi": 100,
    "figure.facecolor": "white",
    "savefig.dpi": 150,
    "savefig.facecolor": "white",
    "font.size": 13,
    "axes.titlesize": 13,
    "axes.titleweight": "normal",
    "axes.titlecolor": GREY,
    "axes.titlelocation": "left",
    "axes.labelsize": 13,
    "axes.labelcolor": "#222222",
    "axes.edgecolor": "#888888",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.axisbelow": True,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.8,
    "xtick.labelsize": 11.5,
    "ytick.labelsize": 11.5,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "legend.fontsize": 11,
    "legend.frameon": False,
    "lines.linewidth": 2.2,
    "figure.titlesize": 17,
    "figure.titleweight": "bold",
    "timezone": "UTC",  # times are stored as local wall-clock times: show them as they are
    "date.converter": "concise",
}


@contextmanager
def styled() -> Iterator[None]:
    """The promosim chart style, for the duration of a ``with`` block."""
    with mpl.rc_context(cast(Any, RC)):
        yield


def new_figure(
    title: str,
    nrows: int = 1,
    ncols: int = 1,
    figsize: tuple[float, float] | None = None,
    **kw: Any,
) -> tuple[Figure, Any]:
    """A constrained-layout figure with a bold left-aligned title (call inside :func:`styled`)."""
    fig = Figure(figsize=figsize or RC["figure.figsize"], layout="constrained")
    kw.setdefault("squeeze", True)
    axes = fig.subplots(nrows, ncols, **kw)
    width = int(fig.get_figwidth() * 6.8)  # characters of the bold title per line
    fig.suptitle(textwrap.fill(title, width), x=0.01, ha="left")
    return fig, axes


_UNITS = ((1e9, "bn"), (1e6, "m"), (1e3, "k"))


def compact(x: float, scale: float | None = None, digits: int = 3) -> str:
    """A number in compact units: 30e9 -> '30 bn', 1.25e6 -> '1.25 m', 950 -> '950'.

    ``scale`` fixes the unit (e.g. the axis maximum), so ticks of one axis share it.
    """
    if not np.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    ref = abs(x) if scale is None else abs(scale)
    for div, unit in _UNITS:
        if ref >= div:
            v = x / div
            return f"{_trim(v, digits)} {unit}"
    return _trim(x, digits)


def _trim(v: float, digits: int) -> str:
    if v == 0:
        return "0"
    s = f"{v:.{digits}g}"
    if "e" in s:
        s = f"{v:.0f}"
    return s


class CompactFormatter(Formatter):
    """Tick labels in one compact unit per axis (bn, m, k), chosen from the view limits."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        lo, hi = self.axis.get_view_interval() if self.axis is not None else (x, x)
        return compact(x, max(abs(lo), abs(hi)), digits=4)


class PercentFormatter(Formatter):
    """Tick labels of shares as percentages (0.25 -> '25%'), without needless decimals."""

    def __init__(self, signed: bool = False) -> None:
        self.signed = signed

    def __call__(self, x: float, pos: int | None = None) -> str:
        s = f"{x * 100:.{0 if abs(x * 100 - round(x * 100)) < 1e-9 else 1}f}%"
        return ("+" + s) if self.signed and x > 0 else s


def money_axis(ax: Axes, which: str = "y") -> None:
    """Compact money ticks (bn, m, k) on one axis."""
    (ax.yaxis if which == "y" else ax.xaxis).set_major_formatter(CompactFormatter())


def date_axis(ax: Axes) -> None:
    """Dates on the x axis: automatic locator, concise labels (local wall-clock time)."""
    loc = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc, show_offset=True))


def scenario_dict(ds: xr.Dataset) -> dict[str, Any]:
    """The resolved scenario stored in the results' attrs (empty if absent)."""
    try:
        return tomllib.loads(ds.attrs["scenario_toml"])
    except (KeyError, tomllib.TOMLDecodeError):
        return {}


def currency(ds: xr.Dataset) -> str:
    """The results' currency (attrs), or '' if unknown."""
    return str(ds.attrs.get("currency", ""))


def scenario_name(ds: xr.Dataset) -> str:
    """The scenario name from the attrs, or 'results'."""
    return str(ds.attrs.get("scenario_name", "results"))


def gmv_target(ds: xr.Dataset) -> float | None:
    """The campaign's GMV target, or None."""
    t = scenario_dict(ds).get("campaign", {}).get("targets", {}).get("gmv")
    return float(t) if t else None


def require(ds: xr.Dataset, *names: str, what: str = "this chart") -> None:
    """Raise ValueError naming the variables missing from ``ds``."""
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise ValueError(f"{what} needs {', '.join(missing)} in the Dataset (not found)")


def to_png(fig: Figure, dpi: int = 150) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def to_data_uri(fig: Figure, dpi: int = 150) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (for self-contained HTML)."""
    return "data:image/png;base64," + base64.b64encode(to_png(fig, dpi)).decode("ascii")
