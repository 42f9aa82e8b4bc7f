"""The budget-proposal report: one self-contained HTML page from saved results.

The page holds the headline KPIs with their uncertainty (mean, 95% confidence
interval of the mean, P10-P90 over replicates), the charts (PNG embedded as
base64: no external assets), the assumptions (the scenario stored in the
results: calendar, mechanics, budget, capacity) and, when several results are
given, the paired comparison against the first, computed from the KPIs of each
replicate (common random numbers pair replicate r of every plan when the runs
share the seed).
"""

from __future__ import annotations

import datetime as dt
import html
import os
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim._version import __version__
from sim.render import diff_fmt, fmt, unit_of

HEADLINE = ("gmv", "net_revenue", "profit", "roi", "subsidy", "fulfilment_rate")
"""KPIs shown as headline cards, in order (those present)."""

CHROMIUM = "/usr/bin/chromium"


class ReportError(ValueError):
    """Bad input to the report (unreadable or foreign files, nothing to compare ...)."""


# --- input ----------------------------------------------------------------------------------
def load_results(path: str | os.PathLike[str]) -> xr.Dataset:
    """Load results saved by ``promosim run --out``; :class:`ReportError` if they are not."""
    from sim.results import load

    p = Path(path)
    if not p.is_file():
        raise ReportError(f"{p}: no such file")
    try:
        ds = load(p)
    except (OSError, ValueError, RuntimeError) as err:
        raise ReportError(f"{p}: cannot read results ({err})") from None
    if "paired" in ds or "scenario" in ds.dims:
        raise ReportError(
            f"{p}: a comparison (promosim compare --out), not one plan's results: give the "
            "results of `promosim run --out` of each plan; the report pairs them itself"
        )
    if "scenario_toml" not in ds.attrs or "gmv" not in ds or "replicate" not in ds.dims:
        raise ReportError(f"{p}: not promosim results (no scenario, gmv or replicates inside)")
    try:  # what every part of the report reads
        from sim.metrics import kpis

        _scenario(ds)
        kpis(ds)
    except (KeyError, ValueError, tomllib.TOMLDecodeError) as err:
        raise ReportError(f"{p}: incomplete promosim results ({err})") from None
    return ds


def _scenario(ds: xr.Dataset) -> Any:
    """The validated Scenario stored in the results."""
    from sim.scenario import Scenario

    return Scenario.model_validate(tomllib.loads(ds.attrs["scenario_toml"]))


def labels_for(datasets: Sequence[xr.Dataset], names: Sequence[str] | None = None) -> list[str]:
    """Scenario labels: the given names, else the scenario names (numbered if repeated)."""
    if names is not None:
        out = [str(n) for n in names]
    else:
        out = [
            str(ds.attrs.get("scenario_name", f"results {i + 1}")) for i, ds in enumerate(datasets)
        ]
    if len(set(out)) < len(out):
        out = [f"{i + 1}: {n}" for i, n in enumerate(out)]
    return out


def comparison(
    datasets: Sequence[xr.Dataset], labels: Sequence[str]
) -> tuple[xr.Dataset, list[str]]:
    """Paired comparison of saved results against the first, from per-replicate KPIs.

    Replicates are paired by number; only replicates present in every file are used.
    Returns the comparison (like :func:`sim.comparison.compare`) and warnings: results
    run with different seeds are not paired by common random numbers (the intervals
    are then those of a paired test on independent draws: valid, but wider than
    needed), and differing replicate sets are cut to the common ones.
    """
    from sim.comparison import paired, stack_kpis
    from sim.metrics import kpis

    warnings: list[str] = []
    seeds = [ds.attrs.get("seed") for ds in datasets]
    if len(set(map(str, seeds))) > 1:
        warnings.append(
            "the results were not run with the same seed ("
            + ", ".join(f"{lab}: {s}" for lab, s in zip(labels, seeds, strict=True))
            + "): replicates are not paired by common random numbers, so the differences "
            "are less precise than a paired comparison would give; rerun with one --seed"
        )
    reps = [set(int(r) for r in ds["replicate"].values) for ds in datasets]
    common = sorted(set.intersection(*reps))
    if not common:
        raise ReportError("the results share no replicate numbers: nothing can be paired")
    if any(r != reps[0] for r in reps):
        warnings.append(
            "the results were not run with the same replicates ("
            + ", ".join(f"{lab}: {len(r)}" for lab, r in zip(labels, reps, strict=True))
            + f"); the comparison uses the {len(common)} replicates common to all"
        )
    ks = [kpis(ds.sel(replicate=common)) for ds in datasets]
    cmp = stack_kpis(ks, list(labels))
    cmp["paired"] = paired(cmp)
    cmp.attrs.update(
        {
            "reference": labels[0],
            "currency": datasets[0].attrs.get("currency", ""),
            "seed": str(seeds[0]),
        }
    )
    return cmp, warnings


