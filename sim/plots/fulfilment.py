"""Fulfilment charts: hourly orders against picking capacity, delivery times by region."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MultipleLocator

from sim.plots.style import (
    BLUE,
    GREY,
    ORANGE,
    RED,
    SKY,
    CompactFormatter,
    PercentFormatter,
    compact,
    date_axis,
    new_figure,
    require,
    scenario_dict,
    scenario_name,
    styled,
)


def peak_day(ds: xr.Dataset) -> Any:
    """Midnight starting the peak day: the start of the scenario's ``peak`` phase, or the
    day with the most orders."""
    phases = scenario_dict(ds).get("calendar", {}).get("phases", [])
    for ph in phases:
        if ph.get("kind") == "peak":
            return pd.Timestamp(ph["start"]).normalize().to_datetime64()
    o = ds["orders"].sum([d for d in ds["orders"].dims if d != "time"])
    return pd.Timestamp(o.resample(time="1D").sum().idxmax("time").values).to_datetime64()


def capacity_chart(
    ds: xr.Dataset,
    window: tuple[Any, Any] | None = None,
) -> Figure:
    """Orders arriving at the warehouses each hour against picking capacity, with backlog.

    Orders are those to be picked at the sites (presale orders picked ahead in
    forward warehouses are not among them); capacity is the picks the staff on duty
    could do in the hour (shifts plus surge), summed over sites; backlog (second
    axis) is the orders waiting to be picked at the end of the hour. Medians over
    replicates, with the P10-P90 band of orders. An hour whose orders go off the
    scale is clipped and labelled with its value.

    Parameters
    ----------
    ds
        Results with a fulfilment model (``fulfilment_arrivals``, ``_capacity``, ``_backlog``).
    window
        (start, end) in local time; default the peak day +/- 2 days.

    Returns
    -------
    matplotlib.figure.Figure
        Left axes: orders (line and band) and capacity (step line); right axes: backlog.
    """
    require(ds, "fulfilment_arrivals", "fulfilment_capacity", "fulfilment_backlog",
            what="capacity_chart")  # fmt: skip
    sel = _window(ds, window, "capacity_chart")

    def series(name: str) -> xr.DataArray:
        v = ds[name].sum("site").isel(ftime=sel)
        return v if "replicate" in v.dims else v.expand_dims("replicate")

    arrivals, cap, back = (series(f"fulfilment_{n}") for n in ("arrivals", "capacity", "backlog"))
    t = arrivals["ftime"].values
    a10, a50, a90 = np.percentile(arrivals.values, [10, 50, 90], axis=0)
    c50 = np.median(cap.values, axis=0)
    b50 = np.median(back.values, axis=0)
    edges = np.append(t, t[-1] + np.timedelta64(1, "h"))
    with styled():
        fig, ax = new_figure(f"Orders against picking capacity: {scenario_name(ds)}")
        ax2 = ax.twinx()
        ax2.fill_between(edges, np.append(b50, b50[-1]), step="post", color=ORANGE, alpha=0.25,
                         lw=0, label="backlog (right axis)")  # fmt: skip
        ax2.step(edges, np.append(b50, b50[-1]), where="post", color=ORANGE, lw=1.6)
        ax.fill_between(edges, np.append(a10, a10[-1]), np.append(a90, a90[-1]), step="post",
                        color=SKY, alpha=0.35, lw=0, label="orders P10-P90")  # fmt: skip
        ax.step(edges, np.append(a50, a50[-1]), where="post", color=BLUE, lw=2,
                label="orders arriving (median)")  # fmt: skip
        ax.step(edges, np.append(c50, c50[-1]), where="post", color=GREY, ls="--", lw=2,
                label="picking capacity (all sites)")  # fmt: skip
        top, clipped = _scale(a50, a90, c50)
        ax.set_ylim(0, top)
        for k in clipped:
            when = str(np.datetime_as_string(t[k], "m"))[5:].replace("T", " ")
            ax.annotate(
                f"{compact(float(a50[k]))} orders\nat {when}",
                xy=(t[k] + np.timedelta64(30, "m"), top), xytext=(10, -8),
                textcoords="offset points", ha="left", va="top", fontsize=11, color=BLUE,
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "none", "alpha": 0.9},
                arrowprops={"arrowstyle": "-|>", "color": BLUE, "lw": 1},
            )  # fmt: skip
        ax2.set_ylim(0, max(float(b50.max()) * 1.15, 1.0))
        ax2.spines["right"].set_visible(True)
        ax2.grid(False)
        for a in (ax, ax2):
            a.yaxis.set_major_formatter(CompactFormatter())
        ax.set_ylabel("orders per hour")
        ax2.set_ylabel("orders waiting to be picked", color=ORANGE)
        ax2.tick_params(axis="y", colors=ORANGE)
        ax.set_xlim(edges[0], edges[-1])
        date_axis(ax)
        ax.set_xlabel(f"local time ({ds.attrs.get('timezone', 'local')})")
        nrep = int(ds.sizes.get("replicate", 1))
        note = "; off-scale peaks are labelled" if clipped else ""
        ax.set_title(f"hourly, median of {nrep} replicates{note}")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        fig.legend(h1 + h2, l1 + l2, loc="outside lower center", ncols=4)
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
    return fig


def _window(ds: xr.Dataset, window: tuple[Any, Any] | None, what: str) -> np.ndarray:
    """The positions on ``ftime`` of a window (start, end) in local time (default the
    peak day +/- 2 days); raises if it is empty or reversed."""
    if window is None:
        day = peak_day(ds)
        start, end = day - np.timedelta64(2, "D"), day + np.timedelta64(3, "D")
    else:
        start, end = (pd.Timestamp(w).to_datetime64() for w in window)
    if not start < end:
        raise ValueError(f"{what}: window start {start} is not before its end {end}")
    t = ds["ftime"].values
    pos = np.flatnonzero((t >= start) & (t < end))
    if len(pos) == 0:
        raise ValueError(f"{what}: no hours between {start} and {end}")
    return pos


def promise_chart(ds: xr.Dataset, window: tuple[Any, Any] | None = None) -> Figure:
    """The delivery time quoted at checkout against the one delivered, by order hour.

    The quote is the one shoppers saw in each hour (computed at the end of the hour
    before: ``fulfilment_promise``, weighted over regions by their orders); delivered
    is the mean order-to-door time of the orders placed in the hour
    (``fulfilment_delivery_hours_by_order_hour`` / ``fulfilment_delivered_by_order_hour``,
    all regions). Medians over replicates, with the P10-P90 band of delivered; the
    scenario's ``promise_hours`` (the on-time limit) as a reference line.

    Parameters
    ----------
    ds
        Results with a fulfilment model.
    window
        (start, end) in local time; default the peak day +/- 2 days.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: hours from order to door against local time.
    """
    require(ds, "fulfilment_promise", "fulfilment_delivered_by_order_hour",
            "fulfilment_delivery_hours_by_order_hour", "fulfilment_orders_in",
            what="promise_chart")  # fmt: skip
    pos = _window(ds, window, "promise_chart")

    def reps(v: xr.DataArray) -> np.ndarray:
        v = v if "replicate" in v.dims else v.expand_dims("replicate")
        return np.asarray(v.transpose("replicate", "ftime", "region").values, float)

    quote, orders = reps(ds["fulfilment_promise"]), reps(ds["fulfilment_orders_in"])
    n = reps(ds["fulfilment_delivered_by_order_hour"]).sum(axis=2)
    hours = reps(ds["fulfilment_delivery_hours_by_order_hour"]).sum(axis=2)
    shown = np.full_like(quote, np.nan)  # the quote shoppers saw in hour h: made at h - 1
    shown[:, 1:] = quote[:, :-1]
    w = orders.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        seen = np.where(w > 0, (shown * orders).sum(axis=2) / w, np.nan)
        got = np.where(n > 0, hours / n, np.nan)
    seen, got = seen[:, pos], got[:, pos]
    t = ds["ftime"].values[pos]
    edges = np.append(t, t[-1] + np.timedelta64(1, "h"))

    def med(a: np.ndarray, q: float = 50) -> np.ndarray:
        ok = np.isfinite(a).any(axis=0)
        out = np.full(a.shape[1], np.nan)
        out[ok] = np.nanpercentile(a[:, ok], q, axis=0)
        return np.append(out, out[-1])

    limit = float(ds.attrs.get("promise_hours", np.nan))
    with styled():
        fig, ax = new_figure(f"Delivery time quoted and delivered: {scenario_name(ds)}")
        ax.fill_between(edges, med(got, 10), med(got, 90), step="post", color=SKY,
                        alpha=0.35, lw=0, label="delivered P10-P90")  # fmt: skip
        ax.step(edges, med(got), where="post", color=BLUE, lw=2,
                label="delivered (mean of the hour's orders)")  # fmt: skip
        ax.step(edges, med(seen), where="post", color=ORANGE, lw=2, ls="--",
                label="quoted at checkout")  # fmt: skip
        if np.isfinite(limit):
            ax.axhline(limit, color=RED, lw=1.5, ls=":", label=f"promise limit {limit:g} h")
        ax.set_ylim(0, None)
        ax.set_ylabel("hours from order to door")
        ax.set_xlim(edges[0], edges[-1])
        date_axis(ax)
        ax.set_xlabel(f"local time of the order ({ds.attrs.get('timezone', 'local')})")
        nrep = int(ds.sizes.get("replicate", 1))
        ax.set_title(f"by order hour, all regions, median of {nrep} replicates")
        fig.legend(loc="outside lower center", ncols=4)
    return fig


def _scale(a50: np.ndarray, a90: np.ndarray, cap: np.ndarray) -> tuple[float, list[int]]:
    """Top of the orders axis, and the hours whose median goes off it: a spike more than
    2.5 times the 95th percentile of the other hours is clipped (and labelled) so the
    rest of the day stays readable."""
    ref = max(float(np.percentile(a90, 95)), float(cap.max()), 1.0)
    spikes = a90 > 2.5 * ref
    body = max(float(a90[~spikes].max()) if (~spikes).any() else ref, float(cap.max()), 1.0)
    top = 1.12 * body
    return top, [int(k) for k in np.flatnonzero(a50 > top)]


def delivery_chart(ds: xr.Dataset, target: float | None = None) -> Figure:
    """Order-to-door delivery times and the on-time share by region.

    Left: the share of orders delivered in each hour after ordering (all regions,
    mean over replicates), with the delivery promise and the median and P90 marked.
    Right: orders delivered within the promise, by region (mean and P10-P90 over
    replicates), against the fulfilment-rate target.

    Parameters
    ----------
    ds
        Results with a fulfilment model: ``door_delay_hist``, ``fulfilment_delivered``,
        ``fulfilment_delivered_on_time``.
    target
        On-time target (default: ``campaign.targets.fulfilment_rate``).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: the histogram (bars) and one horizontal bar per region.
    """
    require(ds, "door_delay_hist", "fulfilment_delivered", "fulfilment_delivered_on_time",
            what="delivery_chart")  # fmt: skip
    promise = float(ds.attrs.get("promise_hours", np.nan))
    if target is None:
        t = scenario_dict(ds).get("campaign", {}).get("targets", {}).get("fulfilment_rate")
        target = float(t) if t else None
    h = ds["door_delay_hist"].sum("region")
    h = h.mean("replicate") if "replicate" in h.dims else h
    share = (h / h.sum()).values
    cdf = np.cumsum(share)
    p50 = int(np.searchsorted(cdf, 0.5)) + 0.5
    p90 = int(np.searchsorted(cdf, 0.9)) + 0.5
    last = int(np.searchsorted(cdf, 0.995)) + 1
    xmax = max(last, int(promise * 1.2) if np.isfinite(promise) else 0, 24)
    xmax = int(np.ceil(xmax / 12) * 12)
    on = ds["fulfilment_delivered_on_time"].sum("ftime")
    dl = ds["fulfilment_delivered"].sum("ftime")
    rate = on / dl
    if "replicate" not in rate.dims:
        rate = rate.expand_dims("replicate")
    regions = [str(r) for r in rate["region"].values]
    r = rate.transpose("region", "replicate").values
    mean = np.nanmean(r, axis=1)
    lo, hi = np.nanpercentile(r, 10, axis=1), np.nanpercentile(r, 90, axis=1)
    with styled():
        fig, (ax, bx) = new_figure(
            f"Delivery times: {scenario_name(ds)}", 1, 2, figsize=(13, 5.8),
            gridspec_kw={"width_ratios": [1.6, 1]},
        )  # fmt: skip
        hours = np.arange(xmax)
        ax.bar(hours + 0.5, share[:xmax], width=1.0, color=SKY, edgecolor="none",
               label="orders delivered")  # fmt: skip
        if np.isfinite(promise):
            ax.axvline(promise, color=RED, ls="--", lw=2, label=f"promise {promise:g} h")
        ax.axvline(p50, color=BLUE, lw=1.8, label=f"median {p50:g} h")
        ax.axvline(p90, color=BLUE, lw=1.8, ls=":", label=f"P90 {p90:g} h")
        ax.set_xlim(0, xmax)
        ax.xaxis.set_major_locator(_hour_locator(xmax))
        ax.yaxis.set_major_formatter(PercentFormatter())
        ax.set_xlabel("hours from order to door")
        ax.set_ylabel("share of orders per hour")
        ax.set_title("all regions", pad=18)
        ax.legend(loc="best")
        y = np.arange(len(regions))
        colors = [BLUE if (target is None or m >= target) else ORANGE for m in mean]
        bx.barh(y, mean, color=colors, height=0.6)
        bx.errorbar(mean, y, xerr=[mean - lo, hi - mean], fmt="none", ecolor="#222222",
                    capsize=4, lw=1.3)  # fmt: skip
        for yi, m in zip(y, mean, strict=True):
            bx.text(0.02, yi, f"{m:.1%}", va="center", ha="left", color="white",
                    fontsize=11.5, weight="bold")  # fmt: skip
        if target is not None:
            bx.axvline(target, color=RED, ls="--", lw=2)
            bx.text(target, 1.0, f"target {target:.0%}", transform=bx.get_xaxis_transform(),
                    ha="right", va="bottom", color=RED, fontsize=11)  # fmt: skip
        bx.set_yticks(y, regions)
        bx.invert_yaxis()
        bx.set_xlim(0, 1)
        bx.xaxis.set_major_formatter(PercentFormatter())
        bx.grid(axis="x")
        bx.grid(axis="y", visible=False)
        bx.set_xlabel(f"delivered within {promise:g} h (P10-P90 whiskers)")
        bx.set_title("on time, by region", pad=18)
    return fig


def _hour_locator(xmax: float) -> MultipleLocator:
    """Ticks every 6, 12, 24 ... hours, whichever gives at most ~10 ticks."""
    step = next((s for s in (6, 12, 24, 48, 96, 168) if xmax / s <= 10), 336)
    return MultipleLocator(step)
