"""Campaign KPIs per replicate, defined once, and their Monte Carlo summary.

Every KPI is a function of a results Dataset (:func:`sim.runner`) returning one value
per replicate; its formula is in its docstring. :func:`kpis` evaluates them all,
:func:`summarize` gives mean, standard deviation, P10/P50/P90 and the 95%
confidence interval of the mean.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import stats

from sim.plan import MECHANISMS
from sim.shoppers.tables import PRICE_MECHANISMS

KpiFn = Callable[[xr.Dataset], xr.DataArray]


@dataclass(frozen=True)
class Kpi:
    name: str
    units: str  # "currency" is replaced by the Dataset's currency
    long_name: str
    fn: KpiFn
    higher_is_better: bool = True
    share: bool = False  # a share of something: shown as a percentage
    indicator: bool = False  # 1 or 0 per replicate: its mean is a probability


KPIS: dict[str, Kpi] = {}
"""Every KPI, by name, in reporting order."""


def kpi(
    units: str,
    long_name: str,
    higher_is_better: bool = True,
    share: bool = False,
    indicator: bool = False,
) -> Callable[[KpiFn], KpiFn]:
    def register(fn: KpiFn) -> KpiFn:
        KPIS[fn.__name__] = Kpi(
            fn.__name__, units, long_name, fn, higher_is_better, share, indicator
        )
        return fn

    return register


def _total(ds: xr.Dataset, name: str) -> xr.DataArray:
    return ds[name].sum([d for d in ds[name].dims if d != "replicate"])


def _scenario(ds: xr.Dataset) -> dict:
    return tomllib.loads(ds.attrs["scenario_toml"])


def _has_fulfilment(ds: xr.Dataset) -> bool:
    return "fulfilment_picked" in ds


# --- sales ----------------------------------------------------------------------------
@kpi("currency", "GMV")
def gmv(ds: xr.Dataset) -> xr.DataArray:
    """GMV = sum of the list value of paid orders (before any discount)."""
    return _total(ds, "gmv")


@kpi("1", "Orders")
def orders(ds: xr.Dataset) -> xr.DataArray:
    """Orders = paid orders (regular, flash, presale tails)."""
    return _total(ds, "orders")


@kpi("currency", "Average order value")
def aov(ds: xr.Dataset) -> xr.DataArray:
    """AOV = GMV / orders."""
    return gmv(ds) / orders(ds)


@kpi("currency", "Net revenue")
def net_revenue(ds: xr.Dataset) -> xr.DataArray:
    """Net revenue = paid by shoppers - refunds of returns + forfeited deposits."""
    return _total(ds, "paid") - _total(ds, "return_money") + _total(ds, "forfeit_money")


@kpi("currency", "Gross margin")
def gross_margin(ds: xr.Dataset) -> xr.DataArray:
    """Gross margin = net revenue - (cost of goods - restocked share x cost of goods returned).

    Returned goods come back; ``fulfilment.returns.restock_share`` of them are resold at
    cost, the rest are written off.
    """
    returns = _scenario(ds).get("fulfilment", {}).get("returns", {})
    restock = float(returns.get("restock_share", 0.8))
    return net_revenue(ds) - (_total(ds, "cogs") - restock * _total(ds, "return_cogs"))


@kpi("currency", "Subsidy (all mechanisms)", higher_is_better=False)
def subsidy(ds: xr.Dataset) -> xr.DataArray:
    """Subsidy = sum over mechanisms of the discounts and costs booked to them."""
    return _total(ds, "subsidy")


@kpi("currency", "Non-price promotion costs", higher_is_better=False)
def promotion_cost(ds: xr.Dataset) -> xr.DataArray:
    """Promotion cost = subsidy booked to mechanisms that do not lower the price paid."""
    other = [m for i, m in enumerate(MECHANISMS) if i not in PRICE_MECHANISMS]
    return ds["subsidy"].sel(mechanism=other).sum(["time", "segment", "region", "mechanism"])


@kpi("currency", "Marketing spend", higher_is_better=False)
def marketing_spend(ds: xr.Dataset) -> xr.DataArray:
    """Marketing spend = channel spend + messages sent x cost per message + cart-recall
    messages x their cost (real-world)."""
    msgs = (ds["messages_sent"].sum("segment") * ds["message_cost"]).sum("message")
    recalls = _total(ds, "recalls_sent") * ds["recall_cost"]
    return ds["channel_spend"].sum() + msgs + recalls


@kpi("currency", "Logistics cost", higher_is_better=False)
def logistics_cost(ds: xr.Dataset) -> xr.DataArray:
    """Logistics cost = handling + surge staff + overflow + returns handling (sites)
    + truck departures + last-mile delivery (0 without a fulfilment model)."""
    if not _has_fulfilment(ds):
        return 0.0 * gmv(ds)
    return sum(
        (_total(ds, f"fulfilment_{k}") for k in ("site_cost", "linehaul_cost", "courier_cost")),
        start=0.0 * gmv(ds),
    )


@kpi("currency", "Profit")
def profit(ds: xr.Dataset) -> xr.DataArray:
    """Profit = gross margin - promotion costs - marketing spend - logistics cost.

    Price discounts are already out of the gross margin (they lower the price paid).
    """
    return gross_margin(ds) - promotion_cost(ds) - marketing_spend(ds) - logistics_cost(ds)


@kpi("1", "ROI (sales / cost)")
def roi(ds: xr.Dataset) -> xr.DataArray:
    """ROI as planners define it: GMV / (marketing spend + subsidy)."""
    return gmv(ds) / (marketing_spend(ds) + subsidy(ds))


@kpi("1", "Unique visitors")
def visitors(ds: xr.Dataset) -> xr.DataArray:
    """Visitors = shoppers with at least one session."""
    return ds["unique_visitors"]


@kpi("1", "Conversion (buyers / visitors)", share=True)
def conversion(ds: xr.Dataset) -> xr.DataArray:
    """Conversion = shoppers with a paid order / shoppers with a session."""
    return ds["unique_buyers"] / ds["unique_visitors"]


@kpi("1", "New shoppers converted")
def new_shoppers(ds: xr.Dataset) -> xr.DataArray:
    """New shoppers = first purchases of new-shopper segments (+ fission newcomers)."""
    return _total(ds, "new_shoppers") + _total(ds, "fission_new")


@kpi("1", "Repurchase rate", share=True)
def repurchase_rate(ds: xr.Dataset) -> xr.DataArray:
    """Repurchase rate = shoppers making a second purchase / shoppers with a purchase."""
    return _total(ds, "repeat_buyers") / ds["unique_buyers"]


@kpi("1", "Return rate (orders)", higher_is_better=False, share=True)
def return_rate(ds: xr.Dataset) -> xr.DataArray:
    """Return rate = orders returned / orders."""
    return _total(ds, "returns") / orders(ds)


@kpi("1", "Share of the GMV target reached", share=True)
def target_share(ds: xr.Dataset) -> xr.DataArray:
    """Target share = GMV / campaign.targets.gmv (NaN without a target)."""
    t = _scenario(ds)["campaign"].get("targets", {}).get("gmv")
    return gmv(ds) / t if t else gmv(ds) * np.nan


@kpi("1", "GMV target reached (1/0)", share=True, indicator=True)
def target_reached(ds: xr.Dataset) -> xr.DataArray:
    """Target reached = 1 if GMV >= the GMV target, else 0 (NaN without a target)."""
    share = target_share(ds)
    return xr.where(share.isnull(), np.nan, (share >= 1.0).astype(float))


# --- fulfilment --------------------------------------------------------------------------
@kpi("1", "Orders delivered within the promise", share=True)
def fulfilment_rate(ds: xr.Dataset) -> xr.DataArray:
    """Fulfilment rate = orders delivered within ``fulfilment.promise_hours`` / orders
    delivered (NaN without a fulfilment model)."""
    if not _has_fulfilment(ds):
        return gmv(ds) * np.nan
    return _total(ds, "fulfilment_delivered_on_time") / _total(ds, "fulfilment_delivered")


@kpi("site-hours", "Overload hours (storage full)", higher_is_better=False)
def overload_hours(ds: xr.Dataset) -> xr.DataArray:
    """Overload hours = site-hours in which a site's storage was full."""
    if not _has_fulfilment(ds):
        return gmv(ds) * np.nan
    return _total(ds, "fulfilment_overload")


