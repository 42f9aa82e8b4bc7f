"""A pure-Python reference implementation of the shopper model, written for reading.

It follows the same steps as the numba kernels (:mod:`sim.shoppers.kernels`),
one shopper object at a time, and draws every random number with the same
counter-based generator (:mod:`sim.rng`) from the same streams and counter
slots. On the same plan, seed, replicate and shopper count it therefore
reproduces :meth:`sim.shoppers.ShopperModel.results` exactly: integer counts
are equal and money (integer cents) is equal.

It is some 50 times slower than the kernels on one thread (about 0.25 s per
1000 shoppers on ``scenarios/smoke.toml``, 1 s on the five-week Double 11 plans)
and meant for small scenarios: as executable documentation of the model, and as
the oracle the kernels are tested against (``tests/test_reference.py``).

The campaign, hour by hour (one hour is an *epoch*):

1. Every shopper, in index order, lives through the hour: its events in time
   order, each either a **cart recall** (a reminder brings it back to a cart
   it left) or a **visit candidate**. Candidates come from the segment's
   majorant intensity (the cumulative table inverted at an exponential step)
   and are accepted as a **visit** with probability
   (the shopper's own intensity) / (majorant) (thinning).
2. A visit: red-envelope task, social fission, **claim coupons**, **tail
   payment** of a presale deposit, **flash attempt**, or else :meth:`shop`:
   **basket**, **deposit**, **deferral**, **padding**, **price** (threshold,
   coupons, member, envelope, gifts and costs, in that order), **decision**
   (logit), **payment**, **booking** (with a draw for **returns**).
3. **Settlement**: the hour's contested actions (limited coupon claims,
   flash-slot attempts, first-N privileges) in (time, shopper) order.
4. At the presale tail deadline, **forfeits**; at the end, **messages** not
   yet delivered are delivered.

Numerics that matter for exact equality are reproduced on purpose: state the
kernels keep as float32 is rounded with :func:`f32` at the same points, money
is booked as integer cents with :func:`cents`, and the same float operations
are done in the same order.

Examples
--------
>>> from sim import compile_plan, load_scenario
>>> plan = compile_plan(load_scenario("scenarios/smoke.toml"))
>>> out = ReferenceModel(plan, shoppers=50).run()
>>> out["sessions"].shape == (plan.calendar.hours, 3, 2)
True
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from sim import rng
from sim.plan import MECHANISMS, REACH_CHANNELS, Plan, for_shoppers
from sim.shoppers.tables import (
    CH_FIELDS,
    COUNTER_NAMES,
    CP_FIELDS,
    CT_FIELDS,
    D_BASKET,
    D_BUNDLE,
    D_BUY,
    D_CART,
    D_CATEGORY,
    D_CLAIM,
    D_CONSOLATION,
    D_DEFER,
    D_FISSION,
    D_FISSION_NEW,
    D_FLASH,
    D_INSTALMENT,
    D_LOTTERY,
    D_PAD,
    D_PAY,
    D_PRESALE,
    D_RECALL,
    D_RETURN,
    D_TAIL,
    D_TASK,
    D_UNITS,
    FL_FIELDS,
    FN_FIELDS,
    GF_FIELDS,
    HR_FIELDS,
    INIT_ACTIVITY,
    INIT_CHANNEL,
    INIT_DORMANT,
    INIT_MEMBER,
    INIT_MESSAGE,
    INIT_REGION,
    INIT_SEGMENT,
    MONEY,
    MS_FIELDS,
    QT_FIELDS,
    SC_FIELDS,
    SG_FIELDS,
    SLOTS,
    TH_FIELDS,
    kplan,
)

# the model's outputs in currency units (the ledger keeps integer cents)

# mechanisms that lower the price paid, in the order they are booked
PRICE_DISCOUNTS = (
    "price_cut", "quantity", "threshold", "coupon", "member", "red_envelope", "presale",
    "flash", "first_n", "bundle",
)  # fmt: skip

# how a shopper comes to the funnel (see :meth:`ReferenceModel.shop`)
VISIT, RECALL, CONSOLATION = "visit", "recall", "consolation"

INF = math.inf


def f32(x: float) -> float:
    """Round to float32, as the kernels do when they store a value in the agent state."""
    return float(np.float32(x))


def cents(x: float) -> int:
    """Money to integer cents, rounding half up (the ledger's unit)."""
    return int(math.floor(x * 100.0 + 0.5))  # noqa: RUF046 (as in the kernels)


def _exp(x: float) -> float:
    """exp(x), inf on overflow (as in the kernels, where Python's math.exp would raise)."""
    return math.exp(x) if x < 709.0 else INF


def _u64(x: Any) -> np.uint64:
    return np.uint64(x)


class Draws:
    """The random numbers of one decision block: stream key of a shopper and a base counter.

    Every decision has a fixed slot (``D_CART``, ``D_BUY`` ... in
    :mod:`sim.shoppers.tables`), so ``draws.uniform(D_BUY)`` is the same number
    whether or not earlier decisions drew theirs.
    """

    __slots__ = ("base", "key")

    def __init__(self, key: np.uint64, base: int) -> None:
        self.key = key
        self.base = base

    def uniform(self, slot: int) -> float:
        return float(rng.uniform(self.key, self.base + slot))

    def normal(self, slot: int) -> float:
        return float(rng.normal(self.key, self.base + slot))

    def poisson(self, slot: int, mean: float) -> int:
        return int(rng.poisson_small(self.key, self.base + slot, mean))

    def category(self, slot: int, prob: np.ndarray, alias: np.ndarray) -> int:
        return int(rng.alias_draw(self.key, self.base + slot, prob, alias))


@dataclass
class Pending:
    """A contested action waiting for the settlement at the end of the hour."""

    kind: str  # "claim" (limited coupons), "flash" (a slot) or "first_n" (a privilege)
    time: float  # float32, as the kernels keep it
    coupons: set[int] = field(default_factory=set)  # claim: the coupons asked for
    index: int = -1  # flash: the slot; first_n: the privilege
    value: float = 0.0  # first_n: the amount paid (float32), the base of the rebate
    returned: bool = False  # first_n: the order will be returned (its refund is rebated too)


@dataclass(slots=True)
class Shopper:
    """One agent and everything it remembers through the campaign."""

    index: int
    segment: int
    region: int
    member: bool
    dormant: bool
    activity: float  # individual visit-rate multiplier (float32)
    keys: dict[int, np.uint64]  # per stream (rng.INIT, rng.VISIT ...): this shopper's key
    coupons: list[int]  # coupons held, per coupon
    flash_won: list[int]  # units won, per flash series
    converted: bool = False  # a new shopper who bought
    visited: bool = False
    next_visit: float = INF  # time of the next visit candidate (float32)
    candidate: int = 0  # candidates drawn so far: the VISIT/ACCEPT/DECIDE counter
    cart: float = 0.0  # list value of a cart kept (float32, 0: none)
    recall_at: float = INF  # a cart-recall message brings it back then (float32)
    deposit: float = 0.0  # presale item value with a deposit paid (float32, 0: none)
    deposit_category: int = 0
    envelope: float = 0.0  # red-envelope balance (float32)
    purchases: int = 0  # saturates at 255
    last_purchase: float = 0.0  # float32
    fatigue: float = 0.0  # float32
    last_epoch: int = -1  # hour of the last visit
    messages_delivered: int = 0  # messages (in send order) delivered so far
    seen: set[int] = field(default_factory=set)  # messages seen (send order)
    reach: int = 0  # bit c: reached by channel c (the first REACH_CHANNELS channels)
    pending: Pending | None = None

    def holds_any_coupon(self) -> bool:
        return any(n > 0 for n in self.coupons)


@dataclass
class Price:
    """A priced basket: what the shopper pays and what each mechanism gave or cost."""

    paid: float
    discount: dict[str, float]
    cost: dict[str, float]
    general_coupon: int = -1
    category_coupon: int = -1
    envelope_used: bool = False
    utility: float = 0.0  # perceived extra utility of gifts, points, instalments


def _named(table: np.ndarray, names: tuple[str, ...], strip: str = "") -> SimpleNamespace:
    """Rows of a KPlan group as attributes (Python lists), ``cp.face[k]`` rather than cp[0, k]."""
    out = {}
    for k, name in enumerate(names):
        key = name[len(strip) :] if strip and name.startswith(strip) else name
        out[key] = table[k].tolist()
    return SimpleNamespace(**out)


class ReferenceModel:
    """One replicate of the shopper model in plain Python (slow; for small scenarios).

    Parameters
    ----------
    plan
        The compiled scenario.
    replicate
        Replicate number; its random streams are derived from the seed with SeedSequence.
    seed
        Override the scenario's seed.
    shoppers
        Override the number of simulated shoppers.
    behaviour
        Overrides of the behavioural constants (see ``BEHAVIOUR_DEFAULTS``).
    promise
        Delivery promise (hours to the door) shown at checkout, per region (default 0:
        none), as :meth:`ShopperModel.set_promise` before the run.
    """

    def __init__(
        self,
        plan: Plan,
        replicate: int = 0,
        *,
        seed: int | None = None,
        shoppers: int | None = None,
        behaviour: dict[str, float] | None = None,
        promise: np.ndarray | None = None,
    ) -> None:
        plan = for_shoppers(plan, shoppers)  # as ShopperModel: stock in simulated units
        self.plan = plan
        P = kplan(plan, behaviour)
        self.H = P.H
        self.sc = SimpleNamespace(**dict(zip(SC_FIELDS, P.sc.tolist(), strict=True)))
        self.hr = _named(P.hr, HR_FIELDS)
        self.sg = _named(P.sg, SG_FIELDS)
        self.ct = _named(P.ct, CT_FIELDS)
        self.cp = _named(P.cp, CP_FIELDS, "cp_")
        self.fl = _named(P.fl, FL_FIELDS, "fl_")
        self.fn = _named(P.fn, FN_FIELDS, "fn_")
        self.ms = _named(P.ms, MS_FIELDS, "ms_")  # in send order
        self.ch = _named(P.ch, CH_FIELDS, "ch_")
        self.gf = _named(P.gf, GF_FIELDS, "gf_")
        self.qt = _named(P.qt, QT_FIELDS, "q_")
        self.th = _named(P.th, TH_FIELDS, "th_")
        self.cum = P.cum.tolist()
        self.hcum = P.hcum.tolist()
        self.flat = P.flat.tolist()
        self.max_lift = P.max_lift.tolist()
        self.class_lift = P.class_lift.tolist()
        self.class_cum = P.class_cum.tolist()
        self.regime_of = P.regime_of.tolist()
        self.regime_start = P.regime_start.tolist()
        self.minute_spike = P.minute_spike.tolist()
        self.seg_cdf = P.seg_cdf.tolist()
        self.reg_cdf = P.reg_cdf.tolist()
        self.cat_prob, self.cat_alias = P.cat_prob, P.cat_alias  # read by rng.alias_draw
        self.cp_cats, self.cp_segs = P.cp_cats.tolist(), P.cp_segs.tolist()
        self.fl_ptr = P.fl_ptr.tolist()
        self.fn_cats = P.fn_cats.tolist()
        self.ms_segs = P.ms_segs.tolist()
        self.ch_active, self.ch_segs = P.ch_active.tolist(), P.ch_segs.tolist()
        self.gf_active, self.gf_cats = P.gf_active.tolist(), P.gf_cats.tolist()
        self.K, self.F, self.N = len(self.cp.face), len(self.fl.open), len(self.fn.start)
        self.M = len(self.ms.send)

        self.keys = rng.stream_keys(plan.seed if seed is None else seed, replicate)
        n = plan.shoppers
        S, Rn = len(plan.segments.names), len(plan.segments.region_names)
        self.promise = [0.0] * Rn if promise is None else [float(x) for x in promise]

        # scarce things, shared by all shoppers and settled between hours
        stock = plan.coupons.stock
        self.coupon_stock = [int(x) if x >= 0 else np.iinfo(np.int64).max for x in stock]
        self.coupon_left = list(self.coupon_stock)
        self.flash_left = [int(x) for x in plan.flash.stock]
        self.first_n_left = [int(x) for x in plan.first_n.n]  # -1: unlimited
        self.scarcity = 0.0  # 1.0 while a scarcity message shows

        # the ledger: per (hour, segment, region) counts and cents, per mechanism cents
        self.counter = {name: v for v, name in enumerate(COUNTER_NAMES)}
        self.mechanism = {name: m for m, name in enumerate(MECHANISMS)}
        self.counters = np.zeros((self.H, S, Rn, len(COUNTER_NAMES)), np.int64)
        self.mechanisms = np.zeros((self.H, S, Rn, len(MECHANISMS)), np.int64)
        self.coupon_stats = np.zeros((self.K, 4), np.int64)  # attempts, claims, lost, uses
        self.flash_stats = np.zeros((self.F, 4))  # attempts, wins, sell-out hours, lost
        self.flash_stats[:, 2] = np.nan
        self.first_n_stats = np.zeros((self.N, 2))  # wins, exhausted at
        self.first_n_stats[:, 1] = np.nan
        self.message_stats = np.zeros((self.M, S, 3), np.int64)  # sent, seen, woken
        self.epoch = 0

        pre = plan.extras.presale
        self.forfeit_epoch = (
            int(np.ceil(pre["tail_end"])) - 1 if plan.extras.presale_enabled else -1
        )
        self.shoppers = [self.create_shopper(i) for i in range(n)]

    # -- the ledger ------------------------------------------------------------------
    def count(self, sh: Shopper, name: str, n: int = 1) -> None:
        """Add n to a counter of this hour, in the shopper's segment and region."""
        self.counters[self.epoch, sh.segment, sh.region, self.counter[name]] += n

    def book_mechanism(self, sh: Shopper, name: str, amount_cents: int) -> None:
        self.mechanisms[self.epoch, sh.segment, sh.region, self.mechanism[name]] += amount_cents

    # -- shoppers --------------------------------------------------------------------
    def create_shopper(self, i: int) -> Shopper:
        """Draw segment, region, activity, membership, dormancy and the first visit candidate."""
        keys = {s: _u64(rng.shopper_key(self.keys[s], i)) for s in range(len(rng.STREAM_NAMES))}
        init = Draws(keys[rng.INIT], 0)
        u = init.uniform(INIT_SEGMENT)
        s = 0
        while s < len(self.seg_cdf) - 1 and u >= self.seg_cdf[s]:
            s += 1
        u = init.uniform(INIT_REGION)
        r = 0
        while r < len(self.reg_cdf) - 1 and u >= self.reg_cdf[r]:
            r += 1
        sig = self.sg.activity_sigma[s]
        activity = f32(math.exp(sig * init.normal(INIT_ACTIVITY) - 0.5 * sig * sig))
        sh = Shopper(
            index=i,
            segment=s,
            region=r,
            member=init.uniform(INIT_MEMBER) < self.sg.member_rate[s],
            dormant=init.uniform(INIT_DORMANT) < self.sg.dormant_share[s],
            activity=activity,
            keys=keys,
            coupons=[0] * self.K,
            flash_won=[0] * max(len(self.plan.flash.series_names), 1),
        )
        for c in range(min(len(self.ch.reach), REACH_CHANNELS)):
            if float(rng.uniform(keys[rng.INIT], INIT_CHANNEL + c)) < self.ch.reach[c]:
                sh.reach |= 1 << c
        step = float(rng.exponential(keys[rng.VISIT], 0))
        sh.next_visit = f32(self.class_invert(self.visit_class(sh), s, step / activity))
        return sh

    # -- visit times -----------------------------------------------------------------
    def cum_at(self, s: int, t: float) -> float:
        """Cumulative majorant intensity of segment s at campaign hour t (per unit activity)."""
        cum = self.cum[s]
        x = t * 60.0
        last = len(cum) - 1
        if x >= last:
            return self.sg.cum_total[s]
        m = int(x)
        c0 = cum[m]
        return c0 + (cum[m + 1] - c0) * (x - m)

    def invert(self, s: int, lam: float) -> float:
        """The hour at which segment s's cumulative intensity reaches lam (inf: never).

        The hour is the one with hcum[h] <= lam < hcum[h + 1] (the kernels search a
        bracket from the guide table; bisecting the whole table finds the same hour). In
        an hour whose minutes have the same intensity the cumulative is linear; else the
        minute is the one with cum[m] <= lam < cum[m + 1], then linear interpolation.
        """
        hc = self.hcum[s]
        total = self.sg.cum_total[s]
        if lam >= total or total <= 0.0:
            return INF
        h = bisect.bisect_right(hc, lam) - 1
        if self.flat[h]:
            return h + (lam - hc[h]) / (hc[h + 1] - hc[h])
        cum = self.cum[s]
        m = bisect.bisect_right(cum, lam, 60 * h, 60 * h + 60) - 1
        c0, c1 = cum[m], cum[m + 1]
        frac = (lam - c0) / (c1 - c0) if c1 > c0 else 0.0
        return (m + frac) / 60.0

    # The majorant of a shopper is the segment part (tabulated per minute: message lifts,
    # channels past the first REACH_CHANNELS) times its class part, constant over runs of
    # hours (regimes): the lifts of the first REACH_CHANNELS channels that reach it and,
    # with a deposit paid, the presale reminder and rush lifts.
    def visit_class(self, sh: Shopper) -> int:
        """The shopper's row of the class tables: reach pattern, segment, deposit paid."""
        return (sh.reach * len(self.seg_cdf) + sh.segment) * 2 + (1 if sh.deposit > 0.0 else 0)

    def majorant(self, row: int, s: int, e: int) -> float:
        """The majorant lift of class ``row`` in hour e."""
        return self.max_lift[s][e] * self.class_lift[row][self.regime_of[e]]

    def class_cum_at(self, row: int, s: int, t: float) -> float:
        """Cumulative majorant visits (per unit activity) of class ``row`` at hour t."""
        cc = self.class_cum[row]
        if t >= self.H:
            return cc[-1]
        j = self.regime_of[int(t)]
        return cc[j] + self.class_lift[row][j] * (
            self.cum_at(s, t) - self.hcum[s][self.regime_start[j]]
        )

    def class_invert(self, row: int, s: int, lam: float) -> float:
        """The hour at which class ``row``'s cumulative majorant reaches lam (inf: never):
        the last regime whose start is <= lam, then the segment part's inversion."""
        cc = self.class_cum[row]
        J = len(cc) - 1
        if lam >= cc[J]:
            return INF
        j = bisect.bisect_right(cc, lam) - 1  # the last regime starting at or below lam
        g = self.hcum[s][self.regime_start[j]] + (lam - cc[j]) / self.class_lift[row][j]
        return self.invert(s, g)

    def visit_lift(self, sh: Shopper, t: float) -> float:
        """The shopper's own intensity multiplier at t: channels, messages, presale, dormancy."""
        e, s = self.epoch, sh.segment
        L = 1.0
        for c in range(len(self.ch.reach)):
            if self.ch_active[c][e] and self.ch_segs[c][s]:
                # reached by channel c or not: one draw per shopper for the whole campaign,
                # kept as bit c for the first REACH_CHANNELS channels
                if c < REACH_CHANNELS:
                    reached = (sh.reach >> c) & 1 != 0
                else:
                    u = float(rng.uniform(sh.keys[rng.INIT], INIT_CHANNEL + c))
                    reached = u < self.ch.reach[c]
                if reached:
                    L *= self.ch.lift[c]
        if sh.seen:
            best = 1.0
            for m in range(sh.messages_delivered):
                if m in sh.seen and t < self.ms.lift_end[m] and self.ms.lift[m] > best:
                    best = self.ms.lift[m]
            L *= best
        if (
            self.sc.pre_on
            and sh.deposit > 0.0
            and self.sc.pre_tail_start <= t < self.sc.pre_tail_end
        ):
            L *= self.sc.pre_reminder_lift
            if t >= self.sc.pre_rush_start:
                L *= self.sc.pre_rush_lift
        if sh.dormant:
            L *= self.sg.dormant_activity[s]
        return L

    # -- messages ------------------------------------------------------------------------
    def deliver_messages(self, sh: Shopper, t: float) -> None:
        """Deliver every message sent up to t that the shopper has not yet received.

        A message reaches its segments (only dormant shoppers if so marked); a
        shopper who sees it gets its coupon and, if dormant, may wake up.
        """
        s = sh.segment
        m = sh.messages_delivered
        while m < self.M and self.ms.send[m] <= t:
            if self.ms_segs[m][s] and (not self.ms.dormant_only[m] or sh.dormant):
                self.message_stats[m, s, 0] += 1
                key = sh.keys[rng.INIT]
                if float(rng.uniform(key, INIT_MESSAGE + 2 * m)) < self.ms.reach[m]:
                    self.message_stats[m, s, 1] += 1
                    sh.seen.add(m)
                    k = int(self.ms.coupon[m])
                    if k >= 0 and sh.coupons[k] < 255:
                        sh.coupons[k] += 1
                    if (
                        sh.dormant
                        and float(rng.uniform(key, INIT_MESSAGE + 2 * m + 1)) < (self.ms.wake[m])
                    ):
                        sh.dormant = False
                        self.message_stats[m, s, 2] += 1
            m += 1
        sh.messages_delivered = m

    # -- the hour ------------------------------------------------------------------------
    def live_through_hour(self, sh: Shopper) -> None:
        """Process the shopper's events of this hour in time order.

        The next event is the cart recall if it comes before the next visit
        candidate, else the candidate. A candidate is accepted as a visit with
        probability lift / majorant lift; either way the next candidate is drawn
        by inverting the cumulative majorant intensity one exponential step on.
        """
        e = self.epoch
        end = float(e + 1)
        while True:
            if sh.recall_at < sh.next_visit:
                if sh.recall_at >= end:
                    return
                t = sh.recall_at
                sh.recall_at = INF
                self.deliver_messages(sh, t)
                draws = Draws(sh.keys[rng.RECALL], sh.candidate * SLOTS)
                self.shop(sh, t, draws, RECALL, flash_utility=0.0, may_register=False)
                continue
            if sh.next_visit >= end:
                return
            t = sh.next_visit
            j = sh.candidate
            self.deliver_messages(sh, t)
            s = sh.segment
            L = self.visit_lift(sh, t)
            M = self.majorant(self.visit_class(sh), s, e)
            if float(rng.uniform(sh.keys[rng.ACCEPT], j)) * M < L:
                self.visit(sh, t, Draws(sh.keys[rng.DECIDE], j * SLOTS))
            j += 1
            sh.candidate = j
            # the next candidate from the class the shopper is in now (a deposit paid in
            # the visit moves it; the process is memoryless)
            row = self.visit_class(sh)
            step = float(rng.exponential(sh.keys[rng.VISIT], j)) / sh.activity
            sh.next_visit = f32(self.class_invert(row, s, self.class_cum_at(row, s, t) + step))

    def update_scarcity(self) -> None:
        """Is a scarcity message showing (a limited coupon or first-N below its share)?"""
        e = self.epoch
        ex, c, fn = self.plan.extras, self.plan.coupons, self.plan.first_n
        below = float(ex.scarcity["below_share"])
        showing = False
        if ex.scarcity["urgency"]:
            for k in range(self.K):
                open_ = c.claim_start[k] <= e < c.claim_end[k] and c.claimable[k]
                if open_ and c.stock[k] >= 0 and self.coupon_left[k] < below * self.coupon_stock[k]:
                    showing = True
            for k in range(self.N):
                n = fn.n[k]
                if fn.start[k] <= e < fn.end[k] and n > 0 and self.first_n_left[k] < below * n:
                    showing = True
        self.scarcity = 1.0 if showing else 0.0

    def step(self) -> None:
        """One hour: every shopper in index order, then the settlement, then forfeits."""
        self.advance()
        self.close_hour()

    def advance(self) -> None:
        """The first half of an hour (as ``ShopperModel.advance``): every shopper's
        sessions in index order, contested actions left pending."""
        self.update_scarcity()
        for sh in self.shoppers:
            self.live_through_hour(sh)

    def close_hour(self) -> None:
        """The second half of an hour (as ``ShopperModel.settle``): the settlement, the
        forfeits at the tail deadline, and after the last hour the messages not yet
        delivered (to shoppers with no later visit)."""
        self.settle()
        if self.epoch == self.forfeit_epoch:
            self.forfeits()
        self.epoch += 1
        if self.epoch == self.H:
            for sh in self.shoppers:
                if sh.messages_delivered < self.M:
                    self.deliver_messages(sh, INF)

    def run(self) -> dict[str, Any]:
        """Run the campaign and return the same outputs as ``ShopperModel.results()``."""
        while self.epoch < self.H:
            self.step()
        return self.results()

    # -- a visit -------------------------------------------------------------------------
    def visit(self, sh: Shopper, t: float, draws: Draws) -> None:
        """A session: tasks and claims, then a tail payment, a flash attempt, or the funnel."""
        e, s = self.epoch, sh.segment
        self.count(sh, "sessions")
        if sh.last_epoch != e:
            self.count(sh, "visitors")
        if not sh.visited:
            self.count(sh, "first_visits")
            sh.visited = True
        gap = float(e - sh.last_epoch) if sh.last_epoch >= 0 else 1e9
        decay = math.exp(-gap / self.sc.fatigue_hours)
        sh.fatigue = f32(sh.fatigue * decay + self.sg.fatigue_step[s])
        sh.last_epoch = e
        self.envelope_task(sh, draws)
        self.social_fission(sh, draws)
        self.claim_coupons(sh, t, draws)
        if self.tail_payment(sh, t, draws):
            return
        slot, flash_utility = self.open_flash_slot(sh, t)
        if slot >= 0 and self.flash_attempt(sh, t, slot, draws):
            return
        self.shop(sh, t, draws, VISIT, flash_utility=flash_utility, may_register=True)

    def envelope_task(self, sh: Shopper, draws: Draws) -> None:
        """Doing a red-envelope task opens the envelope or grows its balance (up to a cap)."""
        sc = self.sc
        if self.hr.env_task[self.epoch] and draws.uniform(D_TASK) < sc.env_task_prob:
            b = sc.env_initial if sh.envelope <= 0.0 else sh.envelope + sc.env_growth
            sh.envelope = f32(b if b < sc.env_max else sc.env_max)
            self.count(sh, "envelope_tasks")

    def social_fission(self, sh: Shopper, draws: Draws) -> None:
        """Inviting friends earns the fission coupon; some invitees are new shoppers."""
        sc = self.sc
        if not (self.hr.fi_active[self.epoch] and draws.uniform(D_FISSION) < sc.fi_participation):
            return
        self.count(sh, "fissions")
        k = int(sc.fi_coupon)
        if k >= 0 and sh.coupons[k] < self.cp.per_shopper[k]:
            sh.coupons[k] += 1
        whole = math.floor(sc.fi_new_rate)
        new = int(whole) + (1 if draws.uniform(D_FISSION_NEW) < sc.fi_new_rate - whole else 0)
        self.count(sh, "fission_new", new)

    def claim_coupons(self, sh: Shopper, t: float, draws: Draws) -> None:
        """Claim each open coupon with the segment's coupon affinity.

        Unlimited coupons are granted at once; limited ones are asked for and
        settled at the end of the hour (unless a flash or first-N action is pending).
        """
        s, cp = sh.segment, self.cp
        for k in range(self.K):
            if not cp.claimable[k] or not cp.claim_start[k] <= t < cp.claim_end[k]:
                continue
            if not self.cp_segs[k][s] or sh.coupons[k] >= cp.per_shopper[k]:
                continue
            if cp.new_only[k] and (not self.sg.is_new[s] or sh.converted):
                continue
            if draws.uniform(D_CLAIM + k) >= self.sg.coupon_aff[s]:
                continue
            if not cp.limited[k]:
                sh.coupons[k] += 1
                self.count(sh, "coupon_claims")
                self.coupon_stats[k, 0] += 1
                self.coupon_stats[k, 1] += 1
            elif self.coupon_left[k] > 0 and (sh.pending is None or sh.pending.kind == "claim"):
                if sh.pending is None:
                    sh.pending = Pending("claim", f32(t))
                if k not in sh.pending.coupons:
                    sh.pending.coupons.add(k)
                    self.coupon_stats[k, 0] += 1

    def tail_payment(self, sh: Shopper, t: float, draws: Draws) -> bool:
        """In the tail window a shopper with a deposit may pay the rest (more so in the rush)."""
        sc = self.sc
        if not (sc.pre_on and sh.deposit > 0.0 and sc.pre_tail_start <= t < sc.pre_tail_end):
            return False
        p = sc.pre_tail_pay
        if t >= sc.pre_rush_start:
            p = 1.0 - (1.0 - p) / (1.0 + self.sg.urgency_resp[sh.segment])
        if draws.uniform(D_TAIL) >= p:
            return False
        self.book_tail(sh, t, draws)
        return True

    def open_flash_slot(self, sh: Shopper, t: float) -> tuple[int, float]:
        """The best open slot the shopper may still win (-1: none) and the best open utility."""
        fl, best, utility = self.fl, -1, 0.0
        for f in range(self.fl_ptr[self.epoch], self.fl_ptr[self.epoch + 1]):
            if not fl.open[f] <= t < fl.close[f]:
                continue
            utility = max(utility, fl.utility[f])
            series = int(fl.series[f])
            if self.flash_left[f] > 0 and sh.flash_won[series] < fl.limit[f]:
                if best < 0 or fl.utility[f] > fl.utility[best]:
                    best = f
        return best, utility

    def flash_attempt(self, sh: Shopper, t: float, slot: int, draws: Draws) -> bool:
        """Try for the flash slot (settled at the end of the hour: the first K win)."""
        if sh.pending is not None:
            return False
        p = 1.0 - (1.0 - self.sg.flash_aff[sh.segment]) ** self.fl.utility[slot]
        if draws.uniform(D_FLASH) >= p:
            return False
        sh.pending = Pending("flash", f32(t), index=slot)
        self.count(sh, "flash_attempts")
        return True

    # -- the funnel ------------------------------------------------------------------------
    def shop(
        self,
        sh: Shopper,
        t: float,
        draws: Draws,
        mode: str,
        *,
        flash_utility: float,
        may_register: bool,
    ) -> None:
        """The funnel from the cart on: basket, deposit, deferral, padding, price, decision,
        payment, booking.

        ``mode`` is VISIT (a session), RECALL (a cart-recall message brought the
        shopper back to the cart it left) or CONSOLATION (it lost a flash slot).
        """
        s, h = sh.segment, self.epoch
        # basket: the cart kept from before, or a new one
        z = 0.0
        if mode == RECALL:
            if sh.cart <= 0.0:
                return
            V = sh.cart
        elif sh.cart > 0.0:
            V = sh.cart
        else:
            if draws.uniform(D_CART) >= self.sg.p_cart[s]:
                return
            self.count(sh, "cart_adds")
            z = draws.normal(D_BASKET)
            V = -1.0
        profile = int(self.hr.cat_profile[h])
        cat = draws.category(D_CATEGORY, self.cat_prob[profile], self.cat_alias[profile])
        units = 1 + draws.poisson(D_UNITS, self.sg.units_mean[s] - 1.0)
        if V < 0.0:
            V = (
                self.sg.basket_median[s]
                * self.ct.price_index[cat]
                * math.exp(self.sg.basket_sigma[s] * z)
            )
        sh.cart = 0.0
        if mode == VISIT and self.deposit(sh, t, cat, V, draws):
            return
        if mode != RECALL and self.deferral(sh, V, draws):
            return
        if mode != RECALL:
            V, units = self.padding(sh, cat, V, units, draws)
        price = self.price(sh, t, cat, V, units, draws)
        depth = (V - price.paid + price.cost["gift"] + price.cost["points"]) / V
        privilege, privilege_utility = self.open_first_n(t, cat)
        # the purchase decision (logit) and the payment
        U = self.utility(sh, t, cat, price, depth, flash_utility, privilege_utility)
        if draws.uniform(D_BUY) * (1.0 + _exp(-U)) >= 1.0:  # refused with P = 1 - logistic(U)
            self.count(sh, "abandoned_checkout")
            sh.cart = f32(V)
            if mode != RECALL:
                self.schedule_recall(sh, t, draws)
            return
        self.count(sh, "checkouts")
        if draws.uniform(D_PAY) >= self.sg.p_pay[s]:
            self.count(sh, "abandoned_payment")
            sh.cart = f32(V)
            if mode != RECALL:
                self.schedule_recall(sh, t, draws)
            return
        spike = self.minute_spike[min(int(t * 60.0), len(self.minute_spike) - 1)]
        impulse = spike or flash_utility > 0.0
        paid, returned = self.book(sh, t, cat, V, units, price, draws, depth, impulse)
        if mode == RECALL:
            self.count(sh, "recall_orders")
        for k in (price.general_coupon, price.category_coupon):
            if k >= 0:
                sh.coupons[k] -= 1
                self.coupon_stats[k, 3] += 1
                self.count(sh, "coupon_uses")
        if price.envelope_used:
            sh.envelope = 0.0
        if privilege >= 0 and may_register and sh.pending is None:
            sh.pending = Pending(
                "first_n", f32(t), index=privilege, value=f32(paid / 100.0), returned=returned
            )

    def deposit(self, sh: Shopper, t: float, cat: int, V: float, draws: Draws) -> bool:
        """In the deposit window a presale item may be reserved with a deposit instead."""
        sc = self.sc
        if not (
            sc.pre_on
            and sh.deposit == 0.0
            and sc.pre_dep_start <= t < sc.pre_dep_end
            and self.ct.pre_cats[cat]
        ):
            return False
        if draws.uniform(D_PRESALE) >= sc.pre_uptake:
            return False
        sh.deposit = f32(sc.pre_item_price if sc.pre_item_price > 0.0 else V)
        sh.deposit_category = cat
        self.count(sh, "deposits")
        self.count(sh, "deposit_money", cents(sc.pre_deposit))
        return True

    def deferral(self, sh: Shopper, V: float, draws: Draws) -> bool:
        """Before the peak, a shopper expecting a deeper discount ahead may keep the cart."""
        h = self.epoch
        if self.hr.is_peak[h]:
            return False
        ahead, now = self.hr.depth_ahead[h], self.hr.depth[h]
        if not ahead > now + self.sc.defer_margin:
            return False
        if draws.uniform(D_DEFER) >= self.sg.defer_prop[sh.segment] * (ahead - now) / ahead:
            return False
        sh.cart = f32(V)
        self.count(sh, "deferrals")
        return True

    def padding(
        self, sh: Shopper, cat: int, V: float, units: int, draws: Draws
    ) -> tuple[float, int]:
        """A basket close below a threshold tier may be padded (one more unit) to reach it."""
        h, sc, ct = self.epoch, self.sc, self.ct
        if not (self.hr.th_active[h] and ct.th_cats[cat] and len(self.th.spend) > 0):
            return V, units
        b = V  # the basket after price cut and quantity discount
        if self.hr.pc_active[h] and ct.pc_cats[cat]:
            b *= 1.0 - sc.pc_rate
        if self.hr.q_active[h] and ct.q_cats[cat]:
            b *= 1.0 - self.quantity_rate(units)
        counted = b * sc.th_share
        tier = self.next_tier(counted)
        if tier > 0.0 and counted > 0.0 and tier - counted <= self.sg.pad_reach[sh.segment] * tier:
            if draws.uniform(D_PAD) < self.sg.pad_prop[sh.segment]:
                V *= tier / counted
                units += 1
                self.count(sh, "paddings")
        return V, units

    # -- the price ----------------------------------------------------------------------------
    def quantity_rate(self, units: int) -> float:
        """Quantity discount rate: the highest tier the units reach."""
        rate = 0.0
        for k in range(len(self.qt.units)):
            if units >= self.qt.units[k]:
                rate = self.qt.disc[k]
        return rate

    def threshold_off(self, base: float) -> float:
        """Threshold discount on the part of the basket counted for the tiers."""
        n = len(self.th.spend)
        if n == 0:
            return 0.0
        if self.sc.th_per_multiple:
            return math.floor(base / self.th.spend[n - 1]) * self.th.off[n - 1]
        off = 0.0
        for k in range(n):
            if base >= self.th.spend[k]:
                off = self.th.off[k]
        return off

    def next_tier(self, base: float) -> float:
        """Spend of the next threshold tier above base (0: none)."""
        n = len(self.th.spend)
        if n == 0:
            return 0.0
        if self.sc.th_per_multiple:
            top = self.th.spend[n - 1]
            return (math.floor(base / top) + 1.0) * top
        for k in range(n):
            if base < self.th.spend[k]:
                return self.th.spend[k]
        return 0.0

    def best_coupons(
        self, sh: Shopper, t: float, cat: int, price: float, stacking_only: bool
    ) -> tuple[int, int]:
        """The best general and the best category coupon usable on price (-1: none)."""
        cp, general, category = self.cp, -1, -1
        for k in range(self.K):
            if sh.coupons[k] == 0 or not cp.use_start[k] <= t < cp.use_end[k]:
                continue
            if not self.cp_cats[k][cat] or price < cp.min[k] or cp.face[k] <= 0.0:
                continue
            if stacking_only and not cp.stacks[k]:
                continue
            if cp.category[k]:
                if category < 0 or cp.face[k] > cp.face[category]:
                    category = k
            elif general < 0 or cp.face[k] > cp.face[general]:
                general = k
        return general, category

    def price(self, sh: Shopper, t: float, cat: int, V: float, units: int, draws: Draws) -> Price:
        """Price a basket of list value V, booking each discount to its mechanism.

        Order: price cut, quantity tier, threshold tier, coupons (one general and
        one category coupon; coupons that do not stack with the threshold replace
        it if worth more), member discount, red envelope (times the peak-day
        multiplier), gifts and bundles; then costs the platform pays on top:
        gifts, points, lottery, instalment fees.
        """
        h, sc, ct, hr, cp = self.epoch, self.sc, self.ct, self.hr, self.cp
        disc = dict.fromkeys(PRICE_DISCOUNTS, 0.0)
        cost = {"gift": 0.0, "points": 0.0, "lottery": 0.0, "instalments": 0.0}
        p = V
        if hr.pc_active[h] and ct.pc_cats[cat]:
            disc["price_cut"] = sc.pc_rate * p
            p -= disc["price_cut"]
        if hr.q_active[h] and ct.q_cats[cat]:
            disc["quantity"] = self.quantity_rate(units) * p
            p -= disc["quantity"]
        th = 0.0
        if hr.th_active[h] and ct.th_cats[cat]:
            th = self.threshold_off(p * sc.th_share)
        # coupons: the threshold with the coupons that stack on it, or no threshold and
        # any coupons, whichever takes more off
        g1, c1 = self.best_coupons(sh, t, cat, p - th, True)
        with_threshold = th
        if g1 >= 0:
            with_threshold += cp.face[g1]
        if c1 >= 0:
            with_threshold += cp.face[c1]
        g2, c2, without = -1, -1, 0.0
        if th > 0.0:
            g2, c2 = self.best_coupons(sh, t, cat, p, False)
            if g2 >= 0:
                without += cp.face[g2]
            if c2 >= 0:
                without += cp.face[c2]
        if without > with_threshold:
            general, category, th, coupons = g2, c2, 0.0, without
        else:
            general, category, coupons = g1, c1, with_threshold - th
        coupons = min(coupons, p - th)
        disc["threshold"] = th
        disc["coupon"] = coupons
        p -= th + coupons
        if sh.member and hr.mb_active[h]:
            d = sc.mb_rate * p
            disc["member"] = d if d < sc.mb_max_off else sc.mb_max_off
            p -= disc["member"]
        envelope_used = False
        if hr.env_spend[h] and sh.envelope > 0.0 and p >= sc.env_min_spend:
            d = sh.envelope * hr.env_peak[h]
            disc["red_envelope"] = d if d < p else p
            p -= disc["red_envelope"]
            envelope_used = True
        utility = 0.0
        take = draws.uniform(D_BUNDLE)  # one draw decides take-up of every gift offered
        gf = self.gf
        for k in range(len(gf.kind)):
            if not self.gf_active[k][h] or not self.gf_cats[k][cat] or p < gf.min[k]:
                continue
            utility += gf.utility[k]
            if take >= gf.take_up[k]:
                continue
            if gf.kind[k] == 0:  # a gift: the platform pays its value
                cost["gift"] += gf.value[k]
            else:  # bogo / bundle: a discount on the price
                d = gf.value[k] * p
                disc["bundle"] += d
                p -= d
        if sc.pt_rate > 0.0:
            cost["points"] = sc.pt_rate * (sc.pt_mult if hr.pt_active[h] else 1.0) * p
        if hr.pt_active[h]:
            utility += sc.pt_utility
            if draws.uniform(D_LOTTERY) < sc.pt_lottery_prob:
                cost["lottery"] = sc.pt_lottery_prize
        if hr.in_active[h] and p >= sc.in_min:
            utility += sc.in_utility
            if draws.uniform(D_INSTALMENT) < sc.in_take_up:
                cost["instalments"] = sc.in_fee * p
        return Price(p, disc, cost, general, category, envelope_used, utility)

    def open_first_n(self, t: float, cat: int) -> tuple[int, float]:
        """The first open first-N privilege for the category (-1: none) and their utility."""
        fn, first, utility = self.fn, -1, 0.0
        for n in range(self.N):
            if fn.start[n] <= t < fn.end[n] and self.first_n_left[n] != 0 and self.fn_cats[n][cat]:
                if first < 0:
                    first = n
                utility += fn.utility[n]
        return first, utility

    # -- the decision -----------------------------------------------------------------------
    def utility(
        self,
        sh: Shopper,
        t: float,
        cat: int,
        price: Price,
        depth: float,
        flash_utility: float,
        privilege_utility: float,
    ) -> float:
        """Utility of buying now (the logit's argument).

        Rises with discount depth, urgency (countdown, scarcity, an open flash slot
        or first-N privilege), coupons held, membership and the perks; falls with a
        price above the segment's typical basket, fatigue, a long delivery promise
        and a recent purchase.
        """
        s, h, sc, sg = sh.segment, self.epoch, self.sc, self.sg
        ps = sg.price_sens[s]
        typical = sg.basket_median[s] * self.ct.price_index[cat]
        U = sg.checkout_logit[s] + ps * sc.k_depth * depth
        if price.paid > typical:
            U -= ps * sc.k_price * math.log(price.paid / typical)
        urgency = self.hr.countdown[h] + self.scarcity * sc.scarcity_urgency
        urgency += sc.flash_urgency * flash_utility + privilege_utility
        U += sg.urgency_resp[s] * urgency
        if sh.holds_any_coupon():
            U += sc.k_coupon * sg.coupon_aff[s]
        if sh.member and self.hr.mb_active[h]:
            U += sc.mb_utility
        U += price.utility - sh.fatigue
        promise = self.promise[sh.region]
        if promise > 24.0:
            U -= sc.k_promise * (promise / 24.0 - 1.0)
        if sh.purchases > 0:
            since = t - sh.last_purchase
            U -= sc.k_sated * (1.0 - sg.repeat_purchase[s]) * math.exp(-since / sc.sated_hours)
        return U

    def schedule_recall(self, sh: Shopper, t: float, draws: Draws) -> None:
        """A cart left behind may get a cart-recall message (one outstanding at a time)."""
        sc = self.sc
        if sc.recall_rate > 0.0 and sh.recall_at == INF:
            if draws.uniform(D_RECALL) < sc.recall_rate:
                sh.recall_at = f32(t + sc.recall_delay)
                self.count(sh, "recalls_sent")

    # -- booking -----------------------------------------------------------------------------
    def book(
        self,
        sh: Shopper,
        t: float,
        cat: int,
        V: float,
        units: int,
        price: Price,
        draws: Draws,
        depth: float,
        impulse: bool,
    ) -> tuple[int, bool]:
        """Book a paid order in cents; draw whether it will be returned. Returns the cents
        paid and whether it will be returned."""
        s, sc = sh.segment, self.sc
        self.count(sh, "orders")
        self.count(sh, "units", units)
        gmv = cents(V)
        paid = gmv
        for name in PRICE_DISCOUNTS:
            d = cents(price.discount[name])
            self.book_mechanism(sh, name, d)
            paid -= d
        for name, c in price.cost.items():
            if c != 0.0:
                self.book_mechanism(sh, name, cents(c))
        self.count(sh, "gmv", gmv)
        self.count(sh, "paid", paid)
        cogs = cents(V * self.ct.cogs[cat])
        self.count(sh, "cogs", cogs)
        if self.sg.is_new[s] and not sh.converted:
            sh.converted = True
            self.count(sh, "new_shoppers")
        if sh.purchases == 1:
            self.count(sh, "repeat_buyers")
        sh.purchases = min(sh.purchases + 1, 255)
        sh.last_purchase = f32(t)
        # returns: more for deep discounts and impulse purchases
        p_return = (
            self.sg.return_prop[s] * self.ct.return_mult[cat] * (1.0 + sc.k_return_depth * depth)
        )
        if impulse:
            p_return *= 1.0 + sc.k_impulse
        returned = draws.uniform(D_RETURN) < p_return
        if returned:
            self.count(sh, "returns")
            self.count(sh, "return_money", paid)
            self.count(sh, "return_cogs", cogs)
        return paid, returned

    def book_tail(self, sh: Shopper, t: float, draws: Draws) -> None:
        """The presale tail payment: the deposit counts as its inflated value (the presale
        discount), and paying in the rush earns the rush gift."""
        sc = self.sc
        V = sh.deposit
        d = sc.pre_value - sc.pre_deposit
        if d > V - sc.pre_deposit:
            d = max(V - sc.pre_deposit, 0.0)
        disc = dict.fromkeys(PRICE_DISCOUNTS, 0.0)
        disc["presale"] = d
        cost = {"presale_rush": sc.pre_rush_gift if t >= sc.pre_rush_start else 0.0}
        sh.deposit = 0.0
        self.count(sh, "tails_paid")
        price = Price(V - d, disc, cost)
        self.book(sh, t, sh.deposit_category, V, 1, price, draws, d / V, False)

    # -- settlement ---------------------------------------------------------------------------
    def settle(self) -> None:
        """Settle the hour's contested actions in (time, shopper) order.

        Limited coupons go to claimants while stock lasts; a flash slot's first K
        attempts win (the losers may buy something else: a consolation funnel);
        a first-N privilege rebates the first N orders.
        """
        waiting = [sh for sh in self.shoppers if sh.pending is not None]
        waiting.sort(key=lambda sh: sh.pending.time)  # type: ignore[union-attr]  # stable
        for sh in waiting:
            pend = sh.pending
            assert pend is not None
            sh.pending = None
            t = pend.time
            if pend.kind == "claim":
                for k in sorted(pend.coupons):
                    if self.coupon_left[k] > 0:
                        self.coupon_left[k] -= 1
                        sh.coupons[k] += 1
                        self.count(sh, "coupon_claims")
                        self.coupon_stats[k, 1] += 1
                    else:
                        self.coupon_stats[k, 2] += 1
            elif pend.kind == "flash":
                self.settle_flash(sh, t, pend.index)
            else:
                self.settle_first_n(sh, t, pend.index, pend.value, pend.returned)

    def settle_flash(self, sh: Shopper, t: float, f: int) -> None:
        """A flash attempt: a win while stock lasts books the order; a loser may shop on."""
        fl = self.fl
        draws = Draws(sh.keys[rng.SETTLE], f * SLOTS)
        self.flash_stats[f, 0] += 1
        series = int(fl.series[f])
        if self.flash_left[f] > 0 and sh.flash_won[series] < fl.limit[f]:
            self.flash_left[f] -= 1
            sh.flash_won[series] += 1
            V = fl.list[f]
            disc = dict.fromkeys(PRICE_DISCOUNTS, 0.0)
            disc["flash"] = V - fl.price[f]
            self.count(sh, "flash_wins")
            price = Price(fl.price[f], disc, {})
            self.book(sh, t, int(fl.cat[f]), V, 1, price, draws, disc["flash"] / V, True)
            self.flash_stats[f, 1] += 1
            if self.flash_left[f] == 0:
                self.flash_stats[f, 2] = t - fl.open[f]
        else:
            self.flash_stats[f, 3] += 1
            if draws.uniform(D_CONSOLATION) < self.sc.consolation:
                self.shop(
                    sh, t, draws, CONSOLATION, flash_utility=fl.utility[f], may_register=False
                )

    def settle_first_n(
        self, sh: Shopper, t: float, n: int, paid: float, returned: bool = False
    ) -> None:
        """A first-N claim: while places last, rebate a share of the order (capped). An
        order that will be returned refunds what was paid after the rebate."""
        if self.first_n_left[n] == 0:
            return
        if self.first_n_left[n] > 0:
            self.first_n_left[n] -= 1
        rebate = self.fn.disc[n] * paid
        if rebate > self.fn.max_off[n]:
            rebate = self.fn.max_off[n]
        rc = cents(rebate)
        self.book_mechanism(sh, "first_n", rc)
        self.count(sh, "paid", -rc)
        if returned:
            self.count(sh, "return_money", -rc)
        self.count(sh, "first_n_wins")
        self.first_n_stats[n, 0] += 1
        if self.first_n_left[n] == 0:
            self.first_n_stats[n, 1] = t

    def forfeits(self) -> None:
        """At the tail deadline every unpaid deposit is forfeited."""
        for sh in self.shoppers:
            if sh.deposit > 0.0:
                self.count(sh, "forfeits")
                self.count(sh, "forfeit_money", cents(self.sc.pre_deposit))
                sh.deposit = 0.0

    # -- outputs --------------------------------------------------------------------------------
    def results(self) -> dict[str, Any]:
        """Named arrays, keyed and shaped as ``ShopperModel.results()``."""
        out: dict[str, Any] = {}
        for v, name in enumerate(COUNTER_NAMES):
            a = self.counters[..., v]
            out[name] = a / 100.0 if name in MONEY else a.copy()
        out["subsidy"] = self.mechanisms / 100.0
        cpn = self.coupon_stats
        # as in ShopperModel.results(): these per-coupon totals replace the hourly
        # counters of the same names
        out["claim_attempts_by_coupon"] = cpn[:, 0].copy()
        out["claims_by_coupon"] = cpn[:, 1].copy()
        out["claims_lost_by_coupon"] = cpn[:, 2].copy()
        out["uses_by_coupon"] = cpn[:, 3].copy()
        out["flash_slot_attempts"] = self.flash_stats[:, 0].astype(np.int64)
        out["flash_slot_wins"] = self.flash_stats[:, 1].astype(np.int64)
        out["flash_sellout_hours"] = self.flash_stats[:, 2].copy()
        out["wins_by_first_n"] = self.first_n_stats[:, 0].astype(np.int64)
        out["first_n_exhausted_at"] = self.first_n_stats[:, 1].copy()
        # messages were processed in send order; report them in the plan's order
        msg = np.zeros_like(self.message_stats)
        msg[np.argsort(self.plan.messages.send, kind="stable")] = self.message_stats
        out["messages_sent"] = msg[..., 0]
        out["messages_seen"] = msg[..., 1]
        out["messages_woken"] = msg[..., 2]
        out["orders_by_region"] = self.counters[..., self.counter["orders"]].sum(axis=1)
        out["unique_visitors"] = sum(1 for sh in self.shoppers if sh.visited)
        out["unique_buyers"] = sum(1 for sh in self.shoppers if sh.purchases > 0)
        out["mechanisms"] = MECHANISMS
        return out
