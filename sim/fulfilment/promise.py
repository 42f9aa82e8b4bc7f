"""The delivery time quoted at checkout: a FIFO projection through known capacity.

Both fulfilment modes call a :class:`Quoter` with what is ahead of a new order
in each queue (orders waiting to be picked, waiting for a truck, waiting for or
on their way to a courier); it walks forward through the capacity the model
knows of (the shift schedule plus the surge staff on site, the departures with
room, the couriers' working hours) until those orders are served.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.fulfilment.tables import FulfilmentTables

EPS = 1e-9
LOOKAHEAD = 24 * 14
"""Hours the projection looks ahead; beyond it the quote is capped."""


class Quoter:
    """The quote for one set of tables, packed once into arrays for a numba kernel (the
    hourly quote was most of a small replicate's fulfilment time in numpy:
    a cumulative sum over two weeks of hours per site and region; the kernel stops at
    the hour the orders ahead are served). Same arithmetic in the same order: the same
    quotes to the last bit."""

    def __init__(self, t: FulfilmentTables) -> None:
        S = len(t.site_names)
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
        self.shift_cap = t.shift_staff * t.shift_rate  # picks per hour on the shifts
        self.surge_rate = np.asarray(t.surge["rate"], float)
        self.route = np.ascontiguousarray(t.route, float)
        self.courier_count = np.asarray(t.courier_count, np.int64)
        self.courier_rate = np.ascontiguousarray(t.courier_rate, float)
        self.horizon = int(t.horizon)
        self._site_eta = np.zeros(S)

    def __call__(
        self,
        now: float,
        surge_staff: np.ndarray,
        pick_ahead: np.ndarray,
        dispatch_ahead: np.ndarray,
        courier_ahead: np.ndarray,
    ) -> np.ndarray:
        """Hours from ``now`` to the door for an order placed now, per region.

        Parameters
        ----------
        now
            Campaign hour of the quote.
        surge_staff
            Surge workers on site, per site (assumed to stay).
        pick_ahead, dispatch_ahead
            Orders waiting to be picked / picked and waiting for a truck, per site.
        courier_ahead
            Parcels waiting for or travelling to the couriers, per region.
        """
        out = np.zeros(self.route.shape[0])
        _quote(
            float(now), self.horizon, self.shift_cap, self.surge_rate,
            np.asarray(surge_staff, float), np.asarray(pick_ahead, float),
            np.asarray(dispatch_ahead, float), np.asarray(courier_ahead, float), self.deps,
            self.dep_cap, self.dep_transit, self.n_deps, self.route, self.courier_count,
            self.courier_rate, self._site_eta, out,
        )  # fmt: skip
        return out


@njit(cache=True)
def _done(rate, lo, hi, extra, ahead, start):
    """:func:`when_done` on the hourly capacities ``rate[lo:hi] + extra``."""
    x = ahead + 1.0
    cum = 0.0
    for k in range(max(hi - lo, 0)):
        r = rate[lo + k] + extra
        before = cum
        cum += r
        if cum >= x:
            return start + k + (x - before) / r
    return start + LOOKAHEAD


@njit(cache=True)
def _quote(
    now, horizon_all, shift_cap, surge_rate, surge_staff, pick_ahead, dispatch_ahead,
    courier_ahead, deps, dep_cap, dep_transit, n_deps, route, courier_count, courier_rate,
    site_eta, out,
):  # fmt: skip
    h0 = int(now)
    horizon = min(horizon_all, h0 + LOOKAHEAD)
    for s in range(shift_cap.shape[0]):
        ahead = pick_ahead[s]
        t_pick = _done(shift_cap[s], h0, horizon, surge_staff[s] * surge_rate[s], ahead, now)
        n = n_deps[s]
        if n:
            ahead += dispatch_ahead[s]
            j = 0
            while j < n and deps[s, j] < now - EPS:  # the first departure from now on
                j += 1
            cum = 0.0
            site_eta[s] = now + LOOKAHEAD
            while j < n:  # the first with room for the orders ahead, after the pick
                cum += dep_cap[s, j]
                if cum > ahead and deps[s, j] >= t_pick - EPS:
                    site_eta[s] = deps[s, j] + dep_transit[s, j]
                    break
                j += 1
        else:
            site_eta[s] = t_pick
    for r in range(route.shape[0]):
        door = 0.0
        for site in range(route.shape[1]):
            if route[r, site] > 0:
                ts = site_eta[site]
                if courier_count[r]:
                    k = int(math.ceil(ts - EPS))  # noqa: RUF046 (an int in numba too)
                    ts = _done(courier_rate[r], k, horizon, 0.0, courier_ahead[r], float(k))
                door += route[r, site] * ts
        out[r] = max(door - now, 0.0)


def when_done(rate: np.ndarray, ahead: float, start: float) -> float:
    """Time at which hourly capacities ``rate`` from ``start`` have served ``ahead`` + 1 orders.

    Examples
    --------
    >>> when_done(np.array([0.0, 10.0, 10.0]), 14.0, 5.0)
    7.5
    """
    if len(rate) == 0:
        return start + LOOKAHEAD
    cum = np.cumsum(rate)
    k = int(np.searchsorted(cum, ahead + 1.0))
    if k >= len(cum):
        return start + LOOKAHEAD
    before = cum[k - 1] if k else 0.0
    return float(start + k + (ahead + 1.0 - before) / rate[k])
