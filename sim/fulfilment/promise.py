"""The delivery time quoted at checkout: a fluid FIFO projection of the orders ahead.

Both fulfilment modes call a :class:`Quoter` with what is ahead of a new order,
by site and region: orders waiting to be picked, orders waiting for a truck,
parcels waiting for a region's couriers and parcels on their way to them (with
the times they arrive). It projects the orders ahead through the capacity the
model knows of, as fluid FIFO queues:

1. **Picking.** The site's shift schedule plus its surge staff: those on site, and
   those requested and on their way from the hour they arrive. The new order is
   picked once the orders ahead of it are.
2. **Linehaul.** The departures from now on, each carrying the orders ahead that are
   picked by then, up to its capacity; the new order leaves on the first one after
   its pick with room for it. What each departure carries reaches the couriers
   ``transit_hours`` later (a site without linehaul hands its orders over as they
   are picked).
3. **Last mile.** The region's couriers work through the parcels waiting now and
   those that reach them before the new order (from every site serving the region,
   in the proportions of each site's queue, and the parcels already on the road);
   the queue left when the new order arrives is served before it.

A fault in force (site outage, courier shortfall) scales the capacity until its
scheduled end, as the platform's estimate of the repair; faults that have not
started are not foreseen, nor are surge staff not yet requested or leaving, nor
orders overflowed to a neighbour site and still on their way there, nor
orders placed after the new one: the quote is for an order placed at the hour mark
and is shown all hour, so in a busy hour the hour's own orders wait longer than it
says (the first hour of the peak day above all). The quote is capped at
``LOOKAHEAD`` hours.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.fulfilment.tables import FulfilmentTables

EPS = 1e-9
LOOKAHEAD = 24 * 14
"""Hours the projection looks ahead; the quote is capped there."""


class Quoter:
    """The quote for one set of tables: the tables packed once into arrays for a numba
    kernel, which each call projects the queues through.

    Examples
    --------
    One site picking 100 orders an hour with 250 ahead, no trucks, couriers without a
    limit: the new order is picked 2.51 hours from now.

    >>> from sim import compile_plan, load_scenario
    >>> t = compile_plan(load_scenario("scenarios/smoke.toml")).fulfilment
    >>> q = Quoter(toy_tables(t, pick=100.0))
    >>> q.quote(0.0, pick_ahead=[[250.0]]).round(2).tolist()
    [2.51]
    """

    def __init__(self, t: FulfilmentTables) -> None:
        S, R = len(t.site_names), len(t.region_names)
        width = max([len(d) for d in t.departures] + [1])
        self.deps = np.zeros((S, width))
        self.dep_cap = np.zeros((S, width))
        self.dep_transit = np.zeros((S, width))
        self.n_deps = np.zeros(S, np.int64)
        for s in range(S):
            n = len(t.departures[s])
            self.n_deps[s] = n
            self.deps[s, :n] = t.departures[s]
            self.dep_cap[s, :n] = t.departure_cap[s]
            self.dep_transit[s, :n] = t.departure_transit[s]
        self.shift_cap = np.ascontiguousarray(t.shift_staff * t.shift_rate, float)
        self.surge_rate = np.asarray(t.surge["rate"], float)
        self.route = np.ascontiguousarray(t.route, float)
        self.courier_count = np.asarray(t.courier_count, np.int64)
        self.courier_rate = np.ascontiguousarray(t.courier_rate, float)
        self.horizon = int(t.horizon)
        self.outages = t.outages
        self.shortfalls = t.shortfalls
        self.S, self.R = S, R
        self._site_mult = np.ones((S, LOOKAHEAD))
        self._courier_mult = np.ones((R, LOOKAHEAD))
        self._site_eta = np.zeros(S)
        self._seg_a = np.zeros((S, max(width, LOOKAHEAD) + 1))
        self._seg_b = np.zeros_like(self._seg_a)
        self._seg_q = np.zeros_like(self._seg_a)
        self._n_seg = np.zeros(S, np.int64)

    def quote(
        self,
        now: float,
        *,
        surge_staff: np.ndarray | list[float] | None = None,
        surge_pending: np.ndarray | list[float] | None = None,
        surge_due: np.ndarray | list[float] | None = None,
        pick_ahead: np.ndarray | list[list[float]] | None = None,
        dispatch_ahead: np.ndarray | list[list[float]] | None = None,
        courier_waiting: np.ndarray | list[float] | None = None,
        transit: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Hours from ``now`` to the door for an order placed now, per region.

        Parameters
        ----------
        now
            Campaign hour of the quote (an hour mark in both models).
        surge_staff
            Surge workers on site, per site (assumed to stay).
        surge_pending, surge_due
            Surge workers requested and on their way, per site, and when they arrive.
        pick_ahead, dispatch_ahead
            Orders waiting to be picked / picked and waiting for a truck, per site and
            region ``[S, R]``.
        courier_waiting
            Parcels waiting for the couriers now, per region.
        transit
            Parcels on their way to the couriers: (region, arrival time, parcels), three
            arrays of equal length.
        """
        S, R = self.S, self.R

        def per(x: object, shape: tuple[int, ...]) -> np.ndarray:
            return np.zeros(shape) if x is None else np.asarray(x, float).reshape(shape)

        if transit is None:
            transit = (np.zeros(0), np.zeros(0), np.zeros(0))
        tr = (
            np.asarray(transit[0], np.int64),
            np.asarray(transit[1], float),
            np.asarray(transit[2], float),
        )
        self._faults(float(now))
        out = np.zeros(R)
        _quote(
            float(now), self.horizon, self.shift_cap, self.surge_rate, per(surge_staff, (S,)),
            per(surge_pending, (S,)), per(surge_due, (S,)), self._site_mult,
            per(pick_ahead, (S, R)), per(dispatch_ahead, (S, R)), self.deps, self.dep_cap,
            self.dep_transit, self.n_deps, self.route, self.courier_count, self.courier_rate,
            self._courier_mult, per(courier_waiting, (R,)), *tr, self._site_eta, self._seg_a,
            self._seg_b, self._seg_q, self._n_seg, out,
        )  # fmt: skip
        return out

    def _faults(self, now: float) -> None:
        """The capacity factors of the faults in force at ``now``, hour by hour of the
        look-ahead until each one's scheduled end (an hour it ends in takes the factor
        for the part of it the fault covers)."""
        h0 = int(now)
        for mult, faults in (
            (self._site_mult, self.outages),
            (self._courier_mult, self.shortfalls),
        ):
            mult[:] = 1.0
            for i, a, b, f in faults:
                if a <= now + EPS < b:
                    k = np.arange(min(LOOKAHEAD, max(math.ceil(b) - h0, 0)))
                    cover = np.clip(b - (h0 + k), 0.0, 1.0)
                    mult[i, : len(k)] *= 1.0 - (1.0 - f) * cover


