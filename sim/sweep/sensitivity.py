"""Sensitivity indices of a finished sweep, per KPI, with SALib.

The response at a point is the KPI's mean over the point's replicates (common
random numbers across points keep the noise from masking the effects).

``sobol`` design
    Sobol' first-order (``S1``) and total (``ST``) indices,
    :func:`SALib.analyze.sobol.analyze`.
``morris`` design
    Morris ``mu_star`` (mean absolute elementary effect), ``sigma`` (its spread:
    interactions, non-linearity) and ``mu``, :func:`SALib.analyze.morris.analyze`.
``lhs`` / ``sobol-seq`` designs
    First-order indices (``S1``) by RBD-FAST, :func:`SALib.analyze.rbd_fast.analyze`.

The result is a Dataset with ``value`` and ``conf`` (half-width of the
``conf_level`` bootstrap interval) of dims ``(kpi, parameter, index)``.
``res["value"].sel(kpi="gmv")`` (dims ``(parameter, index)``) and :func:`tornado`
(dims ``(parameter,)``, sorted) go straight into a tornado chart.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from sim.sweep.design import SweepError

INDICES = {
    "sobol": ("S1", "ST"),
    "morris": ("mu_star", "sigma", "mu"),
    "rbd_fast": ("S1",),
}
LONG = {
    "S1": "Sobol' first-order index",
    "ST": "Sobol' total index",
    "mu_star": "Morris mu* (mean |elementary effect|)",
    "sigma": "Morris sigma (spread of the elementary effects)",
    "mu": "Morris mu (mean elementary effect)",
}
DEFAULT_KPIS = ("gmv", "profit", "roi", "subsidy", "fulfilment_rate")


def _method(design: str) -> str:
    if design in ("sobol", "morris"):
        return design
    if design in ("lhs", "sobol-seq"):
        return "rbd_fast"
    raise SweepError(
        [f"sensitivity needs a sobol, morris, lhs or sobol-seq design; this sweep is a {design}"]
    )


def sensitivity(
    source: xr.Dataset | str | os.PathLike[str],
    kpis: Sequence[str] | None = None,
    *,
    conf_level: float = 0.95,
    num_resamples: int = 1000,
    seed: int | None = None,
) -> xr.Dataset:
    """Sensitivity indices of each KPI to each swept parameter.

    Parameters
    ----------
    source
        A sweep store (path) or its Dataset (:func:`sim.sweep.open_sweep`).
    kpis
        KPI names (default: those of :data:`DEFAULT_KPIS` with finite values).
    conf_level
        Level of the bootstrap confidence intervals.
    num_resamples
        Bootstrap resamples.
    seed
        Seed of the bootstrap (default: the sweep's seed).

    Returns
    -------
    xarray.Dataset
        ``value`` and ``conf`` with dims ``(kpi, parameter, index)``; ``method`` in attrs.

    Raises
    ------
    SweepError
        Not a sensitivity design, points missing or failed, unknown KPI.
    """
    from sim.sweep.store import open_sweep

    ds = source if isinstance(source, xr.Dataset) else open_sweep(source)
    spec = json.loads(ds.attrs["spec"])
    method = _method(spec["design"])
    bad = np.flatnonzero(~ds["done"].values.astype(bool) | (ds["status"].values != 1))
    if bad.size:
        show = ", ".join(str(int(i)) for i in bad[:10]) + (" ..." if bad.size > 10 else "")
        raise SweepError(
            [
                f"sensitivity needs every point: {bad.size} point(s) are not done or have no "
                f"results ({show}); finish the sweep (rerun it) or fix the ranges"
            ]
        )
    names = [str(k) for k in ds["kpi"].values]
    y_all = ds["kpis"].mean("replicate")
    if kpis is None:
        kpis = [k for k in DEFAULT_KPIS if k in names and bool(np.isfinite(y_all.sel(kpi=k)).all())]
    unknown = [k for k in kpis if k not in names]
    if unknown:
        raise SweepError(
            [f"--kpi: unknown KPI '{k}'; allowed: {', '.join(names)}" for k in unknown]
        )
    params = [str(p) for p in ds["parameter"].values]
    x = np.asarray(ds["design_sample"].values, float)
    problem = _problem(ds, params, x)
    seed = int(ds.attrs.get("seed", 0)) if seed is None else int(seed)
    # SALib's Sobol' analysis seeds its bootstrap only with a truthy seed: 0 would leave
    # it on numpy's global generator (other intervals at every call). Shifted by one,
    # every seed seeds it and distinct seeds stay distinct.
    seed += 1
    idx = INDICES[method]
    value = np.full((len(kpis), len(params), len(idx)), np.nan)
    conf = np.full_like(value, np.nan)
    for i, k in enumerate(kpis):
        y = np.asarray(y_all.sel(kpi=k).values, float)
        if not np.isfinite(y).all() or np.ptp(y) == 0:
            continue  # NaN KPI (e.g. no target) or no response at all: indices undefined
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            value[i], conf[i] = _analyze(
                method, problem, x, y, spec, conf_level, num_resamples, seed
            )
    coords = {
        "kpi": ("kpi", list(kpis)),
        "parameter": ("parameter", params),
        "index": ("index", list(idx), {"long_name": "sensitivity index"}),
        "index_long_name": ("index", [LONG[s] for s in idx]),
    }
    units = (
        dict(zip(names, ds["kpi_units"].values.tolist(), strict=True)) if "kpi_units" in ds else {}
    )
    res = xr.Dataset(
        {
            "value": (
                ("kpi", "parameter", "index"),
                value,
                {"long_name": "sensitivity index", "method": method},
            ),
            "conf": (
                ("kpi", "parameter", "index"),
                conf,
                {"long_name": f"half-width of the {conf_level:.0%} bootstrap interval"},
            ),
        },
        coords=coords,
        attrs={
            "method": method,
            "design": spec["design"],
            "conf_level": conf_level,
            "num_resamples": num_resamples,
            "points": int(ds.sizes["point"]),
            "replicates": int(ds.sizes["replicate"]),
            "kpi_units": json.dumps({k: units.get(k, "") for k in kpis}),
            "scenario_name": ds.attrs.get("scenario_name", ""),
        },
    )
    if method == "morris":
        res["value"].attrs["note"] = "mu_star, sigma, mu in the KPI's units"
    return res


def _problem(ds: xr.Dataset, params: list[str], x: np.ndarray) -> dict[str, Any]:
    if "salib_problem" in ds.attrs:
        return dict(json.loads(ds.attrs["salib_problem"]))
    lo, hi = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
    return {
        "num_vars": len(params),
        "names": params,
        "bounds": [[float(a), float(b if b > a else a + 1)] for a, b in zip(lo, hi, strict=True)],
    }


def _analyze(
    method: str,
    problem: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    spec: dict[str, Any],
    conf_level: float,
    num_resamples: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    opts = spec.get("design_options", {})
    if method == "sobol":
        from SALib.analyze import sobol

        r = sobol.analyze(
            problem,
            y,
            calc_second_order=bool(opts.get("second_order", False)),
            num_resamples=num_resamples,
            conf_level=conf_level,
            seed=seed,
        )
        return (
            np.stack([r["S1"], r["ST"]], axis=-1),
            np.stack([r["S1_conf"], r["ST_conf"]], axis=-1),
        )
    if method == "morris":
        from SALib.analyze import morris

        r = morris.analyze(
            problem,
            x,
            y,
            num_resamples=num_resamples,
            conf_level=conf_level,
            num_levels=int(opts.get("levels", 4)),
            seed=seed,
        )
        nan = np.full(len(r["mu_star"]), np.nan)
        return (
            np.stack([r["mu_star"], r["sigma"], r["mu"]], axis=-1),
            np.stack([r["mu_star_conf"], nan, nan], axis=-1),
        )
    from SALib.analyze import rbd_fast

    m = max(1, min(10, (len(y) - 1) // 4))  # harmonics: needs more points than 2M
    r = rbd_fast.analyze(
        problem, x, y, M=m, num_resamples=num_resamples, conf_level=conf_level, seed=seed
    )
    return np.asarray(r["S1"])[:, None], np.asarray(r["S1_conf"])[:, None]


def tornado(res: xr.Dataset, kpi: str | None = None, index: str | None = None) -> xr.DataArray:
    """One index of one KPI per parameter, largest first: the bars of a tornado chart.

    Parameters
    ----------
    res
        :func:`sensitivity`'s result.
    kpi
        Default: the first KPI.
    index
        Default: ``ST`` (Sobol'), ``mu_star`` (Morris) or ``S1`` (RBD-FAST).

    Returns
    -------
    xarray.DataArray
        Dims ``(parameter,)``, sorted by decreasing value; the interval half-width
        as the ``conf`` coordinate.
    """
    kpi = str(res["kpi"].values[0]) if kpi is None else kpi
    index = index or {"sobol": "ST", "morris": "mu_star"}.get(res.attrs["method"], "S1")
    v = res["value"].sel(kpi=kpi, index=index, drop=True)
    c = res["conf"].sel(kpi=kpi, index=index, drop=True)
    order = np.argsort(-np.nan_to_num(v.values, nan=-np.inf), kind="stable")
    out = v.isel(parameter=order).assign_coords(conf=("parameter", c.values[order]))
    units = json.loads(res.attrs.get("kpi_units", "{}")).get(kpi, "")
    unit = units if res.attrs["method"] == "morris" else "1"
    from sim.metrics import KPIS

    name = KPIS[kpi].long_name if kpi in KPIS else kpi
    return out.rename(f"{kpi}_{index}").assign_attrs(
        long_name=name,
        index_label=LONG.get(index, index),
        units=unit,
        kpi=kpi,
        index=index,
        method=res.attrs["method"],
    )


def render_sensitivity(res: xr.Dataset, console: Any) -> None:
    """Print one table per KPI: parameters (most influential first) x indices with intervals."""
    from rich.table import Table
    from rich.text import Text

    idx = [str(s) for s in res["index"].values]
    for kpi in res["kpi"].values.tolist():
        title = (
            f"{kpi}: {res.attrs['method']} sensitivity "
            f"({res.attrs['points']} points x {res.attrs['replicates']} replicates)"
        )
        t = Table(title=Text(title), title_justify="left")
        t.add_column("parameter")
        for s in idx:
            t.add_column(s, justify="right")
        bars = tornado(res, kpi)
        if not np.isfinite(bars.values).any():
            console.print(f"{kpi}: no response (constant or undefined); no indices", markup=False)
            continue
        for p in bars["parameter"].values.tolist():
            cells = []
            for s in idx:
                v = float(res["value"].sel(kpi=kpi, parameter=p, index=s))
                c = float(res["conf"].sel(kpi=kpi, parameter=p, index=s))
                cells.append(_num(v) + (f" ± {_num(c)}" if np.isfinite(c) else ""))
            t.add_row(Text(p), *cells)
        console.print(t)


def _num(v: float) -> str:
    if not np.isfinite(v):
        return "–"
    return f"{v:.3f}" if abs(v) < 100 else f"{v:,.4g}"
