"""Accumulators of the fulfilment models: hourly series per site and region, delay histograms.

Both modes book into the same :class:`Books`, so their results have the same
names, shapes and meaning. Quantities are real-world orders (floats in cohort
mode, where cohorts split), money in currency units.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.fulfilment.tables import FulfilmentTables

DELAY_BINS = 24 * 30
"""Hourly bins of the delay histograms (30 days; the last bin holds longer delays)."""

WITHIN = ("delivered_24h", "delivered_48h", "delivered_72h", "delivered_on_time")
"""Deliveries booked within a limit (24, 48, 72 h and the promise), per region and site."""

# name: (per "site" or "region", units, description)
SERIES: dict[str, tuple[str, str, str]] = {
    "arrivals": ("site", "orders", "Orders arriving at the site from shoppers"),
    "transfers_in": ("site", "orders", "Orders arriving as overflow from a neighbouring site"),
    "transfers_out": ("site", "orders", "Orders sent to a neighbouring site as overflow"),
    "picked": ("site", "orders", "Orders picked and packed"),
    "capacity": ("site", "orders", "Picks the staff on duty could do in the hour"),
    "staff": ("site", "worker-hours", "Worker-hours on duty (shifts and surge)"),
    "surge_staff": ("site", "worker-hours", "Surge worker-hours on site"),
    "backlog": ("site", "orders", "Orders waiting to be picked at the end of the hour"),
    "awaiting_dispatch": (
        "site",
        "orders",
        "Picked orders waiting for a truck at the end of the hour",
    ),
    "storage_used": ("site", "orders", "Orders held at the site at the end of the hour"),
    "overload": ("site", "1", "1 if the site's storage was full in the hour (overload, 爆仓)"),
    "overflow": (
        "site",
        "orders",
        "Orders waiting to be picked sent away because storage was full",
    ),
    "overflow_third_party": ("site", "orders", "Overflowed orders handled by a third party"),
    "overflow_packed": (
        "site",
        "orders",
        "Picked orders waiting for a truck handed to a third party because storage was full "
        "(counted as shipped)",
    ),
    "shipped": (
        "site",
        "orders",
        "Picked orders leaving the site (truck, same-city courier or, overflowed, a third party)",
    ),
    "site_delivered": ("site", "orders", "Orders from the site delivered to the door"),
    "site_delivered_24h": ("site", "orders", "Orders from the site delivered within 24 h"),
    "site_delivered_48h": ("site", "orders", "Orders from the site delivered within 48 h"),
    "site_delivered_72h": ("site", "orders", "Orders from the site delivered within 72 h"),
    "site_delivered_on_time": (
        "site",
        "orders",
        "Orders from the site delivered within the promise",
    ),
    "returns_processed": ("site", "orders", "Returns inspected and restocked or written off"),
    "returns_backlog": ("site", "orders", "Returns waiting for handling at the end of the hour"),
    "site_cost": ("site", "currency", "Handling, surge staff, overflow and returns cost"),
    "linehaul_cost": ("site", "currency", "Cost of truck departures"),
    "orders_in": ("region", "orders", "Orders placed by the region's shoppers"),
    "prepositioned": ("region", "orders", "Presale orders picked ahead in forward warehouses"),
    "delivered": ("region", "orders", "Orders delivered to the door"),
    "delivered_24h": ("region", "orders", "Orders delivered within 24 h of ordering"),
    "delivered_48h": ("region", "orders", "Orders delivered within 48 h of ordering"),
    "delivered_72h": ("region", "orders", "Orders delivered within 72 h of ordering"),
    "delivered_on_time": ("region", "orders", "Orders delivered within the delivery promise"),
    "courier_capacity": ("region", "orders", "Parcels the couriers on duty could deliver"),
    "courier_backlog": ("region", "orders", "Parcels waiting for a courier at the end of the hour"),
    "courier_cost": ("region", "currency", "Last-mile delivery cost"),
    "returns_shipped": ("region", "orders", "Delivered orders that will come back as returns"),
    "promise": (
        "region",
        "hours",
        "Delivery time quoted at checkout (FIFO projection of the backlog)",
    ),
    "delivered_by_order_hour": (
        "region",
        "orders",
        "Orders placed in the hour that reached the door (booked to the hour they were placed)",
    ),
    "delivery_hours_by_order_hour": (
        "region",
        "hours",
        "Order-to-door hours of the orders placed in the hour, summed (divided by "
        "delivered_by_order_hour: their mean delivery time, to set against the promise)",
    ),
}


class Books:
    """Hourly series [T, S] or [T, R] and delay histograms, filled by a fulfilment model."""

    def __init__(self, t: FulfilmentTables) -> None:
        self.t = t
        S, R, T = len(t.site_names), len(t.region_names), t.horizon
        self.series = {
            k: np.zeros((T, S if dim == "site" else R)) for k, (dim, _, _) in SERIES.items()
        }
        # the deliveries, all and within each limit, per region and per site: views into
        # one array each, so that a delivery is booked in one operation per dimension
        self._by_region = np.zeros((len(WITHIN) + 1, T, R))
        self._by_site = np.zeros((len(WITHIN) + 1, T, S))
        for k, name in enumerate(("delivered", *WITHIN)):
            self.series[name] = self._by_region[k]
            self.series[f"site_{name}"] = self._by_site[k]
        self.limits = np.array([24.0, 48.0, 72.0, float(t.promise_hours)])
        """The limits of ``WITHIN``, in hours."""
        self._share = np.ones(len(WITHIN) + 1)  # 1 (all delivered), then within each limit
        self.promise = self.series["promise"]
        self.hist = {
            "dispatch_delay": np.zeros((S, DELAY_BINS)),
            "door_delay": np.zeros((R, DELAY_BINS)),
        }
        self.delay_sum = {"dispatch_delay": np.zeros(S), "door_delay": np.zeros(R)}
        self.T = T

    def add(self, name: str, h: int, values: np.ndarray, region: bool = False) -> None:
        if h < self.T:
            self.series[name][h] += values

    def add_site(self, name: str, h: int, s: int, value: float) -> None:
        if h < self.T:
            self.series[name][h, s] += value

    def add_region(self, name: str, h: int, r: int, value: float) -> None:
        if h < self.T:
            self.series[name][h, r] += value

    def delay(self, name: str, i: int, qty: float, delay: float) -> None:
        b = min(max(int(delay), 0), DELAY_BINS - 1)
        self.hist[name][i, b] += qty
        self.delay_sum[name][i] += qty * delay

    def delivered(
        self, r: int, qty: float, ot: float, when: float, by_site: np.ndarray | None = None
    ) -> None:
        """Book a delivery to region r (``by_site``: the same orders split by the site
        they left from). A cohort's orders spread over an hour, so a portion with mean
        delay d counts as spread evenly over [d - 1/2, d + 1/2) against the thresholds."""
        d = when - ot
        within = np.minimum(np.maximum(self.limits - (d - 0.5), 0.0), 1.0)
        self.delivered_share(r, qty, when, d, by_site, within)
        self.delay("door_delay", r, qty, d)

    def delivered_share(
        self,
        r: int,
        qty: float,
        when: float,
        d: float,
        by_site: np.ndarray | None,
        within: np.ndarray,
    ) -> None:
        """Book ``qty`` delivered at ``when`` after a delay ``d``; ``within[k]`` is the
        share of them delivered within ``limits[k]`` hours."""
        h = min(int(when), self.T - 1)
        s = self.series
        o = min(max(int(when - d), 0), self.T - 1)  # the hour the orders were placed
        s["delivered_by_order_hour"][o, r] += qty
        s["delivery_hours_by_order_hour"][o, r] += qty * d
        share = self._share
        share[1:] = within
        self._by_region[:, h, r] += qty * share
        if by_site is not None:
            self._by_site[:, h] += share[:, None] * by_site

    def results(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"fulfilment_{k}": v.copy() for k, v in self.series.items()}
        for k, v in self.hist.items():
            out[f"{k}_hist"] = v.copy()
            out[f"{k}_sum"] = self.delay_sum[k].copy()
        return out