# --- HTML pieces ------------------------------------------------------------------------------
def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _table(head: Sequence[str], rows: Iterable[Sequence[object]], num: Iterable[int] = ()) -> str:
    """An HTML table; columns in ``num`` are right-aligned numbers."""
    right = set(num)
    cls = ["num" if i in right else "" for i in range(len(head))]
    th = "".join(f'<th class="{c}">{_e(h)}</th>' for h, c in zip(head, cls, strict=True))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{c}">{_e(v)}</td>' for v, c in zip(r, cls, strict=True))
        + "</tr>"
        for r in rows
    )
    thead = f"<thead><tr>{th}</tr></thead>" if any(head) else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _stats(v: xr.DataArray) -> dict[str, float]:
    return {
        s: float(v.sel(stat=s)) for s in ("mean", "ci_low", "ci_high", "p10", "p50", "p90", "n")
    }


def _targets(ds: xr.Dataset) -> dict[str, float]:
    from sim.render import _targets as targets

    return targets(ds.attrs)


def headline_html(ds: xr.Dataset) -> str:
    """Headline cards and the full KPI table (mean, 95% CI, P10/P50/P90, target)."""
    from sim.metrics import kpis, summarize

    summ = summarize(kpis(ds))
    cur = str(ds.attrs.get("currency", ""))
    targets = _targets(ds)
    cards = []
    if "target_reached" in summ and np.isfinite(float(summ["target_reached"].sel(stat="mean"))):
        p = float(summ["target_reached"].sel(stat="mean"))
        lo, hi = (float(summ["target_reached"].sel(stat=q)) for q in ("ci_low", "ci_high"))
        t = targets.get("gmv")
        cards.append(
            f'<div class="card {"good" if p >= 0.5 else "warn"}"><div class="k">P(GMV target '
            f'reached)</div><div class="v">{p:.0%}</div><div class="s">target '
            f"{_e(fmt(t, cur, cur) if t else '-')} {_e(cur)}; share of replicates at or above it "
            f"(95% CI {lo:.0%} to {hi:.0%})</div></div>"
        )
    for name in HEADLINE:
        if name not in summ:
            continue
        s = _stats(summ[name])
        if not np.isfinite(s["mean"]):
            continue
        u = unit_of(summ[name].attrs)
        unit = f" {cur}" if u == cur and cur else ""
        tgt = (
            f'<div class="s">target {_e(fmt(targets[name], u, cur))}{_e(unit)}</div>'
            if name in targets
            else ""
        )
        cards.append(
            f'<div class="card"><div class="k">{_e(summ[name].attrs.get("long_name", name))}</div>'
            f'<div class="v">{_e(fmt(s["mean"], u, cur))}<small>{_e(unit)}</small></div>'
            f'<div class="s">95% CI {_e(fmt(s["ci_low"], u, cur))} to '
            f"{_e(fmt(s['ci_high'], u, cur))}</div>"
            f'<div class="s">P10-P90 {_e(fmt(s["p10"], u, cur))} to '
            f"{_e(fmt(s['p90'], u, cur))}</div>{tgt}</div>"
        )
    rows = []
    for key, v in summ.data_vars.items():
        name = str(key)
        s = _stats(v)
        if not np.isfinite(s["mean"]) or name == "target_reached":
            continue
        u = unit_of(v.attrs)
        rows.append(
            (
                v.attrs.get("long_name", name),
                cur if u == cur else ("" if u == "1" else u),
                fmt(s["mean"], u, cur),
                f"{fmt(s['ci_low'], u, cur)} to {fmt(s['ci_high'], u, cur)}",
                fmt(s["p10"], u, cur),
                fmt(s["p50"], u, cur),
                fmt(s["p90"], u, cur),
                fmt(targets[str(name)], u, cur) if name in targets else "",
            )
        )
    n = int(ds.sizes["replicate"])
    table = _table(
        ("KPI", "units", "mean", "95% CI of the mean", "P10", "P50", "P90", "target"),
        rows,
        num=range(2, 8),
    )
    return (
        f'<div class="cards">{"".join(cards)}</div>'
        f"<details><summary>All KPIs ({n} replicates)</summary>{table}</details>"
    )


