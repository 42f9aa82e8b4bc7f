"""Checks of the fulfilment models against queueing theory, and small hand-made tables.

:func:`site_tables` builds :class:`~sim.fulfilment.tables.FulfilmentTables` directly
(no scenario file), for tests and for :func:`mmc`, which sets one site up as an
M/M/c queue (Poisson arrivals, one 24-hour shift of ``servers`` pickers with
exponential service, unlimited storage, no trucks, no couriers) and runs the
per-order model on it. :func:`erlang_c_wait` is the exact mean wait of that queue
and :func:`little` measures both sides of Little's law on a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sim.fulfilment.per_order import PerOrderFulfilment
from sim.fulfilment.tables import FulfilmentTables

_SURGE_OFF: dict[str, float] = {
    "enabled": 0.0,
    "threshold": math.inf,
    "lead": 0.0,
    "staff": 0.0,
    "max_staff": 0.0,
    "cost": 0.0,
    "rate": 30.0,
    "min_hours": 8.0,
}


def _per_site(x: float | Sequence[float], n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, float), (n,)).copy()


def site_tables(
    hours: int,
    *,
    drain: int = 0,
    sites: int = 1,
    regions: int = 1,
    staff: int | Sequence[int] = 10,
    rate: float = 30.0,
    storage: float | Sequence[float] = math.inf,
    overflow_to: Sequence[int] | None = None,
    overflow_delay: float = 12.0,
    overflow_cap: float = math.inf,
    overflow_cost: float = 3.0,
    surge: Mapping[str, float] | None = None,
    departures: Sequence[int] = (),
    departure_cap: float = math.inf,
    transit: float = 0.0,
    couriers: int = 0,
    parcels_per_day: float = 150.0,
    courier_hours: tuple[int, int] = (8, 20),
    outages: Sequence[tuple[int, float, float, float]] = (),
    shortfalls: Sequence[tuple[int, float, float, float]] = (),
    preposition_share: float = 0.0,
    release_at: float = 0.0,
    promise_hours: float = 48.0,
    return_delay: float = 72.0,
    return_handling: float = 1.5,
) -> FulfilmentTables:
    """Fulfilment tables of identical sites, built by hand (campaign starts at midnight).

    Parameters
    ----------
    hours, drain
        Campaign hours and hours simulated after them (horizon = hours + drain).
    sites, regions
        With as many sites as regions, site i serves region i; with one site, it
        serves every region.
    staff, rate
        Pickers on duty in each hour of the day (one number: all day) and their
        picks per worker-hour.
    storage, overflow_to, overflow_delay, overflow_cap, overflow_cost
        Storage limit per site and where overflow goes (-1: a third party).
    surge
        Surge parameters as in ``FulfilmentTables.surge`` (missing keys: off).
    departures, departure_cap, transit
        Truck departures (hours of day), orders per departure and hours on the road.
    couriers, parcels_per_day, courier_hours
        Couriers per region (0: deliver on arrival) and their working day.
    outages, shortfalls
        (site or region, start, end, capacity factor).

    Examples
    --------
    >>> t = site_tables(48, staff=3, rate=10.0)
    >>> t.horizon, t.shift_staff[0, :3].tolist()
    (48, [3, 3, 3])
    """
    if sites != 1 and sites != regions:
        raise ValueError("site_tables: one site, or one site per region")
    S, R, T = sites, regions, hours + drain
    hod = np.arange(T) % 24
    day = np.broadcast_to(np.asarray(staff, np.int64), (24,))
    shift_staff = np.tile(day[hod], (S, 1))
    shift_rate = np.where(shift_staff > 0, float(rate), 0.0)
    route = np.zeros((R, S))
    for r in range(R):
        route[r, 0 if S == 1 else r] = 1.0
    params = {**_SURGE_OFF, **(surge or {})}
    surge_arr = {
        k: np.full(S, v, dtype=bool if k == "enabled" else np.int64 if "staff" in k else float)
        for k, v in params.items()
    }
    deps = np.array([h for h in range(T) if h % 24 in departures], float)
    on = (hod >= courier_hours[0]) & (hod < courier_hours[1])
    per_hour = couriers * parcels_per_day / (courier_hours[1] - courier_hours[0])
    courier_rate = np.tile(np.where(on, per_hour, 0.0) if couriers else np.full(T, np.inf), (R, 1))
    return FulfilmentTables(
        hours=hours,
        horizon=T,
        promise_hours=promise_hours,
        site_names=tuple(f"site{i}" for i in range(S)),
        region_names=tuple(f"region{i}" for i in range(R)),
        site_region=np.arange(S, dtype=np.int64) % R,
        route=route,
        shift_staff=shift_staff,
        shift_rate=shift_rate,
        storage=_per_site(storage, S),
        handling_cost=np.full(S, 2.0),
        surge=surge_arr,
        overflow_to=np.asarray(overflow_to if overflow_to is not None else [-1] * S, np.int64),
        overflow_cost=np.full(S, overflow_cost),
        overflow_delay=np.full(S, overflow_delay),
        overflow_cap=np.full(S, overflow_cap),
        outages=tuple(outages),
        departures=tuple(deps.copy() for _ in range(S)),
        departure_cap=tuple(np.full(len(deps), departure_cap) for _ in range(S)),
        departure_transit=tuple(np.full(len(deps), transit) for _ in range(S)),
        departure_cost=tuple(np.full(len(deps), 1000.0) for _ in range(S)),
        courier_rate=courier_rate,
        courier_count=np.full(R, couriers, np.int64),
        courier_cost=np.full(R, 5.0),
        shortfalls=tuple(shortfalls),
        preposition_share=preposition_share,
        release_at=release_at,
        return_delay=return_delay,
        return_handling=return_handling,
        return_restock=0.9,
        return_cost=4.0,
    )


def erlang_c_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Exact mean wait in queue of an M/M/c queue (Erlang C), in the rates' time unit.

    Examples
    --------
    >>> round(erlang_c_wait(0.5, 1.0, 1), 6)  # M/M/1: rho / (mu - lambda)
    1.0
    """
    c = int(servers)
    a = arrival_rate / service_rate  # offered load (Erlangs)
    rho = a / c
    if rho >= 1:
        return math.inf
    term = 1.0
    head = 0.0
    for k in range(c):  # sum of a^k / k! for k < c
        head += term
        term *= a / (k + 1)
    tail = term / (1 - rho)  # a^c / c! / (1 - rho)
    p_wait = tail / (head + tail)
    return p_wait / (c * service_rate - arrival_rate)