@kpi("orders", "Peak backlog (all sites)", higher_is_better=False)
def peak_backlog(ds: xr.Dataset) -> xr.DataArray:
    """Peak backlog = max over hours of the orders waiting to be picked, summed over sites."""
    if not _has_fulfilment(ds):
        return gmv(ds) * np.nan
    return ds["fulfilment_backlog"].sum("site").max("ftime")


def _delay_quantile(ds: xr.Dataset, q: float) -> xr.DataArray:
    h = ds["door_delay_hist"].sum("region")
    total = h.sum("delay")
    cum = h.cumsum("delay") / total
    return xr.where(total > 0, (cum < q).sum("delay").astype(float) + 0.5, np.nan)


@kpi("hours", "Order-to-door time, median", higher_is_better=False)
def delivery_p50(ds: xr.Dataset) -> xr.DataArray:
    """Delivery P50 = median hours from order to door (hour-bin midpoint)."""
    return _delay_quantile(ds, 0.5) if _has_fulfilment(ds) else gmv(ds) * np.nan


@kpi("hours", "Order-to-door time, 90th percentile", higher_is_better=False)
def delivery_p90(ds: xr.Dataset) -> xr.DataArray:
    """Delivery P90 = 90th percentile of hours from order to door (hour-bin midpoint)."""
    return _delay_quantile(ds, 0.9) if _has_fulfilment(ds) else gmv(ds) * np.nan