def toy_tables(t: FulfilmentTables, pick: float, **changes: object) -> FulfilmentTables:
    """Tables of one site and one region with a constant ``pick`` capacity an hour and no
    linehaul, couriers, surge or faults (``changes``: any other field replaced), built
    on ``t``'s horizon: for examples and tests of the quote."""
    import dataclasses

    T = t.horizon
    none = np.zeros(0)
    base = dict(
        site_names=("site",), region_names=("region",), site_region=np.zeros(1, np.int64),
        route=np.ones((1, 1)), shift_staff=np.ones((1, T), np.int64),
        shift_rate=np.full((1, T), float(pick)), storage=np.array([np.inf]),
        handling_cost=np.zeros(1), surge={k: np.zeros_like(v[:1]) for k, v in t.surge.items()},
        overflow_to=np.array([-1]), overflow_cost=np.zeros(1), overflow_delay=np.zeros(1),
        overflow_cap=np.array([np.inf]), outages=(), departures=(none,), departure_cap=(none,),
        departure_transit=(none,), departure_cost=(none,), courier_rate=np.full((1, T), np.inf),
        courier_count=np.zeros(1, np.int64), courier_cost=np.zeros(1), shortfalls=(),
    )  # fmt: skip
    base.update(changes)
    return dataclasses.replace(t, **base)  # type: ignore[arg-type]