def little(
    records: Sequence[tuple[float, float, float]], start: float, end: float
) -> dict[str, float]:
    """Both sides of Little's law for the waiting room over [start, end).

    ``records`` are (joined, started, finished) of each job. Returns the time-average
    number waiting ``L``, the arrival rate ``lambda`` and mean wait ``W`` of the jobs
    that joined in the window, and ``lambda_W`` = lambda x W.
    """
    rec = np.asarray(records, float).reshape(-1, 3)
    joined, started = rec[:, 0], rec[:, 1]
    overlap = np.clip(np.minimum(started, end) - np.maximum(joined, start), 0.0, None)
    span = end - start
    inside = (joined >= start) & (joined < end)
    lam = inside.sum() / span
    w = float((started - joined)[inside].mean()) if inside.any() else 0.0
    return {"L": float(overlap.sum() / span), "lambda": float(lam), "W": w, "lambda_W": lam * w}


def mmc_replicate(
    arrival_rate: float,
    service_rate: float,
    servers: int,
    horizon: float,
    seed: np.random.SeedSequence,
    warmup: float | None = None,
) -> dict[str, float]:
    """One replicate of the per-order model set up as an M/M/c queue.

    Rates are per hour, times in hours. Arrivals in [0, horizon); the first
    ``warmup`` hours (default: a tenth of the horizon) are discarded. Returns
    :func:`little`'s figures over [warmup, horizon) (``W`` is the mean wait in queue).
    """
    warm = horizon / 10 if warmup is None else warmup
    drain = 24 + int(20 / max(servers * service_rate - arrival_rate, 1e-3))
    hours = math.ceil(horizon)
    t = site_tables(hours, drain=drain, staff=servers, rate=service_rate)
    arrive_ss, model_ss = seed.spawn(2)
    rng = np.random.default_rng(arrive_ss)
    n = int(arrival_rate * horizon + 10 * math.sqrt(arrival_rate * horizon) + 10)
    times = np.cumsum(rng.exponential(1 / arrival_rate, size=n))
    while times[-1] < horizon:  # (practically never) draw more
        more = times[-1] + np.cumsum(rng.exponential(1 / arrival_rate, size=n))
        times = np.concatenate([times, more])
    model = PerOrderFulfilment(t, seed=model_ss, service="exponential", record=True)
    model.add_order_times(times[times < horizon])
    model.finish()
    assert model.records is not None
    return little(model.records, warm, horizon)


def mmc(
    arrival_rate: float,
    service_rate: float,
    servers: int,
    horizon: float,
    replicates: int,
    seed: int | np.random.SeedSequence,
    warmup: float | None = None,
) -> tuple[float, float]:
    """Mean wait in queue of the per-order model set up as an M/M/c queue.

    Parameters
    ----------
    arrival_rate, service_rate
        Orders per hour arriving; picks per hour of one picker.
    servers
        Pickers on duty (one 24-hour shift).
    horizon
        Hours of arrivals per replicate (the first tenth, or ``warmup``, discarded).
    replicates
        Independent replicates (children of ``seed``).
    seed
        Seed (or SeedSequence) of the replicates.

    Returns
    -------
    mean_wait, standard_error
        Mean over replicates of the mean wait in queue (hours) and its standard error
        (standard deviation across replicates / sqrt(replicates)).
    """
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    w = np.array(
        [
            mmc_replicate(arrival_rate, service_rate, servers, horizon, child, warmup)["W"]
            for child in ss.spawn(replicates)
        ]
    )
    return float(w.mean()), float(w.std(ddof=1) / math.sqrt(len(w)))


def summary(out: Mapping[str, Any]) -> dict[str, float]:
    """Mean order-to-door delay (hours) and on-time share of a model's results."""
    delivered = float(out["fulfilment_delivered"].sum())
    return {
        "delivered": delivered,
        "mean_door_delay": float(out["door_delay_sum"].sum()) / max(delivered, 1.0),
        "on_time_share": float(out["fulfilment_delivered_on_time"].sum()) / max(delivered, 1.0),
    }
