"""Replicate outputs to a labelled xarray.Dataset; saving and loading as netCDF.

Every figure in the Dataset is real-world: simulated counts and money are
multiplied by the population scale (real shoppers per simulated shopper).
Coordinates are the fixed things results are indexed by (replicate, local time,
segment, region, mechanism, site ...); every variable carries ``units`` and
``long_name``; provenance (scenario name and hash, seed, package version, the
resolved scenario as TOML) is in the Dataset attrs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# xarray imports dask lazily, the first time a Dataset is built: a Ctrl-C or SIGTERM that
# lands in that import leaves dask half-imported, and saving the replicates finished so
# far then fails (`dask` has no attribute `utils`, seen here). Imported with this module,
# before any work, the import cannot be cut.
import dask  # noqa: F401
import numpy as np
import xarray as xr

from sim._version import __version__, code_fingerprint
from sim.fulfilment.outputs import DELAY_BINS, SERIES
from sim.plan import Plan
from sim.scenario import to_toml
from sim.shoppers.tables import COUNTERS


def reduce_replicate(out: dict[str, Any]) -> dict[str, Any]:
    """Keep what the Dataset needs from ``simulate_replicate``'s output, in real-world units."""
    k = float(out["scale"])
    red: dict[str, Any] = {}
    for name, _, _ in COUNTERS:
        red[name] = np.asarray(out[name], float) * k
    red["subsidy"] = np.asarray(out["subsidy"], float) * k
    for name in (
        "claim_attempts_by_coupon",
        "claims_by_coupon",
        "claims_lost_by_coupon",
        "uses_by_coupon",
        "flash_slot_attempts",
        "flash_slot_wins",
        "wins_by_first_n",
        "messages_sent",
        "messages_seen",
        "messages_woken",
    ):
        red[name] = np.asarray(out[name], float) * k
    red["flash_sellout_hours"] = np.asarray(out["flash_sellout_hours"], float)
    red["first_n_exhausted_at"] = np.asarray(out["first_n_exhausted_at"], float)
    red["unique_visitors"] = float(out["unique_visitors"]) * k
    red["unique_buyers"] = float(out["unique_buyers"]) * k
    for key, v in out.items():
        if key.startswith("fulfilment_") or key.endswith(("_delay_hist", "_delay_sum")):
            red[key] = np.asarray(v, float)
    return red


def _times(plan: Plan, hours: int) -> np.ndarray:
    clk = plan.clock
    return np.array([clk.local_at(h) for h in range(hours)], dtype="datetime64[ns]")


def _utc(plan: Plan, hours: int) -> np.ndarray:
    base = np.datetime64(plan.clock.start_utc.replace(tzinfo=None), "ns")
    return base + np.arange(hours) * np.timedelta64(3600, "s")


UTC_NOTE = (
    "UTC start of the hour; unique where the local time repeats (a campaign that crosses "
    "the end of daylight-saving time has a repeated local hour)"
)