@njit(cache=True)
def _rate(base, mult, h0, k, extra, pend, due):
    """Capacity of hour k: the scheduled ``base[k]``, plus ``extra`` (surge staff on site)
    and ``pend`` for the part of the hour after ``due`` (surge staff on their way), times
    the factor of the faults in force."""
    x = base[k] + extra
    if pend > 0.0:
        x += pend * min(max(k + 1.0 - due, 0.0), 1.0)
    j = k - h0
    if 0 <= j < mult.shape[0]:
        x *= mult[j]
    return x


@njit(cache=True)
def _when(base, mult, h0, hi, extra, pend, due, t0, work):
    """The time at which the capacity from ``t0`` has done ``work`` (``t0 + LOOKAHEAD`` if
    it has not by hour ``hi``)."""
    k = math.floor(t0)
    gone = t0 - k  # the part of hour k before t0
    cum = 0.0
    while k < hi:
        r = _rate(base, mult, h0, k, extra, pend, due)
        avail = r * (1.0 - gone)
        if avail > 0.0 and cum + avail >= work:
            return k + gone + (work - cum) / r
        cum += avail
        gone = 0.0
        k += 1
    return t0 + LOOKAHEAD


@njit(cache=True)
def _work(base, mult, h0, hi, extra, pend, due, ta, tb):
    """The capacity between ``ta`` and ``tb`` (none beyond hour ``hi``)."""
    total = 0.0
    k = math.floor(ta)
    while k < hi and k < tb:
        lo = max(ta, float(k))
        up = min(tb, k + 1.0)
        if up > lo:
            total += _rate(base, mult, h0, k, extra, pend, due) * (up - lo)
        k += 1
    return total


@njit(cache=True)
def _site(
    s, now, h0, hi, shift_cap, extra, pend, due, smult, a_pick, a_disp, deps, dep_cap,
    dep_transit, n_deps, seg_a, seg_b, seg_q,
):  # fmt: skip
    """Site s: when the new order reaches the last mile, and how the orders ahead of it
    reach it: ``seg_q`` orders arriving evenly over [``seg_a``, ``seg_b``] (a truck:
    ``seg_a`` = ``seg_b``). Returns the time and the number of segments."""
    cap, mult = shift_cap[s], smult[s]
    t_pick = _when(cap, mult, h0, hi, extra, pend, due, now, a_pick + 1.0)
    n = n_deps[s]
    m = 0
    if n == 0:  # same city: the orders ahead reach the couriers as they are picked
        left = a_pick
        t = now
        while left > EPS and t < hi:
            k = math.floor(t)
            r = _rate(cap, mult, h0, k, extra, pend, due)
            x = min(left, r * (k + 1.0 - t))
            if x > EPS:
                seg_a[s, m] = t
                seg_b[s, m] = t + x / r
                seg_q[s, m] = x
                m += 1
                left -= x
            t = k + 1.0
        return t_pick, m
    ahead = a_pick + a_disp
    j = 0
    while j < n and deps[s, j] < now - EPS:  # the first departure from now on
        j += 1
    sent = 0.0
    while j < n:
        d = deps[s, j]
        arrive = d + dep_transit[s, j]
        if d >= t_pick - EPS and sent + dep_cap[s, j] > ahead:  # the new order leaves
            if ahead - sent > EPS:  # with the rest of the orders ahead
                seg_a[s, m] = seg_b[s, m] = arrive
                seg_q[s, m] = ahead - sent
                m += 1
            return arrive, m
        ready = a_disp + min(a_pick, _work(cap, mult, h0, hi, extra, pend, due, now, d))
        load = min(dep_cap[s, j], max(ready - sent, 0.0))
        if load > EPS:
            seg_a[s, m] = seg_b[s, m] = arrive
            seg_q[s, m] = load
            m += 1
            sent += load
        j += 1
    return now + LOOKAHEAD, m


