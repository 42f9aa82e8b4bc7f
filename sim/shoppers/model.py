"""The shopper model: agent state, the epoch loop, and its outputs as named arrays.

Examples
--------
>>> from sim import load_scenario, compile_plan
>>> from sim.shoppers import ShopperModel
>>> m = ShopperModel(compile_plan(load_scenario("scenarios/smoke.toml")), shoppers=2000)
>>> out = m.run()
>>> int(out["orders"].sum()) > 0
True
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from sim.plan import MECHANISMS, Plan, for_shoppers
from sim.rng import stream_keys
from sim.shoppers import kernels as K
from sim.shoppers.calls import Calls
from sim.shoppers.state import NO_EVENT, KPend, new_pending, new_state
from sim.shoppers.tables import COUNTER_NAMES, MONEY, NM, NV, V_ORDERS, KPlan, kplan
from sim.shoppers.team import Team, thread_budget

DEFAULT_CHUNK = 16384
GROUP_CHUNKS = 32
"""Chunks per group of chunks (a task of the thread pool) at least, when there are
several threads..."""
MAX_GROUPS_PER_THREAD = 8
"""...and at most this many groups per thread: more groups than threads balance the
load (a thread that finishes early takes the next group), fewer cost less to set up."""
SORT_IN_NUMBA = 20_000
"""Pending rows up to which the settlement sorts its contested rows in the same call
(numba's sort, no extra calls); above, numpy's vectorised sort (ten times faster on a
million rows). The order is the same either way."""


class ShopperModel:
    """One replicate of the shopper model, advanced epoch by epoch.

    Parameters
    ----------
    plan
        The compiled scenario.
    replicate
        Replicate number; its random streams are derived from the seed with SeedSequence.
    seed
        Override the scenario's seed.
    shoppers
        Override the number of simulated shoppers: the plan is compiled for that number
        (:func:`sim.plan.for_shoppers`), each shopper standing for more (or fewer) real
        ones, so limited stock keeps its real-world size.
    chunk
        Shoppers per parallel work item. Results do not depend on it.
    pending_width
        Initial room per chunk for the epoch's contested actions (widened when a chunk
        fills it). Results do not depend on it.
    behaviour
        Overrides of the behavioural constants (see ``BEHAVIOUR_DEFAULTS``).
    threads
        Threads running chunks of shoppers (default: ``NUMBA_NUM_THREADS`` when set,
        else the cores this process may run on). Results do not depend on it.
    log_every
        Opt-in debug aid: log every session of shoppers whose index is a multiple of
        this (0: no log). ``results()["session_log"]`` is then a structured array, one
        row per session: hour, seconds since the campaign start, shopper, segment,
        region, kind (0 visit, 1 cart recall) and the session's outcome (its sessions,
        cart adds, checkouts, deferrals, abandonments, orders, deposits, tails, flash
        attempts, coupon claims and uses, GMV and paid in cents). Settlement outcomes
        (flash wins, limited claims, first-N rebates) are not in it. The log does not
        change the simulation.
    """

    def __init__(
        self,
        plan: Plan,
        replicate: int = 0,
        *,
        seed: int | None = None,
        shoppers: int | None = None,
        chunk: int = DEFAULT_CHUNK,
        pending_width: int | None = None,
        behaviour: dict[str, float] | None = None,
        threads: int | None = None,
        log_every: int = 0,
    ) -> None:
        plan = for_shoppers(plan, shoppers)  # limited stock in this run's simulated units
        self.plan = plan
        self.threads = max(1, int(threads or thread_budget()))
        self.P: KPlan = kplan(plan, behaviour)
        if self.P.H >= NO_EVENT:
            raise ValueError(f"campaigns of {NO_EVENT} hours or more are not supported")
        self.keys = stream_keys(plan.seed if seed is None else seed, replicate)
        self.n = plan.shoppers
        self.chunk = int(chunk)
        n_chunks = (self.n + self.chunk - 1) // self.chunk
        self.n_chunks = n_chunks
        per_thread = min(MAX_GROUPS_PER_THREAD, max(1, n_chunks // (self.threads * GROUP_CHUNKS)))
        groups = min(self.threads * per_thread, n_chunks) if self.threads > 1 else 1
        bounds = np.linspace(0, n_chunks, groups + 1).round().astype(int)
        self._groups = [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
        # each group counts in its first chunk's row of the partial counters, which are
        # zero between the passes (folded into the totals and zeroed by K.fold)
        self._g0 = np.array([a for a, _ in self._groups], np.int64)
        self._calls = Calls()  # the kernels' argument types are fixed from here on
        self._team = Team(self.threads) if groups > 1 else None
        H = self.P.H
        S = len(plan.segments.names)
        Rn = len(plan.segments.region_names)
        Kc = len(plan.coupons.names)
        F = len(plan.flash.open)
        Fs = max(len(plan.flash.series_names), 1)
        N = len(plan.first_n.names)
        M = len(plan.messages.names)
        self.state = new_state(self.n, Kc, Fs, fill=False)  # init_kernel writes the rest
        self.counters = np.zeros((H, S, Rn, NV), np.int64)
        self.mechanisms = np.zeros((H, S, Rn, NM), np.int64)
        self._part = np.zeros((n_chunks, S, Rn, NV), np.int64)
        self._part_mech = np.zeros((n_chunks, S, Rn, NM), np.int64)
        self._part_cpn = np.zeros((n_chunks, Kc, 4), np.int64)
        self._part_msg = np.zeros((n_chunks, M, S, 3), np.int64)
        self._settle_acc = np.zeros((S, Rn, NV), np.int64)
        self._settle_mech = np.zeros((S, Rn, NM), np.int64)
        self._settle_cpn = np.zeros((Kc, 4), np.int64)
        self._pend_count = np.zeros(n_chunks, np.int64)
        width = pending_width or max(16, self.chunk // 64)
        self._pend = new_pending(n_chunks, max(1, int(width)))
        self._resume = np.zeros(n_chunks, np.int64)
        self._bits = np.zeros((n_chunks, (self.chunk + 63) // 64), np.uint64)
        self._chunk_end = np.minimum(np.arange(1, n_chunks + 1) * self.chunk, self.n)
        self._scratch = np.zeros((n_chunks, 2, NM))
        # 2-D views (chunk or hour, everything else) for K.fold
        self._fold_views = (
            self._part.reshape(n_chunks, -1),
            self._part_mech.reshape(n_chunks, -1),
            self.counters.reshape(H, -1),
            self.mechanisms.reshape(H, -1),
        )
        self.log_every = max(0, int(log_every))
        per_chunk = 8 * (self.chunk // self.log_every + 1) if self.log_every else 1
        width = K.LOG_FIXED + len(K.LOG_COUNTERS)
        self._log_buf = np.zeros((n_chunks, per_chunk, width), np.int64)
        self._log_count = np.zeros(n_chunks, np.int64)
        self._log_rows: list[np.ndarray] = []
        self.log_dropped = 0
        stock = plan.coupons.stock
        self.coupon_stock = np.where(stock >= 0, stock, np.iinfo(np.int64).max).astype(np.int64)
        self.coupon_left = self.coupon_stock.copy()
        self.flash_left = plan.flash.stock.astype(np.int64).copy()
        self.first_n_left = plan.first_n.n.astype(np.int64).copy()
        self.flash_stats = np.zeros((F, 4))
        self.flash_stats[:, 2] = np.nan
        self.first_n_stats = np.zeros((N, 2))
        self.first_n_stats[:, 1] = np.nan
        self._fl_part = np.zeros((n_chunks, F, 4))  # the settlement's parallel pass
        self._fn_part = np.zeros((n_chunks, N, 2))
        left = (self.coupon_left, self.flash_left, self.first_n_left)
        self._left_copies = tuple(np.zeros((n_chunks, len(x)), np.int64) for x in left)
        self._settle_views = (self._settle_acc.reshape(1, -1), self._settle_mech.reshape(1, -1))
        self._row0 = np.zeros(1, np.int64)
        self._busy_row = np.zeros(self._pend.who.shape, np.uint8)
        self._fn_open = np.zeros(self._pend.who.shape, np.uint64)  # see K.settle
        self._fn_view = np.zeros((n_chunks, N), np.int64)
        self.promise = np.zeros(Rn)
        self.dyn = np.zeros(4)
        self.epoch = 0
        pre = plan.extras.presale
        self._forfeit_epoch = (
            int(np.ceil(pre["tail_end"])) - 1 if plan.extras.presale_enabled else -1
        )
        self.below_share = float(plan.extras.scarcity["below_share"])
        # the epochs in which a scarcity message can show: a limited coupon's claim window
        # or a first-N privilege open (what is left is checked in the epoch)
        c, fn = plan.coupons, plan.first_n
        hour = np.arange(H)[:, None]
        self._scarce_coupons = (
            (c.claim_start <= hour) & (c.claim_end > hour) & (c.stock >= 0) & c.claimable
        )
        self._scarce_first_n = (fn.start <= hour) & (fn.end > hour) & (fn.n > 0)
        self._scarce_epoch = bool(plan.extras.scarcity["urgency"]) & (
            self._scarce_coupons.any(axis=1) | self._scarce_first_n.any(axis=1)
        )
        self._parallel(K.init_kernel, self.P, self.state, self.keys, self.chunk)

    def _parallel(self, kernel: Callable[..., None], *args: Any) -> None:
        """Run a nogil kernel over all chunks: each contiguous group of chunks is a task,
        and the threads take the tasks in turn (results do not depend on which thread
        runs which group)."""
        run = self._calls.get(kernel, (*args, 0, 0))
        if self._team is None:
            run(*args, 0, self.n_chunks)
        else:
            self._team.run(run, args, self._groups)
        if run is kernel:  # the first call: through the dispatcher
            self._calls.called(kernel, (*args, 0, 0))

    def _fold_counts(self, e: int) -> None:
        """Add the groups' partial counts and money into epoch e's totals and zero them."""
        part, part_mech, counters, mechanisms = self._fold_views
        self._calls(K.fold, part, self._g0, counters, e)
        self._calls(K.fold, part_mech, self._g0, mechanisms, e)

    def close(self) -> None:
        """Release the worker threads."""
        if self._team is not None:
            self._team.close()
            self._team = None

    # -- the epoch-stepping interface ------------------------------------------
    @property
    def hours(self) -> int:
        return self.P.H

    def set_promise(self, hours_by_region: np.ndarray) -> None:
        """Delivery promise (hours to the door) shown at checkout, per region (0: none)."""
        self.promise[:] = hours_by_region

    def step(self) -> np.ndarray:
        """Advance one epoch; returns the epoch's paid orders per region."""
        e = self.epoch
        self.advance()
        self.settle()
        return self.counters[e, :, :, V_ORDERS].sum(axis=0)

    def advance_to(self, t: float) -> np.ndarray:
        """Run whole epochs until campaign hour ``t`` (rounded up to the next epoch);
        returns the paid orders per region of the epochs run."""
        target = min(int(np.ceil(t)), self.P.H)
        orders = np.zeros(len(self.promise), np.int64)
        while self.epoch < target:
            orders += self.step()
        return orders

    def advance(self) -> None:
        """First half of an epoch: every shopper's sessions (contested actions left pending).

        Limited coupon claims are booked as granted here (the coupons held, the hour's
        ``coupon_claims`` and ``claims_by_coupon``); :meth:`settle` takes back those whose
        coupon is gone by their time and counts them in ``claims_lost_by_coupon``.
        """
        e = self.epoch
        if e >= self.P.H:
            raise RuntimeError("the campaign is over")
        self.dyn[0] = float(self._scarcity(e))
        self._resume[:] = 0
        while True:
            self._parallel(
                K.epoch_kernel,
                self.P, self.state, self.keys, e, self.chunk, self.dyn, self.coupon_left,
                self.flash_left, self.first_n_left, self.promise, self._part, self._part_mech,
                self._part_cpn, self._part_msg, self._bits, self._pend, self._pend_count,
                self._resume,
                self._scratch, self.log_every, self._log_buf, self._log_count,
            )  # fmt: skip
            if (self._resume >= self._chunk_end).all():
                break
            self._widen_pending()
        self._fold_counts(e)
        if self.log_every:
            cap = self._log_buf.shape[1]
            for c, n in enumerate(self._log_count):
                self._log_rows.append(self._log_buf[c, : min(n, cap)].copy())
                self.log_dropped += max(0, int(n) - cap)

    def _widen_pending(self) -> None:
        """Double the room for contested actions, keeping the rows already written."""
        old = self._pend
        width = old.who.shape[1]
        new = new_pending(self.n_chunks, 2 * width)
        for a, b in zip(new, old, strict=True):
            a[:, :width] = b
        self._pend = new

    def pending(self) -> dict[str, np.ndarray]:
        """The contested actions waiting for the settlement (after advance()): shopper,
        time, kind (``PEND_*``), index (coupon bits, flash slot or privilege), the order
        value of a first-N registration and whether that order will be returned, in
        (chunk, shopper) order."""
        keep = np.arange(self._pend.who.shape[1])[None, :] < self._pend_count[:, None]
        return {name: a[keep] for name, a in zip(KPend._fields, self._pend, strict=True)}

    def settle(self) -> None:
        """Second half of an epoch: contested actions in (time, shopper) order, forfeits."""
        e = self.epoch
        if self._pend_count.any():
            self._settle_pending(e)
        if e == self._forfeit_epoch:
            self._parallel(K.forfeit_kernel, self.P, self.state, self.chunk, self._part)
            self.counters[e] += self._part.sum(axis=0)  # every chunk's row
            self._part[:] = 0
        self.epoch += 1
        if self.epoch == self.P.H:
            self._parallel(
                K.flush_messages, self.P, self.state, self.keys, self.chunk, self._part_msg
            )
            self.close()

    def _settle_pending(self, e: int) -> None:
        """Settle the contested actions: those on resources that cannot run out in this
        epoch in parallel over groups of chunks (each with its own partial counters and
        copies of what is left), then the others in (time, shopper) order; that pass
        only decides the flash winners (with at most 64 first-N privileges, the ones
        open at each attempt kept as a bit mask), and the won units and the losers'
        consolation purchases follow in parallel."""
        pend, left = self._pend, (self.coupon_left, self.flash_left, self.first_n_left)
        busy = self._calls(K.settle_busy, pend, self._pend_count, *left)
        g0, copies = self._g0, self._left_copies
        self._calls(K.split_left, g0, *left, *copies)
        if self._busy_row.shape != pend.who.shape:
            self._busy_row = np.zeros(pend.who.shape, np.uint8)
        self._parallel(
            K.settle_free, self.P, self.state, pend, self.keys, e, self._pend_count, self.dyn,
            *copies, self.promise, self._part, self._part_mech, self._part_cpn, self._fl_part,
            self._fn_part, *busy, self._scratch, self._busy_row,
        )  # fmt: skip
        self._calls(
            K.join_left, g0, *left, *copies, self._fl_part, self._fn_part, self.flash_stats,
            self.first_n_stats,
        )  # fmt: skip
        self._fold_counts(e)
        # the sorted pass decides the flash winners; what follows them is done in
        # parallel (a consolation purchase sees the first-N privileges open at its
        # attempt through a bit mask: at most 64 privileges)
        if self._fn_open.shape != pend.who.shape:
            self._fn_open = np.zeros(pend.who.shape, np.uint64)
        defer = len(self.first_n_left) <= 64
        t_bits = pend.t.view(np.uint32)
        stats = (self.flash_stats, self.first_n_stats, self._busy_row, self._fn_open)
        if self._pend_count.sum() <= SORT_IN_NUMBA:  # one call (few rows)
            deferred = self._calls(
                K.settle_sorted, self.P, self.state, pend, t_bits, self.keys, e,
                self._pend_count, self.dyn, *left, self.promise, self._settle_acc,
                self._settle_mech, self._settle_cpn, *stats, defer,
            )  # fmt: skip
        else:
            rows, tkeys, slot = self._calls(
                K.settle_collect, pend, t_bits, self._pend_count, self._busy_row
            )
            deferred = 0
            if len(rows):
                tkeys.sort()  # numpy's vectorised sort: (time, table order), as the keys are
                order = (tkeys & np.uint64(0xFFFFFFFF)).astype(np.int64)
                deferred = self._calls(
                    K.settle, self.P, self.state, pend, self.keys, e, self.dyn, *left,
                    self.promise, self._settle_acc, self._settle_mech, self._settle_cpn,
                    *stats, rows, order, slot, defer,
                )  # fmt: skip
        acc, mech = self._settle_views  # the sorted pass's counts (one row), folded
        self._calls(K.fold, acc, self._row0, self._fold_views[2], e)
        self._calls(K.fold, mech, self._row0, self._fold_views[3], e)
        if deferred:
            self._parallel(
                K.settle_flash, self.P, self.state, pend, self.keys, e, self._pend_count,
                self.dyn, self._fn_view, self.promise, self._part, self._part_mech,
                self._part_cpn, self._scratch, self._busy_row, self._fn_open,
            )  # fmt: skip
            self._fold_counts(e)
        self._pend_count[:] = 0

    def _scarcity(self, e: int) -> bool:
        """Is a scarcity message showing (a limited coupon or first-N below its share)?"""
        if not self._scarce_epoch[e]:
            return False
        low = self.coupon_left < self.below_share * self.coupon_stock
        if (self._scarce_coupons[e] & low).any():
            return True
        low = self.first_n_left < self.below_share * self.plan.first_n.n
        return bool((self._scarce_first_n[e] & low).any())

    def run(self) -> dict[str, Any]:
        """Run the remaining epochs and return the outputs."""
        while self.epoch < self.P.H:
            self.step()
        return self.results()

    # -- outputs -------------------------------------------------------------------
    def results(self) -> dict[str, Any]:
        """Named arrays (counts; money in currency units, not scaled by population.scale)."""
        out: dict[str, Any] = {}
        for v, name in enumerate(COUNTER_NAMES):
            a = self.counters[..., v]
            out[name] = a / 100.0 if name in MONEY else a.copy()
        out["subsidy"] = self.mechanisms / 100.0  # [hour, segment, region, mechanism]
        cpn = self._part_cpn.sum(axis=0) + self._settle_cpn
        out["claim_attempts_by_coupon"] = cpn[:, 0]
        out["claims_by_coupon"] = cpn[:, 1]
        out["claims_lost_by_coupon"] = cpn[:, 2]
        out["uses_by_coupon"] = cpn[:, 3]
        out["flash_slot_attempts"] = self.flash_stats[:, 0].astype(np.int64)
        out["flash_slot_wins"] = self.flash_stats[:, 1].astype(np.int64)
        out["flash_sellout_hours"] = self.flash_stats[:, 2].copy()
        out["wins_by_first_n"] = self.first_n_stats[:, 0].astype(np.int64)
        out["first_n_exhausted_at"] = self.first_n_stats[:, 1].copy()
        sent_order = self._part_msg.sum(axis=0)  # rows in send order (as the kernels see them)
        msg = np.empty_like(sent_order)
        msg[np.argsort(self.plan.messages.send, kind="stable")] = sent_order  # plan order
        out["messages_sent"] = msg[..., 0]
        out["messages_seen"] = msg[..., 1]
        out["messages_woken"] = msg[..., 2]
        out["orders_by_region"] = self.counters[..., V_ORDERS].sum(axis=1)
        out["unique_visitors"] = int(np.count_nonzero(self.state.flags & 8))
        out["unique_buyers"] = int(np.count_nonzero(self.state.purchases))
        out["mechanisms"] = MECHANISMS
        if self.log_every:
            out["session_log"] = self.session_log()
            out["session_log_dropped"] = self.log_dropped
        return out

    def session_log(self) -> np.ndarray:
        """The sampled session log so far, as a structured array (see ``log_every``)."""
        names = ["hour", "seconds", "shopper", "segment", "region", "kind"]
        names += [COUNTER_NAMES[v] for v in K.LOG_COUNTERS]
        rows = (
            np.concatenate(self._log_rows)
            if self._log_rows
            else np.zeros((0, len(names)), np.int64)
        )
        out = np.zeros(len(rows), dtype=[(n, np.int64) for n in names])
        for k, n in enumerate(names):
            out[n] = rows[:, k]
        order = np.lexsort((out["shopper"], out["seconds"]))
        return out[order]


def simulate_shoppers(plan: Plan, replicate: int = 0, **kwargs: Any) -> dict[str, Any]:
    """Simulate one replicate of the shopper model and return its named arrays."""
    return ShopperModel(plan, replicate, **kwargs).run()
