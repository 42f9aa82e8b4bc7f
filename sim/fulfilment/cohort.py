"""Cohort mode: orders move as fluid (site, hour) cohorts through SimPy-driven capacity.

Each stage is a FIFO queue of chunks; a chunk is the orders of one origin hour
(its mean order time ``ot``) split by region. Capacity comes from
:class:`~sim.fulfilment.resources.Capacity` objects that SimPy processes change at
shift boundaries, surge arrivals and faults; every hour the queue is served with
the work the hour allowed, exactly as a fluid FIFO queue with a constant rate
within the hour (new orders arrive evenly over their hour). The number of SimPy
events grows with hours x (sites + regions + departures), not with the number of
orders.

What the fluid approximation assumes (checked against the exact per-order mode in
tests/test_fulfilment.py: mean order-to-door delay and on-time share within 2%):

- many orders per hour: c pickers at rate mu act as one server at rate c x mu, and
  the time of a single pick (1/mu) and random queueing when capacity exceeds the
  arrivals are negligible against the delays that backlogs cause;
- within an hour, capacity is constant and arrivals are even (at the sites: at their
  order times; at the couriers: parcels arriving within the hour are spread over it);
- a chunk's orders spread over an hour around its mean time, which is how the
  24/48/72 h and on-time thresholds are booked (``Books.delivered``);
- storage, surge and overflow decisions are taken at hour marks, as in per-order mode.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy
from simpy.events import Event

from sim.fulfilment.model import FulfilmentModel
from sim.fulfilment.outputs import Books
from sim.fulfilment.promise import Quoter
from sim.fulfilment.resources import EventLog, at, capacity_processes, every_hour, pools
from sim.fulfilment.tables import FulfilmentTables

EPS = 1e-9
_sum = np.add.reduce  # what ndarray.sum() calls, without its Python wrapper


Origins = tuple[tuple[float, np.ndarray], ...]
"""Chunks merged into one: (order time - the merged chunk's, its orders / the merged total)."""


class Chunk:
    """Orders of one origin: quantity per region, mean order time, when ready.

    A chunk merged from several (parcels reaching the couriers within one hour) keeps
    them in ``origins``, so that what is delivered of it is booked to the hours its
    orders were placed in; its pieces keep them too.
    """

    __slots__ = ("hops", "origins", "ot", "q", "ready", "total")

    def __init__(
        self, ot: float, ready: float, q: np.ndarray, hops: int = 0, origins: Origins = ()
    ) -> None:
        self.ot, self.ready, self.q, self.hops, self.origins = ot, ready, q, hops, origins
        self.total = float(_sum(q))  # kept in step with q: q only changes in split()

    def split(self, frac: float) -> Chunk:
        """Take ``frac`` of this chunk away (returned); the rest stays."""
        part = self.q * frac
        self.q = self.q - part
        self.total = float(_sum(self.q))
        return Chunk(self.ot, self.ready, part, self.hops, self.origins)

    @staticmethod
    def merged(chunks: list[Chunk], ready: float) -> Chunk:
        """One chunk of several, at their mean order time, remembering them."""
        qty = sum(c.total for c in chunks)
        ot = sum(c.ot * c.total for c in chunks) / qty
        q = np.sum([c.q for c in chunks], axis=0)
        return Chunk(ot, ready, q, 0, tuple((c.ot - ot, c.q / qty) for c in chunks))

    def pieces(self) -> list[tuple[float, np.ndarray]]:
        """(order time, orders) of what this chunk holds, by origin."""
        if not self.origins:
            return [(self.ot, self.q)]
        return [(self.ot + d, w * self.total) for d, w in self.origins]


def serve_hour(
    queue: deque[Chunk], work: float, h: int, new: Chunk | None = None
) -> tuple[list[tuple[Chunk, float]], float]:
    """Serve a FIFO queue for the hour [h, h+1) at a constant rate of ``work`` per hour.

    ``queue`` holds chunks waiting at time h; ``new`` (optional) arrives evenly over
    the hour, in the order its orders were placed: at the sites each order arrives at
    its order time (``new.ot`` = h + 1/2); at the couriers a chunk placed earlier
    (``new.ot`` < h + 1/2) arrives over the hour, its orders keeping their age. Returns
    the served portions (with their own mean order times) and their mean completion
    times, and the work used. Unserved orders stay in ``queue``.

    Examples
    --------
    >>> q = deque([Chunk(0.5, 1.0, np.array([10.0]))])
    >>> done, used = serve_hour(q, 20.0, 1, Chunk(1.5, 1.0, np.array([10.0])))
    >>> [(round(c.total, 6), round(t, 6)) for c, t in done]  # the new orders all wait
    [(10.0, 1.25), (10.0, 1.75)]
    >>> used
    20.0
    >>> q = deque([Chunk(0.5, 1.0, np.array([5.0]))])
    >>> done, used = serve_hour(q, 20.0, 1, Chunk(1.5, 1.0, np.array([10.0])))
    >>> [(round(c.total, 6), round(t, 6)) for c, t in done]  # they catch up at 1.5
    [(5.0, 1.125), (5.0, 1.375), (5.0, 1.75)]
    >>> used
    15.0
    """
    out: list[tuple[Chunk, float]] = []
    r = work
    s = 0.0
    while queue and s < r - EPS:
        c = queue[0]
        tot = c.total
        take = min(tot, r - s)
        done = h + (s + take / 2) / r
        if take >= tot - EPS:
            queue.popleft()
            part = c
        else:
            part = c.split(take / tot)
        out.append((part, done))
        s += take
    if new is None or new.total <= EPS:
        return out, s
    A = new.total
    if queue or s >= r - EPS:
        queue.append(new)
        return out, s
    B = s  # the backlog took [h, h + B/r); new order at x is served at max(x, (B + A x)/r)
    xmax = 1.0 if r + EPS >= B + A else (r - B) / A
    xstar = B / (r - A) if r > A else math.inf
    x1 = min(xstar, xmax)
    for a, b, wait in (
        (0.0, x1, lambda x: (B + A * x) / r - x),  # waits behind the backlog
        (x1, xmax, lambda x: 0.0),  # caught up: served on arrival
    ):
        if b - a > EPS:
            part = Chunk(
                new.ot + (a + b - 1) / 2, new.ready, new.q * (b - a), new.hops, new.origins
            )
            out.append((part, h + (a + b) / 2 + (wait(a) + wait(b)) / 2))
    served = A * xmax
    if xmax < 1.0 - EPS:
        rest = Chunk(new.ot + xmax / 2, new.ready, new.q * (1 - xmax), new.hops, new.origins)
        queue.append(rest)
    return out, s + served


class CohortFulfilment(FulfilmentModel):
    """The fulfilment model in cohort mode, advanced epoch by epoch.

    Parameters
    ----------
    tables
        The compiled fulfilment section (``plan.fulfilment``).
    log
        Optional event log: (time, kind, name, value) for shifts, surge requests,
        arrivals and departures, faults and trucks.

    Use ``add_orders(h, ...)`` with the orders of hour h, then ``run_until(h + 1)``;
    ``promise()`` is the delivery time (hours) a new order would be quoted per region.
    After the last campaign hour, ``finish()`` drains the system and ``results()``
    returns the named arrays.
    """

    def __init__(self, tables: FulfilmentTables, log: EventLog | None = None) -> None:
        t = self.t = tables
        self._quote = Quoter(tables)  # the delivery promise, every hour
        self.env = env = simpy.Environment()
        self.log = log
        S, R, T = len(t.site_names), len(t.region_names), t.horizon
        self.S, self.R, self.T = S, R, T
        self.books = Books(t)
        self.pick_q: list[deque[Chunk]] = [deque() for _ in range(S)]
        self.dispatch_q: list[deque[Chunk]] = [deque() for _ in range(S)]
        self.courier_q: list[deque[Chunk]] = [deque() for _ in range(R)]
        self.arriving: list[dict[int, list[Chunk]]] = [{} for _ in range(S)]  # transfers in
        self.to_couriers: list[dict[int, list[Chunk]]] = [{} for _ in range(R)]
        self.returns_q = np.zeros(S)
        self.returns_arriving: list[dict[int, float]] = [{} for _ in range(S)]
        self.new: dict[int, list[Chunk | None]] = {}
        self.forward: list[Chunk] = []  # pre-picked presale orders waiting for release
        self.return_share = np.zeros((t.hours, R))
        self.sites, self.couriers = pools(env, t)
        self.surge = capacity_processes(
            env, t, self.sites, self.couriers, log, lambda i: env.process(self._trucks(i))
        )
        env.process(every_hour(env, T, self._tick))
        if t.preposition_share > 0:
            env.process(self._release())
        self._promise = np.zeros(R)
        self._unit = np.eye(S)  # _from: orders of one site
        self._route_sites = [  # the sites serving each region and their shares
            [(s, float(t.route[r, s])) for s in np.flatnonzero(t.route[r] > 0)] for r in range(R)
        ]
        self._drained = False  # after the campaign, once no order or return is left

    # -- input -------------------------------------------------------------------
    def add_orders(
        self,
        h: int,
        orders: np.ndarray,
        tails: np.ndarray | None = None,
        returns: np.ndarray | None = None,
    ) -> None:
        """Orders of campaign hour h per region (real-world counts), the presale tails
        among them, and the orders among them that will be returned."""
        t = self.t
        orders, pre = self._intake(h, orders, tails, returns)
        regular = orders - pre
        chunks: list[Chunk | None] = []
        for s in range(self.S):
            q = regular * t.route[:, s]
            chunks.append(Chunk(h + 0.5, float(h), q) if q.sum() > EPS else None)
        self.new[h] = chunks
        if pre.sum() > EPS:
            c = Chunk(h + 0.5, max(h + 0.5, t.release_at), pre)
            self.books.add("prepositioned", h, pre, region=True)
            # picked ahead by the sites serving their region: their handling is paid now
            self.books.add("site_cost", h, (pre @ t.route) * t.handling_cost)
            if c.ready > h + 1:
                self.forward.append(c)
            else:
                self._to_couriers(c, c.ready)

    # -- processes -------------------------------------------------------------------
    def _release(self) -> Generator[Event, Any, None]:
        yield self.env.timeout(max(self.t.release_at - self.env.now, 0.0))
        if self.log is not None:
            self.log.append(
                (
                    float(self.env.now),
                    "preposition_release",
                    "all",
                    sum(c.total for c in self.forward),
                )
            )
        for c in self.forward:
            self._to_couriers(c, float(self.env.now))
        self.forward = []

    def _trucks(self, s: int) -> Generator[Event, Any, None]:
        t = self.t
        deps, caps, transit, cost = (
            t.departures[s],
            t.departure_cap[s],
            t.departure_transit[s],
            t.departure_cost[s],
        )
        for d, cap, tr, c in zip(deps, caps, transit, cost, strict=True):
            yield at(self.env, d - self.env.now)
            q = self.dispatch_q[s]
            left = cap
            sent = 0.0
            while q and left > EPS and q[0].ready <= d + EPS:
                c0 = q[0]
                tot = c0.total
                part = q.popleft() if tot <= left + EPS else c0.split(left / tot)
                left -= part.total
                sent += part.total
                self._shipped(s, part, d, d + tr)
            if sent > EPS or d < t.hours:  # the schedule runs for the campaign, then
                self.books.add_site("linehaul_cost", int(d), s, c)  # only trucks with orders
            if self.log is not None:
                self.log.append((float(d), "departure", t.site_names[s], sent))

    # -- the hourly tick ---------------------------------------------------------------
    def _tick(self, h: int) -> None:
        t = self.t
        if self._drained or (h >= t.hours and self._empty()):
            # nothing can arrive any more: only the staff's hours and capacity are booked
            self._drained = True
            self._idle_tick(h)
            return
        now = float(h + 1)
        ser = self.books.series  # h < T here: the ticks run for the fulfilment horizon
        new_h = self.new.get(h)
        for s in range(self.S):
            work, hours = self._staff_hour(s, h)
            q = self.pick_q[s]
            for c in self.arriving[s].pop(h, []):
                q.append(c)
                ser["transfers_in"][h, s] += c.total
            new = new_h[s] if new_h is not None else None
            if new is not None:
                ser["arrivals"][h, s] += new.total
            done, used = serve_hour(q, work, h, new)
            picked = ser["picked"]
            for part, when in done:
                picked[h, s] += part.total
                part.ready = when
                if len(t.departures[s]):
                    self.dispatch_q[s].append(part)
                else:
                    self._shipped(s, part, when, when)
            # returns take what capacity is left, at handling_picks per return
            self.returns_q[s] += self.returns_arriving[s].pop(h, 0.0)
            late = 0.0
            if h == self.T - 1:  # returns due after the horizon: shown as waiting, not lost
                late = sum(self.returns_arriving[s].values())
                self.returns_arriving[s].clear()
            spare = max(work - used, 0.0)
            ret = (
                min(self.returns_q[s], spare / t.return_handling)
                if t.return_handling > 0
                else self.returns_q[s]
            )
            self.returns_q[s] -= ret
            ser["returns_processed"][h, s] += ret
            ser["returns_backlog"][h, s] += self.returns_q[s] + late
            backlog, wait = self._overflow(s, h, now)
            ser["backlog"][h, s] += backlog
            ser["awaiting_dispatch"][h, s] += wait
            ser["storage_used"][h, s] += backlog + wait
            ser["site_cost"][h, s] += (
                sum(p.total for p, _ in done) * t.handling_cost[s]
                + hours["surge"] * t.surge["cost"][s] + ret * t.return_cost
            )  # fmt: skip
            self.surge[s].check(backlog)
        couriers = [self._deliver(r, h) for r in range(self.R)]
        self.new.pop(h, None)
        if h < t.hours:  # the promise is quoted at checkout: only while the campaign runs
            self._promise = self._eta(now, couriers)
            self.books.promise[h] = self._promise

    def _empty(self) -> bool:
        """No order or return anywhere: queued, in transit, arriving or held forward."""
        return not (
            any(self.pick_q)
            or any(self.dispatch_q)
            or any(self.courier_q)
            or any(self.arriving)
            or any(self.to_couriers)
            or any(self.returns_arriving)
            or self.returns_q.any()
            or self.forward
            or self.new
        )

    def _idle_tick(self, h: int) -> None:
        """The hourly tick of a drained system after the campaign: what :meth:`_tick`
        books when every queue is empty (the same sums: the staff's hours, capacity and
        surge cost; zeros elsewhere, which adding would not change)."""
        t, ser = self.t, self.books.series
        for s in range(self.S):
            _, hours = self._staff_hour(s, h)
            ser["site_cost"][h, s] += hours["surge"] * t.surge["cost"][s]
            self.surge[s].check(0.0)
        for r in range(self.R):
            self._courier_hour(r, h)

    def _staff_hour(self, s: int, h: int) -> tuple[float, dict[str, float]]:
        """Site s's work and worker-hours of hour h, booked; returns them."""
        ser = self.books.series
        work, hours = self.sites[s].take()
        ser["capacity"][h, s] += work
        ser["surge_staff"][h, s] += hours["surge"]
        ser["staff"][h, s] += hours["shift"] + hours["surge"]
        return work, hours

    def _courier_hour(self, r: int, h: int) -> float:
        """Region r's courier capacity of hour h, booked; returns it."""
        work, _ = self.couriers[r].take()
        self.books.add_region("courier_capacity", h, r, work)
        return work

    def _overflow(self, s: int, h: int, now: float) -> tuple[float, float]:
        """Send away what site s cannot store; returns the orders then waiting to be
        picked and waiting for a truck. Orders waiting to be picked go first (newest
        first, to the neighbour or the third party), then picked ones waiting for a
        truck (newest first, to the third party: a packed parcel is not stored again at
        a neighbour). What a truck leaving at this hour mark takes does not count."""
        t, b = self.t, self.books
        q = self.pick_q[s]
        backlog = sum(c.total for c in q)
        waiting = sum(c.total for c in self.dispatch_q[s])
        leaving, room = 0.0, self._truck_room(s, now)  # a truck leaving now takes these
        for c in self.dispatch_q[s]:
            if leaving >= room or c.ready > now + EPS:
                break
            leaving = min(room, leaving + c.total)
        excess = backlog + waiting - leaving - t.storage[s]
        if excess <= EPS:
            return backlog, waiting
        b.add_site("overload", h, s, 1.0)
        third_left = t.overflow_cap[s]
        while q and excess > EPS:
            c = q[-1]
            to = int(t.overflow_to[s])
            third = to < 0 or c.hops > 0  # a transferred order overflows to a third party
            amount = min(excess, c.total, third_left if third else math.inf)
            if amount <= EPS:
                break
            part = q.pop() if amount >= c.total - EPS else _split_tail(c, amount)
            excess -= part.total
            b.add_site("overflow", h, s, part.total)
            b.add_site("site_cost", h, s, part.total * t.overflow_cost[s])
            arrive = now + t.overflow_delay[s]
            if third:
                third_left -= part.total
                b.add_site("overflow_third_party", h, s, part.total)
                for r in np.flatnonzero(part.q > EPS):
                    self._delivered(int(r), self._from(s, int(r), part.q[r]), part.ot, arrive)
            else:
                part.hops += 1
                part.ready = arrive
                self.arriving[to].setdefault(math.ceil(arrive - EPS), []).append(part)
                b.add_site("transfers_out", h, s, part.total)
        # still full of picked orders waiting for a truck: the newest go to the third party
        dq = self.dispatch_q[s]
        while dq and excess > EPS and third_left > EPS:
            c = dq[-1]
            amount = min(excess, c.total, third_left)
            part = dq.pop() if amount >= c.total - EPS else _split_tail(c, amount)
            excess -= part.total
            third_left -= part.total
            b.add_site("overflow_packed", h, s, part.total)
            b.add_site("site_cost", h, s, part.total * t.overflow_cost[s])
            b.add_site("shipped", h, s, part.total)
            b.delay("dispatch_delay", s, part.total, now - part.ot)
            arrive = now + t.overflow_delay[s]
            for r in np.flatnonzero(part.q > EPS):
                self._delivered(int(r), self._from(s, int(r), part.q[r]), part.ot, arrive)
        return sum(c.total for c in q), sum(c.total for c in dq)

    def _shipped(self, s: int, part: Chunk, when: float, arrive: float) -> None:
        """A chunk leaves site s at ``when`` and reaches the last mile at ``arrive``."""
        h = min(int(when), self.T - 1)
        self.books.add_site("shipped", h, s, part.total)
        self.books.delay("dispatch_delay", s, part.total, when - part.ot)
        self._to_couriers(part, arrive, s)

    def _from(self, s: int | None, r: int, qty: float) -> np.ndarray:
        """Orders of region r split by the site they left from (pre-positioned orders,
        s None: by the sites serving the region)."""
        if s is None:
            return qty * self.t.route[r]
        return qty * self._unit[s]

    def _to_couriers(self, part: Chunk, arrive: float, s: int | None = None) -> None:
        """Hand a chunk to the last mile; courier chunks carry their orders by site."""
        for r, qty in enumerate(part.q.tolist()):
            if not qty > EPS:
                continue
            c = Chunk(part.ot, arrive, self._from(s, r, qty))
            if not self.t.courier_count[r]:
                self._delivered(int(r), c.q, c.ot, arrive)
            else:
                self.to_couriers[r].setdefault(math.floor(arrive + EPS), []).append(c)

    def _deliver(self, r: int, h: int) -> float:
        """The couriers' hour in region r; returns the parcels then waiting for them."""
        q = self.courier_q[r]
        # Parcels reaching the couriers at the hour mark join the queue; those arriving
        # within the hour (picked at a site without linehaul, prepositioned orders after
        # the release) arrive evenly over it, as from a busy upstream stage, and may be
        # delivered in the same hour. (Holding them to the next hour mark delayed them
        # by up to an hour, and by a night when they arrived in the couriers' last hour.)
        mid: list[Chunk] = []
        for c in self.to_couriers[r].pop(h, []):
            (q if c.ready <= h + EPS else mid).append(c)
        new = Chunk.merged(mid, float(h)) if mid else None
        work = self._courier_hour(r, h)
        if not self.t.courier_count[r]:
            return sum(c.total for c in q)  # (nothing waits: delivered on arrival)
        done, _ = serve_hour(q, work, h, new)
        for part, when in done:
            for ot, by_site in part.pieces():  # booked to the hours they were placed in
                self._delivered(r, by_site, ot, when)
            self.books.add_region("courier_cost", h, r, part.total * self.t.courier_cost[r])
        backlog = sum(c.total for c in q)
        self.books.add_region("courier_backlog", h, r, backlog)
        return backlog

    def _delivered(self, r: int, by_site: np.ndarray, ot: float, when: float) -> None:
        t = self.t
        qty = float(_sum(by_site))
        self.books.delivered(r, qty, ot, when, by_site)
        o = min(max(int(ot), 0), t.hours - 1)
        ret = qty * self.return_share[o, r]
        if ret > EPS:
            back = when + t.return_delay
            key = math.ceil(back - EPS)
            for s, share in self._route_sites[r]:
                d = self.returns_arriving[s]
                d[key] = d.get(key, 0.0) + ret * share
            self.books.add_region("returns_shipped", min(int(when), self.T - 1), r, ret)

    # -- the quoted delivery time --------------------------------------------------------
    def _eta(self, now: float, couriers: list[float]) -> np.ndarray:
        """FIFO projection: when would an order placed now reach the door, per region?
        (What is ahead of it by site and region, as the tick has just left the queues and
        the parcels each region's couriers have waiting, ``couriers``.)"""
        S, R = self.S, self.R
        pick, disp = np.zeros((S, R)), np.zeros((S, R))
        for s in range(S):  # (a sum over the rows adds them in order, as += would)
            if self.pick_q[s]:
                pick[s] = _sum([c.q for c in self.pick_q[s]], axis=0)
            if self.dispatch_q[s]:
                disp[s] = _sum([c.q for c in self.dispatch_q[s]], axis=0)
        region: list[int] = []
        when: list[float] = []
        qty: list[float] = []
        for r in range(R):  # on the road to the couriers (their chunks hold orders by site)
            for v in self.to_couriers[r].values():
                for c in v:
                    region.append(r)
                    when.append(c.ready)
                    qty.append(c.total)
        for c in self.forward:  # pre-positioned orders, released to the couriers
            for k in np.flatnonzero(c.q > EPS):
                region.append(int(k))
                when.append(max(self.t.release_at, now))
                qty.append(float(c.q[k]))
        return self._quote_ahead(now, pick, disp, couriers, (region, when, qty))


def _split_tail(c: Chunk, amount: float) -> Chunk:
    """Take ``amount`` from the newest end of a chunk (its later orders)."""
    return c.split(amount / c.total)