# --- evaluation --------------------------------------------------------------------------
def kpis(ds: xr.Dataset) -> xr.Dataset:
    """Every KPI per replicate, plus GMV by phase and subsidy by mechanism.

    When the results hold a counterfactual run (``sim.runner(..., incremental=True)``:
    the same scenario and seed with every promotion and channel off), adds
    ``incremental_roi`` = (GMV - GMV_cf) / (cost - cost_cf) with cost = marketing
    spend + subsidy, paired replicate by replicate (common random numbers make it sharp).
    """
    cur = ds.attrs.get("currency", "")
    out = xr.Dataset(coords={"replicate": ds["replicate"]})
    for k in KPIS.values():
        v = k.fn(ds)
        out[k.name] = v.astype(float).assign_attrs(
            units=cur if k.units == "currency" else k.units,
            long_name=k.long_name,
            formula=(k.fn.__doc__ or "").strip().splitlines()[0],
            higher_is_better=int(k.higher_is_better),
            display="percent" if k.share else "",
            indicator=int(k.indicator),
        )
    g = ds["gmv"].sum(["segment", "region"]).groupby("phase").sum()
    for phase in dict.fromkeys(ds["phase"].values.tolist()):  # in calendar order
        out[f"gmv_{phase}"] = (
            g.sel(phase=phase)
            .drop_vars("phase", errors="ignore")
            .assign_attrs(
                units=cur,
                long_name=f"GMV in the {phase} phase",
                formula="sum of GMV over the phase's hours",
                higher_is_better=1,
            )
        )
    targets = _scenario(ds)["campaign"].get("targets", {})
    for phase, share in targets.get("phase_gmv_shares", {}).items():
        if f"gmv_{phase}" in out and targets.get("gmv") and share > 0:
            out[f"target_share_{phase}"] = (
                out[f"gmv_{phase}"] / (targets["gmv"] * share)
            ).assign_attrs(
                units="1",
                long_name=f"Share of the {phase} phase's GMV target reached",
                display="percent",
                formula="GMV of the phase / (GMV target x the phase's target share)",
                higher_is_better=1,
            )
    sub = ds["subsidy"].sum(["time", "segment", "region"])
    for m in ds["mechanism"].values:
        v = sub.sel(mechanism=m).drop_vars("mechanism")
        if float(abs(v).sum()) > 0:
            out[f"subsidy_{m}"] = v.assign_attrs(
                units=cur,
                long_name=f"Subsidy booked to {m}",
                formula="sum of the mechanism's discounts and costs",
                higher_is_better=0,
            )
    if "counterfactual_gmv" in ds:
        cost = marketing_spend(ds) + subsidy(ds)
        extra = (gmv(ds) - ds["counterfactual_gmv"]) / (cost - ds["counterfactual_cost"])
        out["incremental_roi"] = extra.assign_attrs(
            units="1",
            long_name="Incremental ROI against no promotions and no marketing",
            formula="(GMV - GMV_cf) / (cost - cost_cf), cost = marketing spend + subsidy",
            higher_is_better=1,
        )
    out.attrs.update(
        {
            k: ds.attrs[k]
            for k in ("scenario_name", "scenario_hash", "seed", "currency", "scenario_toml")
            if k in ds.attrs
        }
    )
    return out


