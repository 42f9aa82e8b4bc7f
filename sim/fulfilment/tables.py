"""The fulfilment part of a Plan: flat arrays the fulfilment models read.

Times are campaign hours. The fulfilment horizon runs ``DRAIN_HOURS`` past the
campaign end, so that orders placed in the last hours are delivered too.
Quantities are real-world orders (agent orders x ``population.scale``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.clock import Clock
from sim.scenario.models import Scenario, Site

DRAIN_HOURS = 14 * 24
"""Hours simulated after the campaign end to deliver what is still in the system."""


@dataclass(frozen=True)
class FulfilmentTables:
    """Sites, schedules and capacities on the fulfilment horizon (index = site / region)."""

    hours: int  # campaign hours
    horizon: int  # campaign hours + drain
    promise_hours: float
    site_names: tuple[str, ...]
    region_names: tuple[str, ...]
    site_region: np.ndarray  # int [S]
    route: np.ndarray  # float [R, S]: share of a region's orders each site takes
    shift_staff: np.ndarray  # int [S, T]: staff on the regular shifts in each hour
    shift_rate: np.ndarray  # float [S, T]: picks per worker-hour of those staff
    storage: np.ndarray  # float [S]
    handling_cost: np.ndarray  # float [S]: cost per order picked
    surge: dict[str, np.ndarray]  # per-site arrays: enabled, threshold, lead, staff, max, ...
    overflow_to: np.ndarray  # int [S]: -1 third party, else a site index
    overflow_cost: np.ndarray
    overflow_delay: np.ndarray
    overflow_cap: np.ndarray  # orders per hour (inf: unlimited)
    outages: tuple[tuple[int, float, float, float], ...]  # (site, start, end, capacity factor)
    departures: tuple[np.ndarray, ...]  # per site: departure times (hours), sorted
    departure_cap: tuple[np.ndarray, ...]  # per site: orders per departure
    departure_transit: tuple[np.ndarray, ...]  # per site: hours on the road per departure
    departure_cost: tuple[np.ndarray, ...]  # per site: cost per departure
    courier_rate: np.ndarray  # float [R, T]: parcels per hour (inf: not modelled)
    courier_count: np.ndarray  # int [R]: couriers (0: not modelled)
    courier_cost: np.ndarray  # float [R]: cost per parcel
    shortfalls: tuple[tuple[int, float, float, float], ...]  # (region, start, end, factor)
    preposition_share: float  # share of presale tails picked ahead (0: off)
    release_at: float  # hours: when picked-ahead orders leave
    return_delay: float
    return_handling: float  # pick-equivalents per return
    return_restock: float
    return_cost: float

    @property
    def enabled(self) -> bool:
        return len(self.site_names) > 0


def compile_fulfilment(
    s: Scenario, clock: Clock, region_names: tuple[str, ...]
) -> FulfilmentTables:
    """Compile the ``[fulfilment]`` section (validated) into :class:`FulfilmentTables`."""
    f = s.fulfilment
    H = clock.hours
    T = H + DRAIN_HOURS
    names = tuple(x.name for x in f.sites)
    S, R = len(names), len(region_names)
    hod = np.array([clock.local_at(h).hour for h in range(T)], dtype=np.int64)
    site_region = np.array([region_names.index(x.region) for x in f.sites], dtype=np.int64)

    staff = np.zeros((S, T), np.int64)
    rate = np.zeros((S, T))
    for i, site in enumerate(f.sites):
        for sh in site.shifts:
            on = (hod >= sh.start_hour) & (hod < sh.end_hour)
            staff[i, on] = sh.staff
            rate[i, on] = sh.picks_per_worker_hour
    daily = (staff * rate)[:, :24].sum(axis=1) if T >= 24 else (staff * rate).sum(axis=1)

    # routing: a region's orders go to the sites that serve it, in proportion to their capacity
    route = np.zeros((R, S))
    for i, site in enumerate(f.sites):
        for r in site.serves or (site.region,):
            route[region_names.index(r), i] = max(float(daily[i]), 1e-9)
    tot = route.sum(axis=1, keepdims=True)
    route = np.divide(route, tot, out=np.zeros_like(route), where=tot > 0)

    def col(get: Callable[[Site], Any], dtype: Any = float) -> np.ndarray:
        return np.array([get(x) for x in f.sites], dtype=dtype)

    surge = {
        "enabled": col(lambda x: x.surge.enabled, bool),
        "threshold": col(lambda x: x.surge.backlog_threshold),
        "lead": col(lambda x: x.surge.lead_hours),
        "staff": col(lambda x: x.surge.staff, np.int64),
        "max_staff": col(lambda x: x.surge.max_staff, np.int64),
        "cost": col(lambda x: x.surge.cost_per_hour),
        "rate": col(lambda x: x.surge.picks_per_worker_hour),
        "min_hours": col(lambda x: x.surge.min_hours),
    }
    overflow_to = col(
        lambda x: -1 if x.overflow.to == "third_party" else names.index(x.overflow.to), np.int64
    )
    cap = col(
        lambda x: np.inf if x.overflow.capacity_per_hour is None else x.overflow.capacity_per_hour
    )

    deps, caps, transit, dcost = [], [], [], []
    for name in names:
        rows: list[tuple[float, float, float, float]] = []
        for lh in f.linehaul:
            if lh.site != name:
                continue
            for h in np.flatnonzero(np.isin(hod, lh.departures)):
                rows.append((float(h), lh.capacity, lh.transit_hours, lh.cost_per_departure))
        rows.sort()
        arr = np.array(rows, dtype=float).reshape(-1, 4)
        deps.append(arr[:, 0].copy())
        caps.append(arr[:, 1].copy())
        transit.append(arr[:, 2].copy())
        dcost.append(arr[:, 3].copy())

    courier_rate = np.full((R, T), np.inf)
    count = np.zeros(R, np.int64)
    ccost = np.zeros(R)
    for cr in f.couriers:
        k = region_names.index(cr.region)
        on = (hod >= cr.start_hour) & (hod < cr.end_hour)
        per_hour = cr.count * cr.parcels_per_day / (cr.end_hour - cr.start_hour)
        courier_rate[k] = np.where(on, per_hour, 0.0)
        count[k] = cr.count
        ccost[k] = cr.cost_per_parcel

    outages: list[tuple[int, float, float, float]] = []
    shortfalls: list[tuple[int, float, float, float]] = []
    for fault in f.faults:
        t0, t1 = clock.to_hours(fault.start), clock.to_hours(fault.end)
        if fault.kind == "site_outage":
            assert fault.site is not None  # checked by the model
            outages.append((names.index(fault.site), t0, t1, fault.capacity_factor))
        else:
            assert fault.region is not None
            shortfalls.append((region_names.index(fault.region), t0, t1, fault.capacity_factor))

    pre = f.prepositioning
    peak = next(p for p in s.calendar.phases if p.kind == "peak")
    presale_on = s.promotions.presale is not None and s.promotions.presale.enabled
    release = pre.release_at if pre.release_at is not None else peak.start
    return FulfilmentTables(
        hours=H,
        horizon=T,
        promise_hours=f.promise_hours,
        site_names=names,
        region_names=region_names,
        site_region=site_region,
        route=route,
        shift_staff=staff,
        shift_rate=rate,
        storage=col(lambda x: x.storage),
        handling_cost=col(lambda x: x.cost_per_order),
        surge=surge,
        overflow_to=overflow_to,
        overflow_cost=col(lambda x: x.overflow.cost_per_order),
        overflow_delay=col(lambda x: x.overflow.delay_hours),
        overflow_cap=cap,
        outages=tuple(outages),
        departures=tuple(deps),
        departure_cap=tuple(caps),
        departure_transit=tuple(transit),
        departure_cost=tuple(dcost),
        courier_rate=courier_rate,
        courier_count=count,
        courier_cost=ccost,
        shortfalls=tuple(shortfalls),
        preposition_share=float(pre.share) if (pre.enabled and presale_on) else 0.0,
        release_at=clock.to_hours(release),
        return_delay=f.returns.delay_hours,
        return_handling=f.returns.handling_picks,
        return_restock=f.returns.restock_share,
        return_cost=f.returns.cost_per_return,
    )
