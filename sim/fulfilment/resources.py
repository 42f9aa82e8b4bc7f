"""SimPy building blocks shared by the cohort and per-order fulfilment models.

Capacity is a resource whose size changes at events: shifts start and end,
surge staff arrive and leave, an outage takes a site down. :class:`Capacity`
integrates what it could serve between two reads, so the cohort model asks
"how many picks did the last hour allow?" and the per-order model asks "how
many workers are on duty now?" of the same object, driven by the same processes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy
from simpy.events import NORMAL, URGENT, Event

EventLog = list[tuple[float, str, str, float]]
"""(time in campaign hours, event kind, site or region name, value)."""


def at(env: simpy.Environment, delay: float, urgent: bool = False) -> Event:
    """A timeout; ``urgent`` ones fire before ordinary events at the same time.

    The models use it to fix the order of simultaneous events: an hour's picking
    is booked (urgent) before a truck leaves at the same hour mark.
    """
    ev = Event(env)
    ev._ok = True
    ev._value = None
    env.schedule(ev, URGENT if urgent else NORMAL, delay)
    return ev


class Capacity:
    """A pool of workers in groups (shift, surge, couriers), each with a rate.

    ``rate`` = factor x sum(staff x rate per worker); ``take()`` returns the work
    the pool could do since the last ``take()`` and the worker-hours of each group.
    ``factor`` is the product of the factors of the faults in force (1 without any):
    faults that overlap each take their share, and one that ends gives back only its own.
    """

    def __init__(self, env: simpy.Environment, groups: tuple[str, ...]) -> None:
        self.env = env
        self.staff = dict.fromkeys(groups, 0)
        self.per_worker = dict.fromkeys(groups, 0.0)
        self.factor = 1.0
        self._faults: list[float] = []  # the factors of the faults in force
        self._t = float(env.now)
        self._work = 0.0
        self._hours = dict.fromkeys(groups, 0.0)
        self._rate = 0.0  # kept in step by set(), the only writer of staff and factor
        self.changed: Event = env.event()

    @property
    def rate(self) -> float:
        return self._rate

    def on_duty(self, group: str) -> int:
        """Workers of a group able to work now (an outage with factor f leaves f of them)."""
        return int(np.floor(self.staff[group] * self.factor + 1e-9))

    def _accrue(self) -> None:
        dt = self.env.now - self._t
        if dt > 0:
            self._work += self._rate * dt
            hours = self._hours
            for g, n in self.staff.items():
                hours[g] += n * dt
            self._t = float(self.env.now)

    def set(
        self,
        group: str | None = None,
        staff: int | None = None,
        per_worker: float | None = None,
        factor: float | None = None,
    ) -> None:
        self._accrue()
        if group is not None:
            if staff is not None:
                self.staff[group] = int(staff)
            if per_worker is not None:
                self.per_worker[group] = float(per_worker)
        if factor is not None:
            self.factor = float(factor)
        self._rate = self.factor * sum(self.staff[g] * self.per_worker[g] for g in self.staff)
        old, self.changed = self.changed, self.env.event()
        old.succeed()

    def fault_starts(self, factor: float) -> None:
        self._faults.append(float(factor))
        self.set(factor=float(np.prod(self._faults)))

    def fault_ends(self, factor: float) -> None:
        self._faults.remove(float(factor))
        self.set(factor=float(np.prod(self._faults)) if self._faults else 1.0)

    def take(self) -> tuple[float, dict[str, float]]:
        self._accrue()
        work, hours = self._work, self._hours
        self._work = 0.0
        self._hours = dict.fromkeys(hours, 0.0)
        return work, hours


def staffing(
    env: simpy.Environment,
    cap: Capacity,
    group: str,
    staff: np.ndarray,
    per_worker: np.ndarray,
    log: EventLog | None,
    name: str,
) -> Generator[Event, Any, None]:
    """Set a group's staff from an hourly table, with an event only where it changes."""
    prev: tuple[int, float] | None = None
    for h in range(len(staff)):
        now = (int(staff[h]), float(per_worker[h]))
        if now != prev:
            if h > env.now:
                yield env.timeout(h - env.now)
            cap.set(group, staff=now[0], per_worker=now[1])
            if log is not None:
                log.append((float(env.now), f"{group}_staff", name, float(now[0])))
            prev = now


def fault(
    env: simpy.Environment,
    cap: Capacity,
    start: float,
    end: float,
    factor: float,
    log: EventLog | None,
    name: str,
    kind: str,
) -> Generator[Event, Any, None]:
    """Scale a capacity by ``factor`` over [start, end) (with other faults in force at the
    same time, by the product of their factors). The log gives the factor in force after
    each change."""
    if start > env.now:
        yield env.timeout(start - env.now)
    cap.fault_starts(factor)
    if log is not None:
        log.append((float(env.now), f"{kind}_start", name, cap.factor))
    yield env.timeout(max(end - env.now, 0.0))
    cap.fault_ends(factor)
    if log is not None:
        log.append((float(env.now), f"{kind}_end", name, cap.factor))