def to_dataset(
    plan: Plan,
    reduced: Sequence[dict[str, Any]],
    replicates: Sequence[int],
    seed: int,
    shoppers: int,
) -> xr.Dataset:
    """Stack reduced replicate outputs into a labelled Dataset."""
    cal, seg, f = plan.calendar, plan.segments, plan.fulfilment
    rep = np.asarray(replicates, dtype=np.int64)
    coords: dict[str, Any] = {
        "replicate": ("replicate", rep),
        "time": (
            "time",
            _times(plan, cal.hours),
            {"long_name": "local time (start of the hour)", "timezone": plan.clock.timezone},
        ),
        "utc": ("time", _utc(plan, cal.hours), {"long_name": UTC_NOTE}),
        "phase": ("time", np.array(cal.phase_names)[cal.phase], {"long_name": "campaign phase"}),
        "segment": ("segment", list(seg.names)),
        "region": ("region", list(seg.region_names)),
        "mechanism": ("mechanism", list(plan.mechanisms)),
        "coupon": ("coupon", list(plan.coupons.names)),
        "slot": (
            "slot",
            [
                f"{plan.flash.series_names[s]}@{plan.clock.local_at(float(o)):%m-%d %H:%M}"
                for s, o in zip(plan.flash.series, plan.flash.open, strict=True)
            ],
        ),
        "first_n": ("first_n", list(plan.first_n.names)),
        "message": ("message", list(plan.messages.names)),
    }
    data: dict[str, Any] = {}

    def stack(name: str) -> np.ndarray:
        return np.stack([r[name] for r in reduced])

    for name, unit, desc in COUNTERS:
        units = plan.scenario.campaign.currency if unit == "cents" else "1"
        data[name] = (
            ("replicate", "time", "segment", "region"),
            stack(name),
            {"units": units, "long_name": desc},
        )
    cur = plan.scenario.campaign.currency
    data["subsidy"] = (
        ("replicate", "time", "segment", "region", "mechanism"),
        stack("subsidy"),
        {"units": cur, "long_name": "Discount and promotion cost booked to each mechanism"},
    )
    per = {
        "claim_attempts_by_coupon": ("coupon", "Coupon claim attempts"),
        "claims_by_coupon": ("coupon", "Coupons claimed"),
        "claims_lost_by_coupon": ("coupon", "Claims refused (stock or budget gone)"),
        "uses_by_coupon": ("coupon", "Coupons used"),
        "flash_slot_attempts": ("slot", "Flash-slot attempts"),
        "flash_slot_wins": ("slot", "Flash-slot wins"),
        "wins_by_first_n": ("first_n", "First-N privileges won"),
    }
    for name, (dim, desc) in per.items():
        data[name] = (("replicate", dim), stack(name), {"units": "1", "long_name": desc})
    data["flash_sellout_hours"] = (
        ("replicate", "slot"),
        stack("flash_sellout_hours"),
        {
            "units": "hours",
            "long_name": "Hours from the slot's opening to its sell-out (NaN: did not sell out)",
        },
    )
    data["first_n_exhausted_at"] = (
        ("replicate", "first_n"),
        stack("first_n_exhausted_at"),
        {
            "units": "hours",
            "long_name": "Campaign hour the first-N privileges ran out (NaN: did not)",
        },
    )
    for name, desc in (
        ("messages_sent", "Messages sent"),
        ("messages_seen", "Messages seen"),
        ("messages_woken", "Dormant shoppers woken by a message"),
    ):
        data[name] = (
            ("replicate", "message", "segment"),
            stack(name),
            {"units": "1", "long_name": desc},
        )
    for name, desc in (
        ("unique_visitors", "Shoppers with at least one session"),
        ("unique_buyers", "Shoppers with at least one paid order"),
    ):
        data[name] = (("replicate",), stack(name), {"units": "1", "long_name": desc})
    if "fulfilment_picked" in reduced[0]:
        coords["ftime"] = (
            "ftime",
            _times(plan, f.horizon),
            {
                "long_name": "local time on the fulfilment clock (the campaign, then the drain)",
                "timezone": plan.clock.timezone,
            },
        )
        coords["futc"] = ("ftime", _utc(plan, f.horizon), {"long_name": UTC_NOTE})
        coords["site"] = ("site", list(f.site_names))
        coords["delay"] = (
            "delay",
            np.arange(DELAY_BINS),
            {"long_name": "delay (hour bin)", "units": "hours"},
        )
        for name, (dim, unit, desc) in SERIES.items():
            units = cur if unit == "currency" else unit
            data[f"fulfilment_{name}"] = (
                ("replicate", "ftime", dim),
                stack(f"fulfilment_{name}"),
                {"units": units, "long_name": desc},
            )
        data["dispatch_delay_hist"] = (
            ("replicate", "site", "delay"),
            stack("dispatch_delay_hist"),
            {"units": "orders", "long_name": "Orders by hours from order to dispatch"},
        )
        data["door_delay_hist"] = (
            ("replicate", "region", "delay"),
            stack("door_delay_hist"),
            {"units": "orders", "long_name": "Orders by hours from order to the door"},
        )
        data["door_delay_sum"] = (
            ("replicate", "region"),
            stack("door_delay_sum"),
            {"units": "order-hours", "long_name": "Sum of order-to-door delays"},
        )
        data["dispatch_delay_sum"] = (
            ("replicate", "site"),
            stack("dispatch_delay_sum"),
            {"units": "order-hours", "long_name": "Sum of order-to-dispatch delays"},
        )
    sc = plan.scenario
    msg_cost = {m.name: m.cost_per_message for m in sc.promotions.messages}
    coords["channel"] = ("channel", list(plan.channels.names))
    data["channel_spend"] = (
        ("channel",),
        np.asarray(plan.channels.spend, float),
        {"units": cur, "long_name": "Spend of each marketing channel (real-world)"},
    )
    data["message_cost"] = (
        ("message",),
        np.array([msg_cost.get(n, 0.0) for n in plan.messages.names], float),
        {"units": cur, "long_name": "Cost per message sent"},
    )
    recall = sc.promotions.cart_recall
    data["recall_cost"] = (
        (),
        float(recall.cost_per_message) if recall is not None and recall.enabled else 0.0,
        {"units": cur, "long_name": "Cost per cart-recall message"},
    )
    ds = xr.Dataset(data, coords=coords)
    s = plan.scenario
    ds.attrs.update(
        {
            "title": f"promosim results: {s.campaign.name}",
            "scenario_name": s.campaign.name,
            "scenario_hash": plan.scenario_hash,
            "scenario_toml": to_toml(s),
            "seed": int(seed),
            "shoppers_simulated": int(shoppers),
            "population_scale": float(plan.scale * plan.shoppers / shoppers),
            "currency": cur,
            "timezone": plan.clock.timezone,
            "promise_hours": float(f.promise_hours),
            "promosim_version": __version__,
            "promosim_code": code_fingerprint(),
            "Conventions": "CF-1.10",
        }
    )
    return ds


def save(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write results to netCDF atomically (a temporary file renamed into place), compressed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    enc = {v: {"zlib": True, "complevel": 4} for v in ds.data_vars if ds[v].dtype.kind in "fiu"}
    try:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=enc)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read results written by :func:`save` (fully into memory; the file is closed)."""
    with xr.open_dataset(path, engine="netcdf4") as ds:
        return ds.load()