@njit(cache=True)
def _queue_at(cap, mult, h0, hi, now, ts, waiting, ev_t, ev_rate, ev_q, order):
    """The fluid FIFO queue of a courier pool at ``ts``: ``waiting`` at ``now``, arrivals
    from the events (``order``: sorted by time; at ``ev_t`` the inflow rate changes by
    ``ev_rate`` and ``ev_q`` parcels arrive at once), served at the pool's capacity."""
    queue = waiting
    lam = 0.0
    x = now
    k = 0
    E = order.shape[0]
    while True:
        while k < E and ev_t[order[k]] <= x + EPS:
            lam += ev_rate[order[k]]
            queue += ev_q[order[k]]
            k += 1
        if x >= ts - EPS:
            return queue
        h = math.floor(x + EPS)
        y = min(ts, h + 1.0)
        if k < E:
            y = min(y, ev_t[order[k]])
        mu = _rate(cap, mult, h0, h, 0.0, 0.0, 0.0) if h < hi else 0.0
        queue = max(queue + (max(lam, 0.0) - mu) * (y - x), 0.0)
        x = y


@njit(cache=True)
def _quote(
    now, horizon_all, shift_cap, surge_rate, surge_staff, surge_pending, surge_due, smult,
    pick_ahead, dispatch_ahead, deps, dep_cap, dep_transit, n_deps, route, courier_count,
    courier_rate, cmult, waiting, tr_region, tr_time, tr_qty, site_eta, seg_a, seg_b, seg_q,
    n_seg, out,
):  # fmt: skip
    S, R = pick_ahead.shape
    h0 = int(now)
    hi = min(horizon_all, h0 + LOOKAHEAD)
    total = np.zeros(S)
    for s in range(S):
        a_pick = 0.0
        a_disp = 0.0
        for r in range(R):
            a_pick += pick_ahead[s, r]
            a_disp += dispatch_ahead[s, r]
        total[s] = a_pick + a_disp
        site_eta[s], n_seg[s] = _site(
            s, now, h0, hi, shift_cap, surge_staff[s] * surge_rate[s],
            surge_pending[s] * surge_rate[s], surge_due[s], smult, a_pick, a_disp, deps,
            dep_cap, dep_transit, n_deps, seg_a, seg_b, seg_q,
        )  # fmt: skip
    E = tr_region.shape[0] + 2 * n_seg.sum()
    ev_t, ev_rate, ev_q = np.empty(E), np.empty(E), np.empty(E)
    for r in range(R):
        m = 0
        if courier_count[r]:
            # what reaches region r's couriers from now on: the parcels on the road, and
            # the region's share of what each site sends
            for q in range(tr_region.shape[0]):
                if tr_region[q] == r:
                    ev_t[m], ev_rate[m], ev_q[m] = tr_time[q], 0.0, tr_qty[q]
                    m += 1
            for s in range(S):
                share = (
                    (pick_ahead[s, r] + dispatch_ahead[s, r]) / total[s] if total[s] > 0 else 0.0
                )
                for k in range(n_seg[s]):
                    a, b, x = seg_a[s, k], seg_b[s, k], seg_q[s, k] * share
                    if b > a:  # evenly over [a, b]
                        ev_t[m], ev_rate[m], ev_q[m] = a, x / (b - a), 0.0
                        ev_t[m + 1], ev_rate[m + 1], ev_q[m + 1] = b, -x / (b - a), 0.0
                        m += 2
                    else:  # at once
                        ev_t[m], ev_rate[m], ev_q[m] = a, 0.0, x
                        m += 1
        order = np.argsort(ev_t[:m], kind="mergesort")
        door = 0.0
        for site in range(S):
            if route[r, site] <= 0:
                continue
            ts = site_eta[site]
            if courier_count[r] and ts < now + LOOKAHEAD - EPS:
                # the couriers serve the queue they have when the new order arrives first
                cap, mult = courier_rate[r], cmult[r]
                ahead = _queue_at(
                    cap, mult, h0, hi, now, ts, waiting[r], ev_t, ev_rate, ev_q, order
                )
                ts = _when(cap, mult, h0, hi, 0.0, 0.0, 0.0, max(ts, now), ahead + 1.0)
            door += route[r, site] * ts
        out[r] = min(max(door - now, 0.0), float(LOOKAHEAD))