class Surge:
    """Surge staffing of one site.

    Rule (documented in docs/model.md): at each hour mark, if the site's backlog is
    above the threshold, no request is on its way and fewer than ``max_staff`` are on
    site, request ``staff`` more (capped at the maximum); they arrive ``lead`` hours
    later. Surge workers stay at least ``min_hours``; a batch leaves at an hour mark
    once its minimum is served and the backlog is below half the threshold.
    """

    def __init__(
        self,
        env: simpy.Environment,
        cap: Capacity,
        params: dict[str, float],
        log: EventLog | None,
        name: str,
    ) -> None:
        self.env, self.cap, self.p, self.log, self.name = env, cap, params, log, name
        self.pending = 0  # workers requested and on their way
        self.due = 0.0  # when they arrive
        self.batches: list[tuple[float, int]] = []  # (arrival time, workers)
        cap.set("surge", per_worker=params["rate"])

    def check(self, backlog: float) -> None:
        p = self.p
        if not p["enabled"]:
            return
        now = float(self.env.now)
        if backlog < p["threshold"] / 2:
            keep = [(t, n) for t, n in self.batches if now - t < p["min_hours"] - 1e-9]
            if len(keep) < len(self.batches):
                gone = sum(n for _, n in self.batches) - sum(n for _, n in keep)
                self.batches = keep
                self.cap.set("surge", staff=self.cap.staff["surge"] - gone)
                if self.log is not None:
                    self.log.append((now, "surge_leave", self.name, float(gone)))
        on = self.cap.staff["surge"]
        if backlog > p["threshold"] and not self.pending and on < p["max_staff"]:
            n = int(min(p["staff"], p["max_staff"] - on))
            self.pending = n
            self.due = now + p["lead"]
            if self.log is not None:
                self.log.append((now, "surge_request", self.name, float(n)))
            self.env.process(self._arrive(n))

    def _arrive(self, n: int) -> Generator[Event, Any, None]:
        yield self.env.timeout(self.p["lead"])
        self.pending = 0
        self.due = 0.0
        self.batches.append((float(self.env.now), n))
        self.cap.set("surge", staff=self.cap.staff["surge"] + n)
        if self.log is not None:
            self.log.append((float(self.env.now), "surge_arrive", self.name, float(n)))


def pools(env: simpy.Environment, t: Any) -> tuple[list[Capacity], list[Capacity]]:
    """A picker pool per site (shift and surge staff) and a courier pool per region."""
    sites = [Capacity(env, ("shift", "surge")) for _ in t.site_names]
    couriers = [Capacity(env, ("couriers",)) for _ in t.region_names]
    return sites, couriers


def capacity_processes(
    env: simpy.Environment,
    t: Any,
    sites: list[Capacity],
    couriers: list[Capacity],
    log: EventLog | None,
    per_site: Callable[[int], object],
) -> list[Surge]:
    """Start the processes that change the pools' sizes; return the surge controllers.

    Per site the shift schedule and the surge controller (``per_site(i)`` runs right
    after, to start the site's own processes in a fixed order); per region the
    couriers' working hours; outages and courier shortfalls. ``t`` is the model's
    :class:`~sim.fulfilment.tables.FulfilmentTables`. Both modes call this, so they
    are driven by the same processes in the same order.
    """
    surge = []
    for i, name in enumerate(t.site_names):
        env.process(staffing(env, sites[i], "shift", t.shift_staff[i], t.shift_rate[i], log, name))
        p = {k: float(v[i]) for k, v in t.surge.items()}
        surge.append(Surge(env, sites[i], p, log, name))
        per_site(i)
    for s, a, b, f in t.outages:
        env.process(fault(env, sites[s], a, b, f, log, t.site_names[s], "outage"))
    for r, name in enumerate(t.region_names):
        n = int(t.courier_count[r])
        if n:
            on = np.where(t.courier_rate[r] > 0, n, 0)
            env.process(
                staffing(env, couriers[r], "couriers", on, t.courier_rate[r] / n, None, name)
            )
    for r, a, b, f in t.shortfalls:
        env.process(fault(env, couriers[r], a, b, f, log, t.region_names[r], "courier_shortfall"))
    return surge


def every_hour(
    env: simpy.Environment, hours: int, tick: Callable[[int], None]
) -> Generator[Event, Any, None]:
    """Call ``tick(h)`` at the end of every hour h (time h + 1), before other events then."""
    for h in range(hours):
        yield at(env, h + 1 - env.now, urgent=True)
        tick(h)
