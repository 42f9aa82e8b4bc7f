"""What the cohort and per-order fulfilment models share: the clock, the intake of an
hour's orders, the quoted promise and the results."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import simpy

from sim.fulfilment.outputs import Books
from sim.fulfilment.promise import Quoter
from sim.fulfilment.resources import Capacity, Surge
from sim.fulfilment.tables import FulfilmentTables


class FulfilmentModel:
    """Base of both modes; subclasses build ``env``, ``books`` and the processes."""

    t: FulfilmentTables
    env: simpy.Environment
    books: Books
    T: int
    R: int
    return_share: np.ndarray  # [campaign hour, region]: share of orders returned
    _promise: np.ndarray  # [region]: hours quoted at the last hour mark
    _quote: Quoter
    sites: list[Capacity]
    surge: list[Surge]

    def _intake(
        self, h: int, orders: np.ndarray, tails: np.ndarray | None, returns: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Book the hour's orders and return shares; return the orders per region and
        the pre-positioned presale tails among them."""
        orders = np.asarray(orders, float)
        pre = np.zeros(self.R) if tails is None else np.asarray(tails, float)
        pre = np.minimum(pre * self.t.preposition_share, orders)
        if returns is not None:
            self.return_share[h] = np.divide(
                returns, orders, out=np.zeros(self.R), where=orders > 0
            )
        self.books.add("orders_in", h, orders, region=True)
        return orders, pre

    def _quote_ahead(
        self,
        now: float,
        pick: np.ndarray,
        dispatch: np.ndarray,
        couriers: list[float],
        transit: tuple[list[int], list[float], list[float]],
    ) -> np.ndarray:
        """The quote (:class:`~sim.fulfilment.promise.Quoter`) for what is ahead: orders
        to pick and waiting for a truck by site and region, parcels waiting for each
        region's couriers, and those on their way to them (region, arrival, parcels); the
        surge staff on site and on their way are the model's own."""
        region, when, qty = transit
        return self._quote.quote(
            now,
            surge_staff=[c.staff["surge"] for c in self.sites],
            surge_pending=[g.pending for g in self.surge],
            surge_due=[g.due for g in self.surge],
            pick_ahead=pick,
            dispatch_ahead=dispatch,
            courier_waiting=couriers,
            transit=(np.array(region, np.int64), np.array(when, float), np.array(qty, float)),
        )

    def _truck_room(self, s: int, now: float) -> float:
        """Room on site s's departure at ``now`` (0 without one): the storage check at an
        hour mark runs before a truck leaving at that mark, and does not count the
        orders it is about to take."""
        return float(self._rooms[s].get(float(now), 0.0))

    @cached_property
    def _rooms(self) -> list[dict[float, float]]:
        """Per site: departure time -> room (the storage checks are at whole hours)."""
        t = self.t
        return [
            dict(zip(t.departures[i].tolist(), t.departure_cap[i].tolist(), strict=True))
            for i in range(len(t.site_names))
        ]

    def run_until(self, t: float) -> None:
        """Run the SimPy model up to time t, including the events at t."""
        if t > self.env.now:  # (simpy refuses to run until the current time)
            self.env.run(until=t)
        while self.env.peek() <= t:
            self.env.step()

    def finish(self) -> None:
        """Drain the system to the end of the fulfilment horizon."""
        self.run_until(self.T)

    def promise(self) -> np.ndarray:
        """Hours to the door a new order would be quoted now, per region."""
        return self._promise.copy()

    def results(self) -> dict[str, Any]:
        """The named hourly series and delay histograms (:class:`Books`)."""
        return self.books.results()