STATS = ("mean", "sd", "p10", "p50", "p90", "ci_low", "ci_high", "n")


def summarize(k: xr.Dataset, level: float = 0.95) -> xr.Dataset:
    """Mean, standard deviation, P10/P50/P90 and the confidence interval of the mean
    (Student t, ``level``) of every KPI over replicates; dimension ``stat``. For a 1/0
    KPI (``indicator`` in its attrs: whether the target was reached) the interval is the
    exact (Clopper-Pearson) one of the probability: 12 replicates out of 12 give
    [0.74, 1], not [1, 1]."""
    out = {}
    for name, v in k.data_vars.items():
        x = np.asarray(v.values, float)
        x = x[np.isfinite(x)]
        n = x.size
        mean = float(x.mean()) if n else np.nan
        sd = float(x.std(ddof=1)) if n > 1 else np.nan
        half = float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else np.nan
        lo, hi = mean - half, mean + half
        if v.attrs.get("indicator") and n:
            ci = stats.binomtest(int(x.sum()), n).proportion_ci(level, method="exact")
            lo, hi = float(ci.low), float(ci.high)
        q = np.percentile(x, [10, 50, 90]) if n else [np.nan] * 3
        out[name] = xr.DataArray(
            [mean, sd, q[0], q[1], q[2], lo, hi, n], dims="stat", attrs=v.attrs
        )
    return xr.Dataset(out, coords={"stat": list(STATS)}, attrs=k.attrs)


MIN_PRECISION_REPLICATES = 10
"""Replicates before a precision rule may stop: with fewer, the spread of the sample is
itself too uncertain, and a KPI that happens to be equal in a few replicates would look
exact."""


def relative_half_width(v: xr.DataArray, level: float = 0.95) -> float:
    """Half-width of the confidence interval of the mean, relative to the mean.

    For a 1/0 KPI (``indicator`` in its attrs: whether the target was reached) the
    exact (Clopper-Pearson) interval of the probability, so that a target reached in
    every replicate so far is not taken as known exactly; for the others Student's t.
    ``inf`` with fewer than two finite values or a zero mean (no relative precision can
    be reached).

    Examples
    --------
    >>> v = xr.DataArray([1.0] * 12, attrs={"indicator": 1})
    >>> round(relative_half_width(v), 3)  # all 12 reached the target: P >= 0.735
    0.132
    """
    x = np.asarray(v.values, float)
    x = x[np.isfinite(x)]
    if x.size < 2 or x.mean() == 0:
        return float("inf")
    if v.attrs.get("indicator"):
        ci = stats.binomtest(int(x.sum()), x.size).proportion_ci(level, method="exact")
        return float((ci.high - ci.low) / 2 / x.mean())
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return float(half / abs(x.mean()))
