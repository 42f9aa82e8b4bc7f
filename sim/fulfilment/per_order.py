"""Per-order mode: every order is a SimPy process (exact; for validation on small cases).

An order arrives at a time within its hour, waits in its site's FIFO queue for a
picker, waits for a truck with space, travels, waits for a courier of its region
and is delivered; it may come back as a return. Pickers and couriers are the
workers on duty in the same :class:`~sim.fulfilment.resources.Capacity` objects,
driven by the same shift, surge and fault processes, as in cohort mode, so the two
modes differ only in how orders move: one by one here, as fluid cohorts there.
Results have the same names (a :class:`~sim.fulfilment.outputs.Books`).

SimPy handles about 50k orders per second this way (about ten events per order):
use it on small cases, and cohort mode for real campaigns.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import Any, Literal

import numpy as np
import simpy
from simpy.events import Event

from sim.fulfilment.model import FulfilmentModel
from sim.fulfilment.outputs import Books
from sim.fulfilment.promise import Quoter
from sim.fulfilment.resources import (
    Capacity,
    EventLog,
    at,
    capacity_processes,
    every_hour,
    pools,
)
from sim.fulfilment.tables import FulfilmentTables

EPS = 1e-9

Arrivals = Literal["uniform", "even"]
Service = Literal["deterministic", "exponential"]


class Order:
    """One order: its region, order time, current site and overflow hops."""

    __slots__ = ("hops", "ot", "ready", "region", "shipped", "site", "third")

    def __init__(self, region: int, ot: float, site: int) -> None:
        self.region, self.ot, self.site = region, ot, site
        self.hops = 0
        self.third = False  # picked, then handed to a third party by the storage limit
        self.ready = math.inf  # when picked
        self.shipped: Event | None = None  # succeeds with the arrival time at the last mile


class Job:
    """A request for one worker: ``work`` worker-units (1 = one pick or one parcel)."""

    __slots__ = ("done", "item", "joined", "low", "started", "work")

    def __init__(self, env: simpy.Environment, work: float, item: Any, low: bool) -> None:
        self.done = env.event()  # value: None when served, else an overflow destination
        self.work, self.item, self.low = work, item, low
        self.joined = float(env.now)
        self.started = math.nan


class Servers:
    """A FIFO multi-server queue whose servers are the workers on duty in a Capacity.

    Workers of group g number ``cap.on_duty(g)`` and take ``work / per_worker[g]`` hours
    per job (exactly, or exponentially distributed with that mean). Service is not
    preempted: when a shift ends or an outage starts, workers finish the job in hand
    and take no new one. Jobs in the ``low`` queue (returns) are served only when no
    ordinary job waits.
    """

    def __init__(
        self,
        env: simpy.Environment,
        cap: Capacity,
        rng: np.random.Generator,
        service: Service,
        on_finish: Callable[[Job], None] | None = None,
    ) -> None:
        self.env, self.cap, self.rng, self.service = env, cap, rng, service
        self.groups = tuple(cap.staff)
        self.queue: deque[Job] = deque()
        self.low: deque[Job] = deque()
        self.busy = dict.fromkeys(self.groups, 0)
        self.busy_high = 0  # ordinary jobs in service
        self.on_finish = on_finish
        env.process(self._watch())

    @property
    def backlog(self) -> int:
        """Ordinary jobs waiting or in service."""
        return len(self.queue) + self.busy_high

    @property
    def low_backlog(self) -> int:
        busy = sum(self.busy.values())
        return len(self.low) + busy - self.busy_high

    def request(self, work: float = 1.0, item: Any = None, low: bool = False) -> Job:
        job = Job(self.env, work, item, low)
        (self.low if low else self.queue).append(job)
        self._dispatch()
        return job

    def _watch(self) -> Generator[Event, Any, None]:
        while True:
            yield self.cap.changed
            self._dispatch()

    def _dispatch(self) -> None:
        cap = self.cap
        for g in self.groups:
            per = cap.per_worker[g]
            if per <= 0:
                continue
            free = cap.on_duty(g) - self.busy[g]
            while free > 0 and (self.queue or self.low):
                job = self.queue.popleft() if self.queue else self.low.popleft()
                mean = job.work / per
                dur = mean if self.service == "deterministic" else self.rng.exponential(mean)
                job.started = float(self.env.now)
                self.busy[g] += 1
                self.busy_high += not job.low
                ev = self.env.timeout(dur)
                ev.callbacks.append(lambda _, g=g, job=job: self._finish(g, job))  # type: ignore[misc]
                free -= 1

    def _finish(self, g: str, job: Job) -> None:
        self.busy[g] -= 1
        self.busy_high -= not job.low
        if self.on_finish is not None:
            self.on_finish(job)
        job.done.succeed(None)
        self._dispatch()


class PerOrderFulfilment(FulfilmentModel):
    """The fulfilment model with every order a SimPy process (validation on small cases).

    Same interface and result names as :class:`~sim.fulfilment.cohort.CohortFulfilment`.

    Parameters
    ----------
    tables
        The compiled fulfilment section (``plan.fulfilment``).
    seed
        Seed sequence of this model's random numbers (arrival times, service times,
        returns): a numpy Generator is built from it; no global random state.
    log
        Optional event log, as in cohort mode.
    arrivals
        ``"uniform"``: the orders of an hour arrive at independent uniform times in it;
        ``"even"``: evenly spaced, at h + (k + 1/2)/n (deterministic).
    service
        ``"deterministic"``: a pick takes 1/picks_per_worker_hour hours and a parcel
        (end - start)/parcels_per_day; ``"exponential"``: exponential with those means.
    record
        Keep (joined, started, finished) of every pick in ``records`` (queueing checks).

    Notes
    -----
    Orders per hour are real-world counts, possibly fractional: each (region, site)
    stream carries its fractional remainder to the next hour, so the integer counts
    add up to the fractional total. Each delivered order is returned with the
    probability (returns / orders) of its hour and region.
    """

    def __init__(
        self,
        tables: FulfilmentTables,
        seed: np.random.SeedSequence | int | None = None,
        log: EventLog | None = None,
        *,
        arrivals: Arrivals = "uniform",
        service: Service = "exponential",
        record: bool = False,
    ) -> None:
        t = self.t = tables
        self._quote = Quoter(tables)  # the delivery promise, every hour
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.rng = np.random.default_rng(ss)
        self.env = env = simpy.Environment()
        self.log = log
        self.arrivals, self.service = arrivals, service
        S, R, T = len(t.site_names), len(t.region_names), t.horizon
        self.S, self.R, self.T = S, R, T
        self.returns_transit = np.zeros(R)  # returns on their way back, per region
        self.books = Books(t)
        self.records: list[tuple[float, float, float]] | None = [] if record else None
        self.sites, self.couriers = pools(env, t)
        self.pickers = [
            Servers(env, self.sites[s], self.rng, service, self._picked_cb(s)) for s in range(S)
        ]
        self.courier_q = [Servers(env, self.couriers[r], self.rng, service) for r in range(R)]
        self.dispatch: list[deque[Order]] = [deque() for _ in range(S)]
        # shipped, not yet with the couriers: per region, arrival time -> orders
        self.in_transit: list[dict[float, int]] = [{} for _ in range(R)]
        self.at_site = np.zeros((S, R), np.int64)  # orders waiting for or being picked
        self.forward: list[Order] = []  # prepositioned orders waiting for release
        self.return_share = np.zeros((t.hours, R))
        self._carry: dict[tuple[str, int, int], float] = {}
        self.surge = capacity_processes(
            env, t, self.sites, self.couriers, log, lambda i: env.process(self._trucks(i))
        )
        env.process(every_hour(env, T, self._tick))
        if t.preposition_share > 0:
            env.process(self._release())
        self._promise = np.zeros(R)

    # -- input -------------------------------------------------------------------------
    def _count(self, kind: str, r: int, s: int, x: float) -> int:
        """Integer part of a running total: the fractional remainder carries over."""
        c = self._carry.get((kind, r, s), 0.0) + max(float(x), 0.0)
        n = math.floor(c + EPS)
        self._carry[(kind, r, s)] = c - n
        return n

    def _times(self, h: int, n: int) -> np.ndarray:
        if self.arrivals == "even":
            return h + (np.arange(n) + 0.5) / n
        return np.sort(h + self.rng.random(n))

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
        for r in range(self.R):
            n_pre = self._count("pre", r, -1, pre[r])
            if n_pre:
                self.books.add_region("prepositioned", h, r, float(n_pre))
                # picked ahead by the sites serving the region: their handling is paid now
                self.books.add("site_cost", h, n_pre * t.route[r] * t.handling_cost)
                for x in self._times(h, n_pre):
                    self.env.process(self._prepositioned(Order(r, float(x), -1)))
            regular = orders[r] - pre[r]
            for s in np.flatnonzero(t.route[r] > 0):
                n = self._count("site", r, int(s), regular * t.route[r, s])
                for x in self._times(h, n) if n else ():
                    self.env.process(self._order(Order(r, float(x), int(s))))

    def add_order_times(self, times: Sequence[float] | np.ndarray, region: int = 0) -> None:
        """Regular orders of a region at explicit times (hours, not before now).

        Each goes to a site drawn with the region's routing shares. Used to feed the
        model arrival processes of one's own (e.g. Poisson, for the M/M/c check).
        """
        t = self.t
        sites = np.flatnonzero(t.route[region] > 0)
        p = t.route[region, sites]
        pick = self.rng.choice(sites, size=len(times), p=p / p.sum()) if len(sites) > 1 else None
        for i, x in enumerate(times):
            self.books.add_region("orders_in", int(x), region, 1.0)
            s = int(sites[0] if pick is None else pick[i])
            self.env.process(self._order(Order(region, float(x), s)))

    # -- an order's life -----------------------------------------------------------------
    def _order(self, o: Order) -> Generator[Event, Any, None]:
        env, b = self.env, self.books
        yield env.timeout(max(o.ot - env.now, 0.0))
        b.add_site("arrivals", int(env.now), o.site, 1.0)
        while True:
            self.at_site[o.site, o.region] += 1
            job = self.pickers[o.site].request(item=o)
            where = yield job.done
            if where is None:
                break
            # sent away by the storage limit (see _overflow): (site or -1, arrival time)
            to, arrive = where
            yield env.timeout(arrive - env.now)
            if to < 0:  # third party: delivered straight to the door
                self._delivered(o, float(env.now))
                return
            o.site, o.hops = to, o.hops + 1
            b.add_site("transfers_in", int(env.now), o.site, 1.0)
        if o.shipped is not None:  # waits for a truck (see _trucks)
            arrive = yield o.shipped
            yield env.timeout(max(arrive - env.now, 0.0))
            if o.third:  # overflowed after its pick: the third party delivers it
                self._delivered(o, float(env.now))
                return
            road = self.in_transit[o.region]
            road[arrive] -= 1
            if not road[arrive]:
                del road[arrive]
        yield from self._last_mile(o)

    def _prepositioned(self, o: Order) -> Generator[Event, Any, None]:
        """A presale order picked ahead in a forward warehouse: to the couriers at release."""
        env = self.env
        yield env.timeout(max(o.ot - env.now, 0.0))
        if env.now < self.t.release_at - EPS:
            o.shipped = env.event()
            self.forward.append(o)
            yield o.shipped
        yield from self._last_mile(o)

    def _last_mile(self, o: Order) -> Generator[Event, Any, None]:
        r = o.region
        if self.t.courier_count[r]:
            yield self.courier_q[r].request(item=o).done
            self.books.add_region("courier_cost", int(self.env.now), r, self.t.courier_cost[r])
        self._delivered(o, float(self.env.now))

    def _picked_cb(self, s: int) -> Callable[[Job], None]:
        def picked(job: Job) -> None:
            """Called by the pickers as a pick ends (before the order process resumes)."""
            now = float(self.env.now)
            h = int(now)
            if self.records is not None:
                self.records.append((job.joined, job.started, now))
            if job.low:  # a return handled
                self.books.add_site("returns_processed", h, s, 1.0)
                self.books.add_site("site_cost", h, s, self.t.return_cost)
                return
            o: Order = job.item
            o.ready = now
            self.at_site[s, o.region] -= 1
            self.books.add_site("picked", h, s, 1.0)
            self.books.add_site("site_cost", h, s, self.t.handling_cost[s])
            if len(self.t.departures[s]):
                o.shipped = self.env.event()
                self.dispatch[s].append(o)
            else:
                self._ship(s, o, now)

        return picked

    def _ship(self, s: int, o: Order, when: float) -> None:
        self.books.add_site("shipped", min(int(when), self.T - 1), s, 1.0)
        self.books.delay("dispatch_delay", s, 1.0, when - o.ot)

    def _delivered(self, o: Order, when: float) -> None:
        """Book a delivery: an order is on time if its own delay is within the limit."""
        t, b, r = self.t, self.books, o.region
        h = min(int(when), self.T - 1)
        d = when - o.ot
        if o.site >= 0:
            by_site = np.zeros(len(t.site_names))
            by_site[o.site] = 1.0
        else:  # pre-positioned: by the sites serving the region
            by_site = t.route[r].copy()
        b.delivered_share(r, 1.0, when, d, by_site, (d <= b.limits + EPS).astype(float))
        b.delay("door_delay", r, 1.0, d)
        o_h = min(max(int(o.ot), 0), t.hours - 1)
        share = self.return_share[o_h, r]
        if share > 0 and self.rng.random() < share:
            b.add_region("returns_shipped", h, r, 1.0)
            self.returns_transit[r] += 1
            self.env.process(self._return(r))

    def _return(self, r: int) -> Generator[Event, Any, None]:
        t = self.t
        yield self.env.timeout(t.return_delay)
        self.returns_transit[r] -= 1
        sites = np.flatnonzero(t.route[r] > 0)
        p = t.route[r, sites]
        s = int(sites[0] if len(sites) == 1 else self.rng.choice(sites, p=p / p.sum()))
        if t.return_handling > 0:
            yield self.pickers[s].request(work=t.return_handling, low=True).done
        else:
            h = int(self.env.now)
            self.books.add_site("returns_processed", h, s, 1.0)
            self.books.add_site("site_cost", h, s, t.return_cost)

    # -- processes -------------------------------------------------------------------------
    def _release(self) -> Generator[Event, Any, None]:
        yield self.env.timeout(max(self.t.release_at - self.env.now, 0.0))
        if self.log is not None:
            self.log.append(
                (float(self.env.now), "preposition_release", "all", float(len(self.forward)))
            )
        for o in self.forward:
            assert o.shipped is not None
            o.shipped.succeed(float(self.env.now))
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
            yield self.env.timeout(0)  # picks ending exactly at d are loaded too
            q = self.dispatch[s]
            left = math.floor(cap + EPS) if math.isfinite(cap) else math.inf
            sent = 0
            while q and left >= 1 and q[0].ready <= d + EPS:
                o = q.popleft()
                assert o.shipped is not None
                o.shipped.succeed(float(d + tr))
                self._ship(s, o, float(d))
                road = self.in_transit[o.region]
                road[float(d + tr)] = road.get(float(d + tr), 0) + 1
                left -= 1
                sent += 1
            if sent > EPS or d < t.hours:  # the schedule runs for the campaign, then
                self.books.add_site("linehaul_cost", int(d), s, c)  # only trucks with orders
            if self.log is not None:
                self.log.append((float(d), "departure", t.site_names[s], float(sent)))

    # -- the hourly tick ----------------------------------------------------------------
    def _tick(self, h: int) -> None:
        t, b = self.t, self.books
        now = float(h + 1)
        for s in range(self.S):
            work, hours = self.sites[s].take()
            b.add_site("capacity", h, s, work)
            b.add_site("surge_staff", h, s, hours["surge"])
            b.add_site("staff", h, s, hours["shift"] + hours["surge"])
            b.add_site("site_cost", h, s, hours["surge"] * t.surge["cost"][s])
            self._overflow(s, h, now)
            backlog = self.pickers[s].backlog
            waiting = len(self.dispatch[s])
            b.add_site("backlog", h, s, backlog)
            b.add_site("awaiting_dispatch", h, s, waiting)
            b.add_site("storage_used", h, s, backlog + waiting)
            late = 0.0
            if h == self.T - 1:  # returns due after the horizon: shown as waiting, not lost
                share = t.route[:, s] / t.route.sum(axis=1)  # as _return picks the site
                late = float(self.returns_transit @ share)
            b.add_site("returns_backlog", h, s, self.pickers[s].low_backlog + late)
            self.surge[s].check(backlog)
        for r in range(self.R):
            work, _ = self.couriers[r].take()
            b.add_region("courier_capacity", h, r, work)
            if t.courier_count[r]:
                b.add_region("courier_backlog", h, r, self.courier_q[r].backlog)
        if h < t.hours:  # the promise is quoted at checkout: only while the campaign runs
            self._promise = self._eta(now)
            b.promise[h] = self._promise

    def _overflow(self, s: int, h: int, now: float) -> None:
        """Storage limit, as in cohort mode: at the hour mark, the newest orders waiting
        to be picked beyond the limit go to the neighbour (once) or to a third party
        (capped), then the newest picked ones waiting for a truck to the third party;
        what a truck leaving at this hour mark takes does not count."""
        t, b = self.t, self.books
        q = self.pickers[s].queue
        room = self._truck_room(s, now)  # a truck leaving now takes the oldest picked
        leaving = 0
        for picked in self.dispatch[s]:
            if leaving + 1 > room + EPS or picked.ready > now + EPS:
                break
            leaving += 1
        excess = self.pickers[s].backlog + len(self.dispatch[s]) - leaving - t.storage[s]
        if excess <= EPS:
            return
        b.add_site("overload", h, s, 1.0)
        third_left = t.overflow_cap[s]
        to = int(t.overflow_to[s])
        while q and excess > EPS:
            o: Order = q[-1].item
            third = to < 0 or o.hops > 0  # a transferred order overflows to a third party
            if third and third_left < 1 - EPS:
                break
            job = q.pop()
            self.at_site[s, o.region] -= 1
            excess -= 1
            b.add_site("overflow", h, s, 1.0)
            b.add_site("site_cost", h, s, t.overflow_cost[s])
            arrive = now + t.overflow_delay[s]
            if third:
                third_left -= 1
                b.add_site("overflow_third_party", h, s, 1.0)
                job.done.succeed((-1, arrive))
            else:
                b.add_site("transfers_out", h, s, 1.0)
                job.done.succeed((to, float(math.ceil(arrive - EPS))))
        # still full of picked orders waiting for a truck: the newest go to the third party
        dq = self.dispatch[s]
        while dq and excess > EPS and third_left >= 1 - EPS:
            o = dq.pop()
            excess -= 1
            third_left -= 1
            b.add_site("overflow_packed", h, s, 1.0)
            b.add_site("site_cost", h, s, t.overflow_cost[s])
            b.add_site("shipped", h, s, 1.0)  # in the hour whose end it left at
            b.delay("dispatch_delay", s, 1.0, now - o.ot)
            o.third = True
            assert o.shipped is not None
            o.shipped.succeed(now + t.overflow_delay[s])

    # -- the quoted delivery time ------------------------------------------------------------
    def _eta(self, now: float) -> np.ndarray:
        """FIFO projection of the queues, as in cohort mode (counts of orders ahead)."""
        S, R = self.S, self.R
        disp = np.zeros((S, R))
        for s in range(S):
            for o in self.dispatch[s]:
                disp[s, o.region] += 1
        region, when, qty = [], [], []
        for r in range(R):
            for t_arrive, n in self.in_transit[r].items():
                region.append(r)
                when.append(t_arrive)
                qty.append(float(n))
        for o in self.forward:  # pre-positioned orders, released to the couriers
            region.append(o.region)
            when.append(max(self.t.release_at, now))
            qty.append(1.0)
        return self._quote_ahead(
            now,
            self.at_site.astype(float),
            disp,
            [self.courier_q[r].backlog for r in range(R)],
            (region, when, qty),
        )
