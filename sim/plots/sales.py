"""Sales charts: cumulative GMV against the target, the subsidy waterfall, profit and ROI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.plots.style import (
    BLUE,
    GREEN,
    GREY,
    LIGHT,
    ORANGE,
    RED,
    SKY,
    compact,
    currency,
    date_axis,
    gmv_target,
    money_axis,
    new_figure,
    require,
    scenario_name,
    styled,
)


def _n(ds: xr.Dataset) -> int:
    return int(ds.sizes.get("replicate", 1))


def phase_spans(ds: xr.Dataset) -> list[tuple[str, Any, Any]]:
    """(phase, first hour, end) of each phase, in calendar order, from the ``phase`` coord."""
    t = ds["time"].values
    ph = ds["phase"].values
    out = []
    start = 0
    for i in range(1, len(t) + 1):
        if i == len(t) or ph[i] != ph[start]:
            end = t[i] if i < len(t) else t[-1] + np.timedelta64(1, "h")
            out.append((str(ph[start]), t[start], end))
            start = i
    return out


def fan_chart(ds: xr.Dataset, target: float | None = None) -> Figure:
    """Cumulative GMV by day against the GMV target: P10-P90 band and median (P50).

    Parameters
    ----------
    ds
        Results (:func:`sim.runner.run`): needs ``gmv`` (replicate, time, ...).
    target
        GMV target (default: ``campaign.targets.gmv`` of the scenario in the attrs).

    Returns
    -------
    matplotlib.figure.Figure
        One axes; lines: the median and the target; one band (P10-P90); phases shaded.
    """
    require(ds, "gmv", what="fan_chart")
    cur = currency(ds)
    target = gmv_target(ds) if target is None else target
    g = ds["gmv"].sum([d for d in ds["gmv"].dims if d not in ("replicate", "time")])
    if "replicate" not in g.dims:
        g = g.expand_dims("replicate")
    daily = g.resample(time="1D").sum()
    cum = daily.cumsum("time")
    # cumulative GMV at the end of each day, from 0 at the campaign start
    ends = cum["time"].values + np.timedelta64(1, "D")
    x = np.concatenate([cum["time"].values[:1], ends])
    vals = np.concatenate([np.zeros((cum.sizes["replicate"], 1)),
                           cum.transpose("replicate", "time").values], axis=1)  # fmt: skip
    p10, p50, p90 = np.percentile(vals, [10, 50, 90], axis=0)
    n = _n(ds)
    with styled():
        fig, ax = new_figure(f"Cumulative GMV against the target: {scenario_name(ds)}")
        _shade_phases(ax, ds, fig.get_figwidth() * 0.85)
        ax.fill_between(x, p10, p90, color=SKY, alpha=0.35, lw=0, label="P10-P90 of replicates")
        ax.plot(x, p50, color=BLUE, marker="o", ms=3.5, label="median (P50)")
        if target:
            ax.axhline(target, color=RED, ls="--", lw=1.8, label=f"target {compact(target)}")
            final = vals[:, -1]
            share = float(np.mean(final >= target))
            ax.text(
                0.985, 0.04,
                f"P(reach target) = {share:.0%}\nmedian {compact(float(p50[-1]))}"
                f" = {p50[-1] / target:.0%} of target",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=12.5, color="#222222",
                bbox={"boxstyle": "round,pad=0.4", "fc": "white", "ec": LIGHT},
            )  # fmt: skip
        top = max(float(p90.max()), target or 0.0)
        ax.set_ylim(0, top * 1.12)
        ax.set_xlim(x[0], x[-1])
        money_axis(ax)
        date_axis(ax)
        ax.set_ylabel(f"cumulative GMV ({cur})")
        ax.set_xlabel(f"end of day, local time ({ds.attrs.get('timezone', 'local')})")
        ax.set_title(f"{n} replicates; shaded columns are the campaign phases")
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.93))
    return fig


def _shade_phases(ax: Axes, ds: xr.Dataset, inches: float) -> None:
    """Alternate light columns per phase, with the phase name at the top of the axes
    (``inches``: the width of the axes, to decide whether a name fits across)."""
    spans = phase_spans(ds)
    total = (spans[-1][2] - spans[0][1]) / np.timedelta64(1, "h")
    for i, (name, a, b) in enumerate(spans):
        if i % 2 == 0:
            ax.axvspan(a, b, color="#F2F2F2", lw=0, zorder=0)
        room = (b - a) / np.timedelta64(1, "h") / total * inches
        fits = room >= 0.1 * len(name) + 0.1
        ax.text(
            a + (b - a) / 2, 0.99, name, transform=ax.get_xaxis_transform(), ha="center",
            va="top", fontsize=10.5, color=GREY, rotation=0 if fits else 90, clip_on=True,
        )  # fmt: skip


# --- subsidy waterfall --------------------------------------------------------------------
def _price_mechanisms() -> tuple[str, ...]:
    from sim.plan import MECHANISMS
    from sim.shoppers.tables import PRICE_MECHANISMS

    return tuple(m for i, m in enumerate(MECHANISMS) if i in PRICE_MECHANISMS)


def waterfall_steps(ds: xr.Dataset) -> list[tuple[str, float, str]]:
    """(label, amount, kind) of the waterfall, means over replicates.

    kind is ``total`` (a bar from zero) or ``step`` (a change). GMV minus each
    price mechanism's subsidy is what shoppers paid; minus refunds of returns,
    plus forfeited deposits, is net revenue; the costs of the mechanisms that do
    not lower the price (gifts, points ...) follow, down to net revenue after
    promotion costs.
    """
    require(ds, "gmv", "paid", "subsidy", "return_money", "forfeit_money", what="the waterfall")
    n = _n(ds)

    def tot(name: str) -> float:
        return float(ds[name].sum()) / n

    sub = ds["subsidy"].sum([d for d in ds["subsidy"].dims if d != "mechanism"]) / n
    price = set(_price_mechanisms())
    steps: list[tuple[str, float, str]] = [("GMV (list value)", tot("gmv"), "total")]
    for m in ds["mechanism"].values:
        v = float(sub.sel(mechanism=m))
        if m in price and v != 0:
            steps.append((str(m).replace("_", " "), -v, "step"))
    steps.append(("paid by shoppers", tot("paid"), "total"))
    steps.append(("refunds of returns", -tot("return_money"), "step"))
    if tot("forfeit_money"):
        steps.append(("forfeited deposits", tot("forfeit_money"), "step"))
    net = tot("paid") - tot("return_money") + tot("forfeit_money")
    steps.append(("net revenue", net, "total"))
    other = [(str(m), float(sub.sel(mechanism=m))) for m in ds["mechanism"].values
             if m not in price and float(sub.sel(mechanism=m)) != 0]  # fmt: skip
    if other:
        for m, v in other:
            steps.append((m.replace("_", " "), -v, "step"))
        steps.append(("after promotion costs", net - sum(v for _, v in other), "total"))
    return steps


def subsidy_waterfall(ds: xr.Dataset) -> Figure:
    """Waterfall from gross GMV, minus each mechanism's subsidy and refunds, to net revenue.

    Means over replicates. Price mechanisms (they lower the price paid) come first,
    down to what shoppers paid; refunds and forfeited deposits lead to net revenue;
    non-price promotion costs (gifts, points, instalments ...) follow.

    Parameters
    ----------
    ds
        Results: needs ``gmv``, ``paid``, ``subsidy``, ``return_money``, ``forfeit_money``.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one horizontal bar per step (see :func:`waterfall_steps`).
    """
    steps = waterfall_steps(ds)
    cur = currency(ds)
    gmv = steps[0][1]
    with styled():
        h = max(5.0, 1.2 + 0.42 * len(steps))
        fig, ax = new_figure(f"From GMV to net revenue: {scenario_name(ds)}", figsize=(11, h))
        level = 0.0
        y = np.arange(len(steps))
        for i, (_, v, kind) in enumerate(steps):
            if kind == "total":
                left, width, color = 0.0, v, BLUE if i == 0 else GREEN
                level = v
            else:
                left, width = (level + v, -v) if v < 0 else (level, v)
                color = RED if v < 0 else SKY
                level += v
            ax.barh(y[i], width, left=left, color=color, height=0.65)
            text = compact(v) if kind == "total" else f"{'+' if v > 0 else '-'}{compact(abs(v))}"
            share = ""
            if kind == "step" and gmv:
                r = abs(v) / gmv
                share = f"  ({r:.1%} of GMV)" if r >= 0.001 else "  (<0.1% of GMV)"
            ax.text(left + width + gmv * 0.008, y[i], text + share, va="center", fontsize=11)
            if i + 1 < len(steps):
                ax.plot([level, level], [y[i] + 0.33, y[i] + 0.67], color=GREY, lw=0.8)
        ax.set_yticks(y, [s[0] for s in steps])
        ax.invert_yaxis()
        ax.set_xlim(0, gmv * 1.3)
        money_axis(ax, "x")
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(f"{cur}, mean of {_n(ds)} replicates")
        ax.set_title("red: discounts and refunds; green: subtotals")
    return fig


# --- distributions ------------------------------------------------------------------------
def kpi_distributions(
    ds: xr.Dataset, names: Sequence[str] = ("profit", "roi"), kpi_values: xr.Dataset | None = None
) -> Figure:
    """Histograms of KPIs over replicates (default profit and ROI), with the probability
    of reaching the GMV target.

    Parameters
    ----------
    ds
        Results (``sim.runner``) or KPIs per replicate (:func:`sim.metrics.kpis`).
    names
        KPIs to show, one panel each.
    kpi_values
        KPIs already computed from ``ds`` (saves recomputing them).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per KPI: a histogram (patches), one tick per replicate, mean and
        P10/P90 lines.
    """
    k = kpi_values if kpi_values is not None else _as_kpis(ds)
    require(k, *names, what="kpi_distributions")
    cur = str(k.attrs.get("currency", currency(ds)))
    with styled():
        fig, axes = new_figure(
            f"Profit and ROI: {scenario_name(ds)}"
            if tuple(names) == ("profit", "roi") else f"KPIs: {scenario_name(ds)}",
            1, len(names), figsize=(5.5 * len(names) + 1, 5.8), squeeze=False,
        )  # fmt: skip
        for ax, name in zip(axes[0], names, strict=True):
            v = k[name]
            x = np.asarray(v.values, float).ravel()
            x = x[np.isfinite(x)]
            bins = int(np.clip(np.ceil(2 * np.sqrt(x.size)), 5, 30))
            ax.hist(x, bins=bins, color=SKY, edgecolor="white", label="replicates")
            ax.plot(x, np.full_like(x, 0.025), "|", color=BLUE, ms=14, mew=1.5,
                    transform=ax.get_xaxis_transform(), label="one replicate")  # fmt: skip
            mean = float(x.mean()) if x.size else np.nan
            p10, p90 = np.percentile(x, [10, 90]) if x.size else (np.nan, np.nan)
            units = v.attrs.get("units", "")
            is_money = bool(cur) and units == cur
            show = (lambda z: compact(z)) if is_money else (lambda z: f"{z:.3g}")
            ax.axvline(mean, color=BLUE, lw=2, label=f"mean {show(mean)}")
            for q in (p10, p90):
                ax.axvline(q, color=GREY, lw=1.3, ls=":")
            ax.plot([], [], color=GREY, ls=":", lw=1.3, label=f"P10-P90 {show(p10)} to {show(p90)}")
            if x.size and is_money:
                span = max(float(x.max() - x.min()), abs(mean) * 0.05)
                if x.min() - span < 0 < x.max() + span:  # zero is near: show break-even
                    ax.axvline(0, color=RED, lw=1.2, label="break-even")
            if is_money:
                money_axis(ax, "x")
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
            long = v.attrs.get("long_name", name)
            ax.set_xlabel(f"{long} ({cur})" if is_money else
                          (long if units in ("1", "") else f"{long} ({units})"))  # fmt: skip
            ax.set_ylabel("replicates")
            ax.yaxis.get_major_locator().set_params(integer=True)
            if name == "roi":
                ax.set_title("ROI = GMV / (marketing + subsidy)")
            elif name == "profit":
                p_loss = float(np.mean(x < 0)) if x.size else np.nan
                ax.set_title(f"P(loss) = {p_loss:.0%}")
            ax.margins(y=0.45)
            ax.legend(loc="upper left", fontsize=10.5)
        p = _p_target(k)
        if p is not None:
            fig.text(
                0.99, 0.985, f"P(GMV target reached) = {p:.0%}", ha="right", va="top",
                fontsize=14, color="white", weight="bold",
                bbox={"boxstyle": "round,pad=0.4", "fc": GREEN if p >= 0.5 else ORANGE,
                      "ec": "none"},
            )  # fmt: skip
    return fig


def _p_target(k: xr.Dataset) -> float | None:
    if "target_reached" not in k:
        return None
    x = np.asarray(k["target_reached"].values, float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else None


def _as_kpis(ds: xr.Dataset) -> xr.Dataset:
    """KPIs per replicate: ``ds`` itself if it holds them already, else :func:`sim.metrics.kpis`."""
    if "gmv" in ds and ds["gmv"].dims == ("replicate",):
        return ds
    from sim.metrics import kpis

    return kpis(ds)
