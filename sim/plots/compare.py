"""Charts of comparisons and sweeps: paired KPI differences, tornado, response heatmap.

The sweep charts take plain xarray inputs (sensitivity indices, a KPI over two
parameters), so they work on anything a sweep or a user computes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from sim.plots.style import (
    GREY,
    PALETTE,
    RED,
    CompactFormatter,
    PercentFormatter,
    compact,
    new_figure,
    styled,
)

DEFAULT_KPIS = (
    "gmv", "net_revenue", "profit", "roi", "orders", "aov", "subsidy", "marketing_spend",
    "logistics_cost", "fulfilment_rate", "delivery_p90",
)  # fmt: skip


def comparison_chart(
    cmp: xr.Dataset,
    kpis: Sequence[str] | None = None,
    relative: bool = True,
    alpha: float = 0.05,
) -> Figure:
    """Paired differences of KPIs against the reference scenario, with 95% intervals.

    Parameters
    ----------
    cmp
        Output of :func:`sim.comparison.compare` (needs ``paired``: scenario, kpi, stat).
    kpis
        KPIs to show, top to bottom (default: the main money, volume and delivery KPIs
        present in ``cmp``).
    relative
        Differences relative to the reference mean (one shared axis, in %); otherwise in
        each KPI's units (one small panel per KPI).
    alpha
        Significance level: a filled marker means p < alpha (paired t-test).

    Returns
    -------
    matplotlib.figure.Figure
        One axes (relative) or one per KPI; one errorbar series per compared scenario.
    """
    if "paired" not in cmp:
        raise ValueError("comparison_chart needs the 'paired' table of sim.comparison.compare")
    p = cmp["paired"]
    avail = [str(k) for k in p["kpi"].values]
    names = [k for k in (kpis or DEFAULT_KPIS) if k in avail]
    if kpis is not None and len(names) < len(kpis):
        missing = sorted(set(kpis) - set(avail))
        raise ValueError(f"comparison_chart: unknown KPIs {missing}; available: {avail}")
    scen = [str(s) for s in p["scenario"].values]
    if len(scen) < 2:
        raise ValueError("comparison_chart needs at least two scenarios")
    ref, others = scen[0], scen[1:]
    cur = str(cmp.attrs.get("currency", ""))
    n = int(cmp.sizes.get("replicate", 0))
    off = _offsets(len(others))

    def stat(s: str, k: str, st: str) -> float:
        return float(p.sel(scenario=s, kpi=k, stat=st))

    def label(k: str) -> str:
        return str(cmp[k].attrs.get("long_name", k)) if k in cmp else k

    with styled():
        title = f"Paired differences against {ref}"
        if relative:
            h = max(4.8, 2.2 + 0.42 * len(names) * (1 + 0.25 * (len(others) - 1)))
            fig, ax = new_figure(title, figsize=(11, h))
            y = np.arange(len(names))
            for j, s in enumerate(others):
                base = np.array([stat(ref, k, "mean") for k in names])
                d = np.array([stat(s, k, "diff") for k in names]) / np.abs(base)
                lo = np.array([stat(s, k, "diff_low") for k in names]) / np.abs(base)
                hi = np.array([stat(s, k, "diff_high") for k in names]) / np.abs(base)
                sig = np.array([stat(s, k, "p_value") < alpha for k in names])
                color = PALETTE[j % len(PALETTE)]
                _errorbars(ax, d, y + off[j], lo, hi, sig, color, s)
                for yi, di, hii in zip(y + off[j], d, hi, strict=True):
                    if np.isfinite(di):
                        ax.annotate(_signed_pct(di), (hii if np.isfinite(hii) else di, yi),
                                    xytext=(6, 0), textcoords="offset points", va="center",
                                    fontsize=9.5, color=color)  # fmt: skip
            ax.set_yticks(y, [label(k) for k in names])
            ax.invert_yaxis()
            ax.axvline(0, color=GREY, lw=1.2)
            ax.xaxis.set_major_formatter(PercentFormatter(signed=True))
            ax.grid(axis="x")
            ax.grid(axis="y", visible=False)
            ax.set_xlabel(f"difference relative to {ref}")
            ax.set_title(f"95% intervals, {n} paired replicates")
            ax.margins(x=0.12)
            _legend(ax, others, alpha, fig=fig)
        else:
            ncols = 3 if len(names) > 4 else max(1, len(names))
            nrows = int(np.ceil(len(names) / ncols))
            fig, axes = new_figure(
                f"{title} (95% intervals, {n} paired replicates)", nrows, ncols,
                figsize=(4.6 * ncols, 1.2 + (0.9 + 0.45 * len(others)) * nrows),
                squeeze=False,
            )  # fmt: skip
            for i, k in enumerate(names):
                ax = axes.flat[i]
                units = str(cmp[k].attrs.get("units", "")) if k in cmp else ""
                share = k in cmp and cmp[k].attrs.get("display") == "percent"
                for j, s in enumerate(others):
                    _errorbars(ax, np.array([stat(s, k, "diff")]), np.array([j]),
                               np.array([stat(s, k, "diff_low")]),
                               np.array([stat(s, k, "diff_high")]),
                               np.array([stat(s, k, "p_value") < alpha]),
                               PALETTE[j % len(PALETTE)], s)  # fmt: skip
                ax.axvline(0, color=GREY, lw=1.2)
                ax.set_yticks([])
                ax.set_ylim(len(others) - 0.5, -0.5)
                ax.grid(axis="x")
                ax.grid(axis="y", visible=False)
                if (units == cur and cur) or (units in ("1", "orders", "") and _big(ax)):
                    ax.xaxis.set_major_formatter(CompactFormatter())
                elif share:
                    ax.xaxis.set_major_formatter(FuncFormatter(_points))
                ax.xaxis.get_major_locator().set_params(nbins=4)
                unit = f" ({cur})" if units == cur else "" if units in ("1", "") else f" ({units})"
                if share:
                    unit = " (share)"
                ax.set_title(f"{label(k)}{unit}", fontsize=11.5, color="#222222")
            for ax in axes.flat[len(names) :]:
                ax.set_visible(False)
            _legend(axes.flat[0], others, alpha, fig=fig)
    return fig


def _points(x: float, pos: int | None = None) -> str:
    """A difference of shares in percentage points."""
    return "0" if abs(x) < 1e-12 else f"{x * 100:+.2g} pp"


def _signed_pct(x: float) -> str:
    """'+1.2%', '-3.4%', or '0.0%' when it rounds to zero."""
    return "0.0%" if abs(x) < 0.0005 else f"{x:+.1%}"


def _big(ax: Axes) -> bool:
    lo, hi = ax.get_xlim()
    return max(abs(lo), abs(hi)) >= 1e4


def _offsets(k: int) -> np.ndarray:
    if k == 1:
        return np.zeros(1)
    return np.linspace(-0.25, 0.25, k)


def _errorbars(
    ax: Axes,
    d: np.ndarray,
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sig: np.ndarray,
    color: str,
    label: str,
) -> None:
    """Points with interval whiskers; filled where significant, hollow where not."""
    ok = np.isfinite(d)
    ax.errorbar(d[ok], y[ok], xerr=[d[ok] - lo[ok], hi[ok] - d[ok]], fmt="none", ecolor=color,
                elinewidth=2, capsize=4, label=label)  # fmt: skip
    ax.scatter(d[ok & sig], y[ok & sig], s=60, color=color, zorder=3)
    ax.scatter(d[ok & ~sig], y[ok & ~sig], s=60, facecolor="white", edgecolor=color, lw=2,
               zorder=3)  # fmt: skip


def _legend(ax: Axes, others: Sequence[str], alpha: float, fig: Figure | None = None) -> None:
    handles = [Line2D([], [], color=PALETTE[j % len(PALETTE)], marker="o", lw=2, label=s)
               for j, s in enumerate(others)]  # fmt: skip
    handles += [
        Line2D([], [], color=GREY, marker="o", ls="none", label=f"significant (p < {alpha:g})"),
        Line2D([], [], color=GREY, marker="o", ls="none", markerfacecolor="white",
               label="not significant"),
    ]  # fmt: skip
    if fig is None:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(max(len(others), 2), 4))


# --- sweeps ---------------------------------------------------------------------------------
def tornado_chart(
    indices: xr.DataArray,
    conf: xr.DataArray | None = None,
    top: int | None = 15,
    title: str | None = None,
) -> Figure:
    """Tornado chart of sensitivity indices: one bar per parameter, largest on top.

    Parameters
    ----------
    indices
        Dims ``(parameter,)`` or ``(parameter, index)`` (e.g. index = S1, ST for Sobol,
        mu_star, sigma for Morris). Sorted by the last index (ST when present).
        ``attrs``: ``long_name`` (the KPI) is used in the title.
    conf
        Confidence half-widths, same shape (optional): drawn as whiskers.
    top
        Show only the ``top`` most influential parameters.
    title
        Figure title (default from ``indices.attrs``).

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one bar container per index.
    """
    if "parameter" not in indices.dims or indices.ndim > 2:
        raise ValueError(
            f"tornado_chart needs dims (parameter,) or (parameter, index); got {indices.dims}"
        )
    da = indices if indices.ndim == 2 else indices.expand_dims(index=[indices.name or "index"])
    other = next(d for d in da.dims if d != "parameter")
    da = da.transpose("parameter", other)
    labels = [str(x) for x in da[other].values]
    key = "ST" if "ST" in labels else labels[-1]
    order = np.argsort(-np.abs(np.nan_to_num(da.sel({other: key}).values)), kind="stable")
    if top:
        order = order[:top]
    params = [str(x) for x in da["parameter"].values[order]]
    vals = da.values[order]
    cv = None
    if conf is not None:
        cda = conf if conf.ndim == 2 else conf.expand_dims({other: labels})
        cv = cda.transpose("parameter", other).values[order]
    k = len(labels)
    with styled():
        h = max(4.5, 1.8 + 0.45 * len(params) * (1 + 0.3 * (k - 1)))
        kpi = indices.attrs.get("long_name") or indices.attrs.get("kpi") or ""
        fig, ax = new_figure(title or f"What moves {kpi or 'the KPI'}", figsize=(11, h))
        y = np.arange(len(params))
        width = 0.8 / k
        for j, lab in enumerate(labels):
            pos = y - 0.4 + width * (j + 0.5)
            err = None if cv is None else np.abs(cv[:, j])
            ax.barh(pos, vals[:, j], height=width * 0.92, color=PALETTE[j % len(PALETTE)],
                    xerr=err, error_kw={"ecolor": "#222222", "capsize": 3, "lw": 1},
                    label=lab)  # fmt: skip
        ax.set_yticks(y, params)
        ax.invert_yaxis()
        ax.axvline(0, color=GREY, lw=1)
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
        what = str(indices.attrs.get("index_label", "sensitivity index"))
        units = str(indices.attrs.get("units", ""))
        if units not in ("", "1"):  # Morris effects are in the KPI's units
            ax.xaxis.set_major_formatter(CompactFormatter())
            what = f"{what}, {units}"
        ax.set_xlabel(what)
        if k > 1:
            ax.legend(loc="lower right")
        method = indices.attrs.get("method")
        ax.set_title(f"sorted by {key}" + (f"; {method} design" if method else ""))
    return fig


def response_heatmap(
    kpi: xr.DataArray,
    x: str | None = None,
    y: str | None = None,
    annotate: bool | None = None,
    title: str | None = None,
) -> Figure:
    """Heatmap of a KPI over two sweep parameters (mean over replicates if present).

    Parameters
    ----------
    kpi
        A KPI over two parameter dims (and optionally ``replicate``); ``attrs``
        ``long_name`` and ``units`` label the colour bar; each parameter coordinate's
        ``units``/``long_name`` attrs label its axis.
    x, y
        Parameter dims for the x and y axes (default: the two dims in order y, x).
    annotate
        Write the value in each cell (default: when the grid has at most 12 x 12 cells).
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with a mesh (a QuadMesh collection) and a colour bar; the best cell is
        outlined.
    """
    da = kpi.mean("replicate") if "replicate" in kpi.dims else kpi
    if da.ndim != 2:
        raise ValueError(f"response_heatmap needs a KPI over two parameters; got dims {da.dims}")
    dims = [str(d) for d in da.dims]
    y = y or dims[0]
    x = x or next(d for d in dims if d != y)
    if {x, y} != set(dims):
        raise ValueError(f"response_heatmap: x={x!r}, y={y!r} must be the dims {dims}")
    da = da.transpose(y, x)
    z = np.asarray(da.values, float)
    xs, ys = da[x].values, da[y].values
    units = str(kpi.attrs.get("units", ""))
    name = str(kpi.attrs.get("long_name", kpi.name or "KPI"))
    money = units not in ("", "1", "hours") and not units.endswith("hours")
    big = np.nanmax(np.abs(z)) >= 1e4 if np.isfinite(z).any() else False
    hib = bool(kpi.attrs.get("higher_is_better", 1))
    if annotate is None:
        annotate = z.shape[0] <= 12 and z.shape[1] <= 12
    with styled():
        fig, ax = new_figure(title or f"{name} over {_axis_label(da, y)} and {_axis_label(da, x)}",
                             figsize=(10.5, 7))  # fmt: skip
        mesh = ax.pcolormesh(np.arange(len(xs) + 1), np.arange(len(ys) + 1), z,
                             cmap="viridis" if hib else "viridis_r", shading="flat")  # fmt: skip
        cb = fig.colorbar(mesh, ax=ax, pad=0.02)
        cb.set_label(f"{name} ({units})" if units not in ("", "1") else name)
        if big:
            cb.formatter = CompactFormatter()
            cb.update_ticks()
        ax.set_xticks(np.arange(len(xs)) + 0.5, [_tick(v) for v in xs])
        ax.set_yticks(np.arange(len(ys)) + 0.5, [_tick(v) for v in ys])
        if len(xs) > 8:
            ax.tick_params(axis="x", labelrotation=45)
        ax.set_xlabel(_axis_label(da, x))
        ax.set_ylabel(_axis_label(da, y))
        ax.grid(False)
        for sp in ax.spines.values():
            sp.set_visible(False)
        if annotate and np.isfinite(z).any():
            lo, hi = np.nanmin(z), np.nanmax(z)
            for i in range(z.shape[0]):
                for j in range(z.shape[1]):
                    if not np.isfinite(z[i, j]):
                        continue
                    frac = (z[i, j] - lo) / (hi - lo) if hi > lo else 0.5
                    light = frac < 0.55 if hib else frac > 0.45
                    text = compact(z[i, j]) if big or money else f"{z[i, j]:.3g}"
                    ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=10,
                            color="white" if light else "#111111")  # fmt: skip
        if np.isfinite(z).any():
            bi, bj = np.unravel_index(np.nanargmax(z) if hib else np.nanargmin(z), z.shape)
            ax.add_patch(Rectangle((float(bj), float(bi)), 1, 1, fill=False, ec=RED, lw=2.5))
            ax.set_title(f"best cell outlined: {_axis_label(da, y)} = {_tick(ys[bi])}, "
                         f"{_axis_label(da, x)} = {_tick(xs[bj])}")  # fmt: skip

    return fig


def _axis_label(da: xr.DataArray, dim: str) -> str:
    c = da[dim]
    name = str(c.attrs.get("long_name", dim)).replace("_", " ")
    u = c.attrs.get("units")
    return f"{name} ({u})" if u and u != "1" else name


def _tick(v: object) -> str:
    if isinstance(v, float | np.floating):
        return compact(float(v)) if abs(float(v)) >= 1e4 else f"{float(v):g}"
    return str(v)
