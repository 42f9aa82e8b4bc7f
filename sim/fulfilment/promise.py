"""The delivery time quoted at checkout: a FIFO projection through known capacity.

Both fulfilment modes call :func:`quoted_hours` with what is ahead of a new order
in each queue (orders waiting to be picked, waiting for a truck, waiting for or
on their way to a courier); it walks forward through the capacity the model
knows of (the shift schedule plus the surge staff on site, the departures with
room, the couriers' working hours) until those orders are served.
"""

from __future__ import annotations

import math

import numpy as np

from sim.fulfilment.tables import FulfilmentTables

EPS = 1e-9
LOOKAHEAD = 24 * 14
"""Hours the projection looks ahead; beyond it the quote is capped."""


def quoted_hours(
    t: FulfilmentTables,
    now: float,
    surge_staff: np.ndarray,
    pick_ahead: np.ndarray,
    dispatch_ahead: np.ndarray,
    courier_ahead: np.ndarray,
) -> np.ndarray:
    """Hours from ``now`` to the door for an order placed now, per region.

    Parameters
    ----------
    t
        The fulfilment tables.
    now
        Campaign hour of the quote.
    surge_staff
        Surge workers on site, per site (assumed to stay).
    pick_ahead, dispatch_ahead
        Orders waiting to be picked / picked and waiting for a truck, per site.
    courier_ahead
        Parcels waiting for or travelling to the couriers, per region.
    """
    h0 = int(now)
    horizon = min(t.horizon, h0 + LOOKAHEAD)
    base = t.shift_staff[:, h0:horizon] * t.shift_rate[:, h0:horizon]
    site_eta = np.zeros(len(t.site_names))
    for s in range(len(t.site_names)):
        ahead = float(pick_ahead[s])
        t_pick = when_done(base[s] + surge_staff[s] * t.surge["rate"][s], ahead, now)
        deps = t.departures[s]
        if len(deps):
            ahead += float(dispatch_ahead[s])
            j0 = int(np.searchsorted(deps, now - EPS))
            cum = np.cumsum(t.departure_cap[s][j0:])
            late = np.flatnonzero((cum > ahead) & (deps[j0:] >= t_pick - EPS))
            if len(late):
                j = j0 + int(late[0])
                site_eta[s] = float(deps[j] + t.departure_transit[s][j])
            else:
                site_eta[s] = now + LOOKAHEAD
        else:
            site_eta[s] = t_pick
    out = np.zeros(len(t.region_names))
    for r in range(len(t.region_names)):
        door = 0.0
        for site in np.flatnonzero(t.route[r] > 0):
            ts = float(site_eta[site])
            if t.courier_count[r]:
                k = math.ceil(ts - EPS)
                rate = t.courier_rate[r, k:horizon] if k < horizon else np.zeros(0)
                ts = when_done(rate, float(courier_ahead[r]), float(k))
            door += t.route[r, site] * ts
        out[r] = max(door - now, 0.0)
    return out


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