def _figure(fig: Any, caption: str, fid: str) -> str:
    from sim.plots import to_data_uri

    uri = to_data_uri(fig, dpi=110)
    return (
        f'<figure id="{_e(fid)}"><img src="{uri}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


CAPTIONS = {
    "gmv_fan": "Cumulative GMV by day: median of the replicates, P10-P90 band, and the target.",
    "kpi_distributions": "Profit and ROI over replicates, and the probability of reaching the "
    "GMV target.",
    "subsidy_waterfall": "From GMV to net revenue: the discount booked to each mechanism, refunds, "
    "forfeited deposits; non-price promotion costs after (means over replicates).",
    "capacity": "Around the peak day: orders arriving at the warehouses each hour against the "
    "picking capacity on duty (all sites), and the backlog waiting to be picked.",
    "delivery": "Hours from order to door (all regions) and the share delivered within the "
    "promise, by region.",
    "promise": "Around the peak day: the delivery time quoted at checkout against the one the "
    "orders of each hour got (all regions).",
}


def charts_html(ds: xr.Dataset) -> str:
    """Every applicable chart of the results, embedded as PNG."""
    from sim.plots.render import charts

    return "".join(
        _figure(fig, CAPTIONS.get(name, name), f"chart-{name}") for name, fig in charts(ds).items()
    )


def assumptions_html(ds: xr.Dataset) -> str:
    """The scenario as a reader checks it: campaign, targets, calendar, mechanics, budget,
    capacity."""
    from sim.summary import daily_capacity, mechanics_rows, money, target_rows

    s = _scenario(ds)
    c = s.campaign
    cur = c.currency
    pop = s.population
    head = [
        ("campaign", c.name),
        ("period", f"{c.start:%d %b %Y %H:%M} to {c.end:%d %b %Y %H:%M} ({c.timezone})"),
        (
            "shoppers",
            f"{pop.shoppers * pop.scale:,.0f} real shoppers "
            f"({ds.attrs.get('shoppers_simulated', pop.shoppers):,} simulated)",
        ),
        ("segments", ", ".join(f"{g.name} {g.share:.0%}" for g in pop.segments)),
        ("regions", ", ".join(f"{r.name} {r.share:.0%}" for r in pop.regions)),
        ("seed / replicates", f"{ds.attrs.get('seed', c.seed)} / {ds.sizes['replicate']}"),
        ("scenario hash", str(ds.attrs.get("scenario_hash", ""))[:16]),
    ]
    if c.description:
        head.insert(1, ("description", c.description))
    targets = [(name.replace("_", " "), value) for name, value in target_rows(c.targets, cur)]
    cal = [
        (
            ph.name,
            ph.kind,
            f"{ph.start:%d %b %H:%M}",
            f"{ph.end:%d %b %H:%M}",
            f"{(ph.end - ph.start).total_seconds() / 86400:g}",
            f"x{ph.traffic:g}",
        )
        for ph in s.calendar.phases
    ]
    mech = [(r[0], r[2]) for r in mechanics_rows(s) if r[1] == "on"]
    off = [r[0] for r in mechanics_rows(s) if r[1] != "on"]
    mk = s.marketing
    budget = [(k, f"{v:.0%}", money(mk.budget * v, cur)) for k, v in mk.split.model_dump().items()]
    channels = [
        (ch.name, ch.kind, money(ch.spend, cur), f"x{ch.lift:g}", ", ".join(ch.segments) or "all")
        for ch in mk.channels
    ]
    f = s.fulfilment
    cap = [
        (name, site.region, money(regular), money(surge) if surge else "-", money(storage))
        for (name, regular, surge, storage), site in zip(daily_capacity(s), f.sites, strict=True)
    ]
    couriers = [
        (
            cr.region,
            f"{cr.count:,}",
            f"{cr.parcels_per_day:g}",
            money(cr.count * cr.parcels_per_day),
        )
        for cr in f.couriers
    ]
    parts = [
        "<h3>Campaign</h3>" + _table(("", ""), head),
        "<h3>Targets</h3>" + (_table(("target", "value"), targets) if targets else "<p>none</p>"),
        "<h3>Calendar</h3>"
        + _table(("phase", "kind", "from", "to", "days", "traffic"), cal, num=(4, 5)),
        "<h3>Mechanics</h3>"
        + _table(("mechanism (on)", "what"), mech)
        + (f'<p class="note">Off: {_e(", ".join(off))}.</p>' if off else ""),
        f"<h3>Budget: {_e(money(mk.budget, cur))}</h3>"
        + _table(("line", "share", "amount"), budget, num=(1, 2))
        + (
            _table(("channel", "kind", "spend", "lift", "segments"), channels, num=(2, 3))
            if channels
            else ""
        ),
    ]
    if f.sites:
        parts.append(
            f"<h3>Capacity (delivery promise {f.promise_hours:g} h)</h3>"
            + _table(
                ("site", "region", "picks/day", "surge picks/day (max)", "storage (orders)"),
                cap,
                num=(2, 3, 4),
            )
            + (
                _table(
                    ("courier region", "couriers", "parcels/courier/day", "parcels/day"),
                    couriers,
                    num=(1, 2, 3),
                )
                if couriers
                else ""
            )
        )
    return "".join(parts)


def scenario_diff(a: xr.Dataset, b: xr.Dataset, limit: int = 40) -> list[tuple[str, str, str]]:
    """(key, value in a, value in b) of every scenario setting that differs, flattened."""
    fa = _flat(tomllib.loads(a.attrs["scenario_toml"]))
    fb = _flat(tomllib.loads(b.attrs["scenario_toml"]))
    out = []
    for k in sorted(set(fa) | set(fb)):
        if k.startswith("campaign.name") or k.startswith("campaign.description"):
            continue
        va, vb = fa.get(k, "-"), fb.get(k, "-")
        if va != vb:
            out.append((k, va, vb))
    return out[:limit]


def _flat(d: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, list) and d and all(isinstance(x, dict) for x in d):
        for i, x in enumerate(d):
            key = x.get("name", x.get("region", x.get("site", i)))
            out.update(_flat(x, f"{prefix}[{key}]"))
    else:
        out[prefix] = str(d)
    return out


def comparison_html(
    datasets: Sequence[xr.Dataset], labels: Sequence[str], cmp: xr.Dataset, warnings: list[str]
) -> str:
    """Warnings, the paired chart and table per scenario, and what each plan changes."""
    from sim.plots import comparison_chart
    from sim.plots.compare import DEFAULT_KPIS

    cur = str(cmp.attrs.get("currency", ""))
    p = cmp["paired"]
    ref = labels[0]
    n = int(cmp.sizes["replicate"])
    parts = [f'<div class="warn-box"><b>Warning:</b> {_e(w)}.</div>' for w in warnings]
    parts.append(
        f"<p>Each plan against <b>{_e(ref)}</b>, replicate by replicate ({n} paired replicates). "
        "Differences with 95% confidence intervals; * marks p &lt; 0.05 (paired t-test).</p>"
    )
    parts.append(
        _figure(
            comparison_chart(cmp),
            "Paired differences against the reference, "
            "relative to its mean; filled markers are significant.",
            "chart-comparison",
        )
    )
    names = [k for k in DEFAULT_KPIS if k in p["kpi"].values]
    names += [str(k) for k in p["kpi"].values if str(k).startswith("subsidy_") and k not in names]
    for i, scen in enumerate(labels[1:], start=1):
        rows = []
        for k in names:
            st = {s: float(p.sel(scenario=scen, kpi=k, stat=s)) for s in p["stat"].values}
            if not np.isfinite(st["mean"]):
                continue
            if k.startswith("subsidy_") and st["diff"] == 0:
                continue
            u = unit_of(cmp[k].attrs)
            sig = np.isfinite(st["p_value"]) and st["p_value"] < 0.05
            ref_mean = float(p.sel(scenario=ref, kpi=k, stat="mean"))
            diff = diff_fmt(st["diff"], u, cur, ref_mean, signed=True)
            rows.append(
                (
                    cmp[k].attrs.get("long_name", k),
                    fmt(ref_mean, u, cur),
                    fmt(st["mean"], u, cur),
                    diff + (" *" if sig else ""),
                    f"{diff_fmt(st['diff_low'], u, cur, ref_mean)} to "
                    f"{diff_fmt(st['diff_high'], u, cur, ref_mean)}",
                    f"{st['rel_diff']:+.1%}" if np.isfinite(st["rel_diff"]) else "-",
                    f"{st['p_value']:.3g}" if np.isfinite(st["p_value"]) else "-",
                )
            )
        parts.append(f"<h3>{_e(scen)} vs {_e(ref)}</h3>")
        parts.append(
            _table(
                ("KPI", ref, scen, "difference", "95% CI", "relative", "p"), rows, num=range(1, 7)
            )
        )
        diff_rows = scenario_diff(datasets[0], datasets[i])
        if diff_rows:
            parts.append(
                "<details><summary>What this plan changes</summary>"
                + _table(("setting", ref, scen), diff_rows)
                + "</details>"
            )
    return "".join(parts)


CSS = """
body{font-family:"Helvetica Neue",Arial,"Noto Sans CJK SC","Noto Sans",sans-serif;color:#222;
 max-width:1180px;margin:0 auto;padding:24px 32px 64px;line-height:1.45;background:#fff}
h1{font-size:30px;margin:0 0 4px} h2{font-size:22px;margin:40px 0 12px;padding-bottom:6px;
 border-bottom:2px solid #0072B2} h3{font-size:17px;margin:22px 0 8px}
.meta{color:#555;font-size:14px;margin-bottom:8px} .note{color:#555;font-size:13px}
nav{font-size:14px;margin:12px 0 0} nav a{margin-right:16px;color:#0072B2;text-decoration:none}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px}
.card{border:1px solid #ddd;border-radius:8px;padding:12px 14px;background:#fafafa}
.card .k{font-size:13px;color:#555;text-transform:uppercase;letter-spacing:.03em}
.card .v{font-size:28px;font-weight:700;margin:2px 0} .card .v small{font-size:14px;color:#555;
 font-weight:400} .card .s{font-size:13px;color:#444}
.card.good{border-color:#009E73;background:#eef8f4} .card.warn{border-color:#E69F00;
 background:#fdf6e7}
table{border-collapse:collapse;margin:6px 0 12px;font-size:14px;width:100%}
th,td{padding:5px 10px;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
th{background:#f3f6f9;font-weight:600} td.num,th.num{text-align:right;
 font-variant-numeric:tabular-nums;white-space:nowrap}
figure{margin:18px 0 28px;break-inside:avoid;page-break-inside:avoid}
figure img{width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:14px;color:#555;margin-top:4px}
details{margin:10px 0} summary{cursor:pointer;color:#0072B2;font-size:15px}
.warn-box{border-left:4px solid #D55E00;background:#fdf0ea;padding:10px 14px;margin:10px 0;
 font-size:14px}
footer{margin-top:48px;font-size:12px;color:#777}
@media print{body{max-width:none;padding:0 8mm} details{display:block} details>summary{display:none}
 h2{break-after:avoid} table{break-inside:auto} tr{break-inside:avoid}}
"""


def build_report(
    datasets: Sequence[xr.Dataset],
    names: Sequence[str] | None = None,
    title: str | None = None,
) -> tuple[str, list[str]]:
    """The report as an HTML string, and the warnings it contains.

    Parameters
    ----------
    datasets
        Saved results (:func:`sim.results.load`); the first is the reference plan:
        its KPIs, charts and assumptions are shown, and the others are compared to it.
    names
        Labels of the plans (default: the scenario names).
    title
        Page title (default: "Budget proposal: <first scenario>").
    """
    if not datasets:
        raise ReportError("no results given")
    labels = labels_for(datasets, names)
    ds = datasets[0]
    title = title or f"Budget proposal: {labels[0]}"
    cmp_html = ""
    warnings: list[str] = []
    if len(datasets) > 1:
        cmp, warnings = comparison(datasets, labels)
        cmp_html = comparison_html(datasets, labels, cmp, warnings)
    if not ds.attrs.get("complete", 1):
        warnings.insert(0, "the reference results are partial (the run was interrupted)")
    n = int(ds.sizes["replicate"])
    meta = (
        f"{n} Monte Carlo replicates of {int(ds.attrs.get('shoppers_simulated', 0)):,} simulated "
        f"shoppers; seed {ds.attrs.get('seed', '-')}; money in {ds.attrs.get('currency', '')}; "
        f"promosim {ds.attrs.get('promosim_version', __version__)}; generated "
        f"{dt.datetime.now():%Y-%m-%d %H:%M}"
    )
    sections = [
        ("headline", "Headline KPIs", headline_html(ds)),
        ("charts", "Charts", charts_html(ds)),
        ("assumptions", "Assumptions", assumptions_html(ds)),
    ]
    if cmp_html:
        sections.insert(1, ("comparison", f"Comparison against {labels[0]}", cmp_html))
    nav = "".join(f'<a href="#{sid}">{_e(h)}</a>' for sid, h, _ in sections)
    body = "".join(
        f'<section id="{sid}"><h2>{_e(h)}</h2>{content}</section>' for sid, h, content in sections
    )
    partial = (
        '<div class="warn-box"><b>Warning:</b> partial results: the run was interrupted.</div>'
        if not ds.attrs.get("complete", 1)
        else ""
    )
    page = (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body>"
        f'<header><h1>{_e(title)}</h1><div class="meta">{_e(meta)}</div>'
        f"<nav>{nav}</nav></header>{partial}{body}"
        f"<footer>Scenario hash {_e(str(ds.attrs.get('scenario_hash', ''))[:16])}. Intervals: 95% "
        "confidence interval of the mean over replicates (Student t); P10-P90: the spread of "
        "single replicates, i.e. of the campaign outcome.</footer></body></html>\n"
    )
    return page, warnings


def html_to_pdf(html_path: Path, pdf_path: Path, chromium: str = CHROMIUM) -> None:
    """Print an HTML file to PDF with headless Chromium (written to ``pdf_path``)."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            html_path.resolve().as_uri(),
        ]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise ReportError(f"--pdf: chromium failed ({err})") from None
    if res.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = (res.stderr or "").strip().splitlines()[-3:]
        raise ReportError(f"--pdf: chromium failed (exit {res.returncode}): {' | '.join(tail)}")


def write_report(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    pdf: str | os.PathLike[str] | None = None,
    names: Sequence[str] | None = None,
    title: str | None = None,
    chromium: str = CHROMIUM,
) -> list[str]:
    """Build the report from saved results and write it (and the PDF) atomically.

    Everything is checked and built before anything is written: on a
    :class:`ReportError` no file is left behind. Returns the warnings.
    """
    out = Path(out)
    targets = [out] + ([Path(pdf)] if pdf is not None else [])
    for t in targets:
        if t.is_dir() or not t.parent.is_dir():
            raise ReportError(f"{t}: cannot write here (not a file in an existing folder)")
    if pdf is not None and shutil.which(chromium) is None:
        raise ReportError(
            f"--pdf needs Chromium at {chromium} (Debian: apt-get install chromium); "
            "or open the HTML in a browser and print it to PDF"
        )
    for t in targets:
        for p in paths:
            if t.exists() and Path(p).exists() and t.samefile(p):
                raise ReportError(f"{t}: is one of the results files; choose another --out")
    datasets = [load_results(p) for p in paths]
    page, warnings = build_report(datasets, names, title)
    tmp_html = out.with_name(f".{out.name}.{os.getpid()}.tmp.html")
    tmp_pdf = Path(pdf).with_name(f".{Path(pdf).name}.{os.getpid()}.tmp") if pdf else None
    try:
        tmp_html.write_text(page, encoding="utf-8")
        if pdf is not None and tmp_pdf is not None:
            html_to_pdf(tmp_html, tmp_pdf, chromium)
            os.replace(tmp_pdf, Path(pdf))
        os.replace(tmp_html, out)
    except OSError as err:
        raise ReportError(f"{out}: cannot write ({err.strerror or err})") from None
    finally:
        tmp_html.unlink(missing_ok=True)
        if tmp_pdf is not None:
            tmp_pdf.unlink(missing_ok=True)
    return warnings
