"""Rich tables of Monte Carlo KPIs and paired comparisons (for the command line)."""

from __future__ import annotations

import tomllib
from typing import Any

import numpy as np
import xarray as xr
from rich.console import Console
from rich.markup import escape

from sim.summary import _table, money


def unit_of(attrs: dict) -> str:
    """The unit a KPI is shown in: '%' for shares (``display="percent"``), else its units."""
    return "%" if attrs.get("display") == "percent" else str(attrs.get("units", ""))


def fmt(value: float, units: str, currency: str = "") -> str:
    """A KPI value for a table: money compact, shares ('%') as percentages, ratios with
    two decimals, hours, counts with commas or compact."""
    if not np.isfinite(value):
        return "-"
    if units == currency and currency:
        return money(value)
    if units == "%":
        return f"{value:.1%}"
    if units == "1" and abs(value) < 100:
        return f"{value:.2f}"
    if units in ("hours",):
        return f"{value:.1f} h"
    if abs(value) >= 1e6:
        return money(value)
    if abs(value) < 100 and value != round(value):  # a mean of few: 2.4 site-hours, not 2
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def diff_fmt(x: float, units: str, cur: str, ref: float, signed: bool = False) -> str:
    """A difference of a KPI: shares ('%') in percentage points, ratios (ROI) as numbers,
    money and counts compact; ``signed`` puts + in front of increases. ``ref`` is the
    KPI's own level."""
    if not np.isfinite(x):
        return "-"
    if units == "%":  # a share: +1.2 pp, not +1.2%
        text = f"{x * 100:.1f} pp"
    elif units == "1" and abs(ref) < 1000:  # a ratio such as ROI
        text = f"{x:.3g}"
    elif units in ("1", "orders"):
        text = money(x) if abs(x) >= 1e4 else fmt(x, "", cur)
    else:
        text = fmt(x, units, cur)
    return "+" + text if signed and x > 0 and not text.startswith("+") else text


def vr_fmt(vr: float) -> str:
    """A variance reduction: 1,063x; below 10 with two digits, so that 0.5x (common random
    numbers made the difference noisier) does not read as 1x; 'exact' when the paired
    difference had no spread at all."""
    if not np.isfinite(vr):
        return "exact" if vr > 0 else "-"
    return f"{vr:,.0f}x" if vr >= 10 else f"{vr:.2g}x"


def _targets(attrs: dict) -> dict[str, float]:
    """KPI name -> target value, from the scenario in the results' attrs."""
    try:
        t = tomllib.loads(attrs["scenario_toml"])["campaign"].get("targets", {})
    except (KeyError, tomllib.TOMLDecodeError):
        return {}
    out = {
        k: float(t[k])
        for k in ("gmv", "aov", "roi", "fulfilment_rate", "repurchase_rate")
        if k in t
    }
    if "new_shoppers" in t:
        out["new_shoppers"] = float(t["new_shoppers"])
    if "conversion" in t:
        out["conversion"] = float(t["conversion"])
    return out


def render_kpis(summary: xr.Dataset, console: Console, title: str | None = None) -> None:
    """The KPI table: mean, 95% CI of the mean, P10 / P50 / P90, target."""
    cur = summary.attrs.get("currency", "")
    n = int(summary["gmv"].sel(stat="n")) if "gmv" in summary else 0
    t = _table(
        title or f"{summary.attrs.get('scenario_name', '')}: {n} replicates ({cur})",
        "KPI", "mean#", "95% CI of the mean#", "P10#", "P50#", "P90#", "target#",
    )  # fmt: skip
    for c in t.columns:
        c.no_wrap = True
    targets = _targets(summary.attrs)
    for name, v in summary.data_vars.items():
        s = {k: float(v.sel(stat=k)) for k in ("mean", "ci_low", "ci_high", "p10", "p50", "p90")}
        if not np.isfinite(s["mean"]):
            continue
        u = unit_of(v.attrs)
        if name == "target_reached":
            ci = f"{s['ci_low']:.0%} to {s['ci_high']:.0%}"  # exact (Clopper-Pearson)
            t.add_row("P(GMV target reached)", f"{s['mean']:.0%}", ci, "", "", "", "")
            continue
        ci = f"{fmt(s['ci_low'], u, cur)} to {fmt(s['ci_high'], u, cur)}"
        tgt = fmt(targets[name], u, cur) if name in targets else ""
        t.add_row(
            v.attrs.get("long_name", name), fmt(s["mean"], u, cur), ci,
            fmt(s["p10"], u, cur), fmt(s["p50"], u, cur), fmt(s["p90"], u, cur), tgt,
        )  # fmt: skip
    console.print(t)


def render_comparison(cmp: xr.Dataset, console: Console, best_by: str = "profit") -> None:
    """The paired table: one block per scenario against the reference, significance marked."""
    from sim.comparison import best

    p = cmp["paired"]
    cur = cmp.attrs.get("currency", "")
    winner = best(cmp, best_by) if best_by in cmp else None
    ref = str(cmp["scenario"].values[0])
    n = cmp.sizes["replicate"]
    for i, scen in enumerate(cmp["scenario"].values):
        mark = "  (best)" if scen == winner else ""
        scen_ = escape(str(scen))
        if i == 0:
            title = f"reference: {scen_}{mark}"
            t = _table(title, "KPI", "mean#")
            for k in ("gmv", "profit", "roi", "orders", "subsidy", "fulfilment_rate"):
                if k in p["kpi"]:
                    u = unit_of(cmp[k].attrs)
                    t.add_row(
                        cmp[k].attrs.get("long_name", k),
                        fmt(float(p.sel(scenario=scen, kpi=k, stat="mean")), u, cur),
                    )
            console.print(t)
            continue
        t = _table(
            f"{scen_} vs {escape(ref)} ({n} paired replicates){mark}",
            "KPI", "mean#", "difference#", "95% CI#", "relative#", "p#", "CRN variance reduction#",
        )  # fmt: skip
        for k in p["kpi"].values:
            row = {s: float(p.sel(scenario=scen, kpi=k, stat=s)) for s in p["stat"].values}
            if not np.isfinite(row["mean"]) or (
                k.startswith(("subsidy_", "gmv_")) and row["diff"] == 0
            ):
                continue
            u = unit_of(cmp[k].attrs)
            sig = row["p_value"] < 0.05 if np.isfinite(row["p_value"]) else False
            star = " *" if sig else ""
            vr = row["var_reduction"]
            ref_mean = float(p.sel(scenario=ref, kpi=k, stat="mean"))
            t.add_row(
                cmp[k].attrs.get("long_name", k), fmt(row["mean"], u, cur),
                diff_fmt(row["diff"], u, cur, ref_mean, signed=True) + star,
                f"{diff_fmt(row['diff_low'], u, cur, ref_mean)} to "
                f"{diff_fmt(row['diff_high'], u, cur, ref_mean)}",
                f"{row['rel_diff']:+.1%}" if np.isfinite(row["rel_diff"]) else "-",
                f"{row['p_value']:.3g}" if np.isfinite(row["p_value"]) else "-",
                vr_fmt(vr),
            )  # fmt: skip
        for c in t.columns:
            c.no_wrap = True
        console.print(t)
    console.print("  * significant at 5% (paired t-test on common random numbers)", markup=False)
    if winner is not None:
        console.print(f"  best plan by {best_by}: {winner}", markup=False)


def progress_bar(unit: str) -> Any:
    """A transient rich progress bar on stderr: description, bar, done/total ``unit``,
    elapsed time and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn(unit), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    )  # fmt: skip
