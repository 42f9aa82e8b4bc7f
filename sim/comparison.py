"""Paired scenario comparison with common random numbers, and the no-promotion counterfactual.

Scenarios run with the same seed draw the same random numbers for the same
shopper decisions, so replicate r of plan A and replicate r of plan B differ
only by the plan: the paired difference has a much smaller variance than the
difference of independent runs. The variance reduction is reported as
(Var A + Var B) / Var(A - B): the first is what independent seeds would give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from pydantic import BaseModel
from scipy import stats

from sim.metrics import KPIS, kpis, relative_half_width
from sim.plan import for_shoppers
from sim.results import to_dataset
from sim.runner import Interrupted, Progress, ScenarioLike, _Executor, as_plan, precision_step
from sim.scenario import Scenario

PAIR_BLOCK = 8
"""Replicates each plan runs before the next plan's turn (an interrupted comparison keeps
the replicates every plan has finished)."""
PAIRED_STATS = ("mean", "diff", "diff_low", "diff_high", "rel_diff", "p_value", "var_reduction")


def counterfactual(s: Scenario) -> Scenario:
    """The same scenario with every promotion and every marketing channel switched off.

    Used for incremental ROI: run with the same seed, the difference to the plan
    is the plan's effect, replicate by replicate.
    """
    promos: dict[str, Any] = {}
    for name in type(s.promotions).model_fields:
        v = getattr(s.promotions, name)
        if isinstance(v, tuple):
            promos[name] = tuple(_off(x) for x in v)
        elif v is not None:
            promos[name] = _off(v)
    return s.model_copy(
        update={
            "promotions": s.promotions.model_copy(update=promos),
            "marketing": s.marketing.model_copy(update={"channels": ()}),
        }
    )


def _off(m: Any) -> Any:
    if isinstance(m, BaseModel) and "enabled" in type(m).model_fields:
        return m.model_copy(update={"enabled": False})
    return m


def compare(
    *scenarios: ScenarioLike,
    replicates: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    shoppers: int | None = None,
    precision: float | None = None,
    kpi: str = "gmv",
    max_replicates: int = 200,
    names: Sequence[str] | None = None,
    client: Any = None,
    progress: Progress | None = None,
) -> xr.Dataset:
    """Run scenarios with the same seed and compare them replicate by replicate.

    The first scenario is the reference. Returns a Dataset with every KPI per
    (scenario, replicate) and ``paired`` (scenario, kpi, stat): the mean, the paired
    difference to the reference with its 95% confidence interval, the relative
    difference, the paired t-test p-value and the variance reduction against
    independent seeds. ``precision`` adds replicates (to every scenario, keeping
    them paired) until the 95% half-width of each scenario's mean ``kpi`` is
    within that fraction of it, up to ``max_replicates``.
    """
    if len(scenarios) < 2:
        raise ValueError("compare needs at least two scenarios")
    plans = [for_shoppers(as_plan(s), shoppers) for s in scenarios]
    seed = plans[0].seed if seed is None else int(seed)
    n0 = replicates or plans[0].scenario.campaign.replicates
    ids = list(range(n0))
    labels = list(names) if names else _labels(plans)
    done: list[dict[int, dict[str, Any]]] = [{} for _ in plans]  # per plan, by replicate

    def stacked(common: list[int]) -> tuple[list[xr.Dataset], xr.Dataset]:
        ks = [
            kpis(to_dataset(p, [d[r] for r in common], common, seed, shoppers or p.shoppers))
            for p, d in zip(plans, done, strict=True)
        ]
        out = stack_kpis(ks, labels)
        out["paired"] = paired(out)
        currency = plans[0].scenario.campaign.currency
        out.attrs.update({"seed": seed, "reference": labels[0], "kpi": kpi, "currency": currency})
        return ks, out

    with _Executor(workers, client) as ex:
        new = ids
        current = 0
        try:
            while True:
                planned = len(ids) * len(plans)
                # the plans take turns by blocks of replicates: an interrupted comparison
                # then has paired replicates to keep (results do not depend on the order)
                for k in range(0, len(new), PAIR_BLOCK):
                    block = new[k : k + PAIR_BLOCK]
                    for current, p in enumerate(plans):
                        done0 = sum(len(d) for d in done)
                        res = ex.map(p, block, seed, shoppers, "cohort", progress, planned, done0)
                        done[current].update(zip(block, res, strict=True))
                ks, out = stacked(ids)
                if precision is None:
                    break
                rel = [relative_half_width(k[kpi]) for k in ks]
                usable = min(int(np.isfinite(k[kpi].values).sum()) for k in ks)
                met, step = precision_step(rel, precision, len(ids), max_replicates, usable)
                new = list(range(ids[-1] + 1, ids[-1] + 1 + step))
                if not new:
                    break
                ids += new
        except KeyboardInterrupt:
            # keep the replicates every plan has finished: they are paired
            done[current].update(ex.finished)
            common = sorted(set.intersection(*(set(d) for d in done)))
            partial = stacked(common)[1] if len(common) >= 2 else None
            if partial is not None:
                partial.attrs["complete"] = 0
            raise Interrupted(partial, len(ids) * len(plans)) from None
    if precision is not None:
        out.attrs["precision_target"] = float(precision)
        out.attrs["precision_reached"] = float(max(rel))
        out.attrs["precision_met"] = int(met)
    return out


def _labels(plans: Sequence[Any]) -> list[str]:
    labels = [p.scenario.campaign.name for p in plans]
    if len(set(labels)) < len(labels):
        labels = [f"{k + 1}: {n}" for k, n in enumerate(labels)]
    return labels


def stack_kpis(ks: list[xr.Dataset], labels: list[str]) -> xr.Dataset:
    """KPIs per replicate of several scenarios along a ``scenario`` dimension; a KPI one
    scenario lacks is 0 for a subsidy (the mechanism is off), else NaN."""
    names = [n for n in ks[0].data_vars]
    for k in ks[1:]:
        names += [n for n in k.data_vars if n not in names]
    filled = []
    for k in ks:
        k = k.copy()
        for n in names:
            if n not in k:
                template = next(x[n] for x in ks if n in x)
                fill = 0.0 if str(n).startswith("subsidy_") else np.nan
                k[n] = xr.full_like(k["gmv"], fill).assign_attrs(template.attrs)
        filled.append(k[names])
    # join="outer": scenarios with different replicates keep them all (NaN where one has
    # none), as xarray did by default before its default changes to "exact"
    out = xr.concat(filled, dim="scenario", join="outer", combine_attrs="drop_conflicts")
    return out.assign_coords(scenario=labels)


def paired(cmp: xr.Dataset) -> xr.DataArray:
    """Paired statistics of every KPI against the first scenario: (scenario, kpi, stat)."""
    kpi_names = [n for n in cmp.data_vars if n != "paired"]
    S = cmp.sizes["scenario"]
    table = np.full((S, len(kpi_names), len(PAIRED_STATS)), np.nan)
    for j, name in enumerate(kpi_names):
        x = np.asarray(cmp[name].values, float)  # [scenario, replicate]
        ref = x[0]
        for i in range(S):
            a = x[i]
            own = np.isfinite(a)
            ok = own & np.isfinite(ref)
            n = int(ok.sum())
            # the scenario's own mean (all its replicates with a value, so a reference
            # without one does not hide it); the differences are over the pairs
            table[i, j, 0] = a[own].mean() if own.any() else np.nan
            if i == 0 or n < 2:
                continue
            d = a[ok] - ref[ok]
            sd = d.std(ddof=1)
            half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
            table[i, j, 1] = d.mean()
            table[i, j, 2] = d.mean() - half
            table[i, j, 3] = d.mean() + half
            # relative to the reference's size: an improvement on a negative reference
            # (a loss made smaller) is positive
            level = abs(ref[ok].mean())
            table[i, j, 4] = d.mean() / level if level else np.nan
            if sd > 0:
                table[i, j, 5] = 2 * stats.t.sf(abs(d.mean()) / (sd / np.sqrt(n)), n - 1)
            elif d.mean() != 0:
                table[i, j, 5] = 0.0
            indep = a[ok].var(ddof=1) + ref[ok].var(ddof=1)
            # the difference has no spread: CRN removed all of it (inf), unless neither
            # scenario had any spread to remove (both constant: nothing to say, NaN)
            table[i, j, 6] = indep / sd**2 if sd > 0 else (np.inf if indep > 0 else np.nan)
    return xr.DataArray(
        table,
        dims=("scenario", "kpi", "stat"),
        coords={"scenario": cmp["scenario"].values, "kpi": kpi_names, "stat": list(PAIRED_STATS)},
        attrs={"long_name": "Paired comparison against the first scenario (95% intervals)"},
    )


def best(cmp: xr.Dataset, by: str = "profit") -> str | None:
    """The scenario with the best mean of a KPI (highest, or lowest for costs); None if
    the KPI is undefined for every scenario."""
    m = cmp[by].mean("replicate")
    k = KPIS.get(by)
    good = bool(cmp[by].attrs.get("higher_is_better", k.higher_is_better if k else True))
    v = np.asarray(m.values, float)
    if not np.isfinite(v).any():
        return None
    v = np.where(np.isfinite(v), v, -np.inf if good else np.inf)
    return str(m["scenario"].values[int(np.argmax(v) if good else np.argmin(v))])
