"""The shopper model written as a Mesa model: the baseline of the ``mesa_ratio`` benchmark.

``mesa_ratio`` = (sessions/s of the numba shopper model) / (sessions/s of this model).
This file is a benchmark, not part of the package: Mesa is needed only here
(``pip install promosim[bench]`` or ``pip install mesa``), never by ``sim``.

It is written the way a Mesa user would write the model: a ``ShopperAgent``
(``mesa.Agent``) holding its state in attributes, a ``PromoModel``
(``mesa.Model``) holding the plan tables, one model step per campaign hour in
which every agent, in a fixed order (``self.agents.do("step")``), draws its
visits of the hour (a Poisson number at its own rate, from the model's seeded
``numpy.random.Generator``) and runs each visit through the same decisions as
:mod:`sim.shoppers.kernels`: red-envelope task, social fission, coupon claims,
presale tail payment, flash-slot attempt, cart, basket (lognormal, by
category), presale deposit, strategic deferral, padding to the next threshold
tier, pricing (price cut, quantity tier, threshold tier, coupons, member
discount, red envelope, gifts and bundles, points, lottery, instalments), the
logit purchase decision with the same utility terms, payment, cart recall,
first-N rebate and booking (with returns) into a dict of counters keyed by
(hour, segment). The plan tables are the kernels' own (:func:`sim.shoppers.tables.kplan`),
turned into Python lists once so the per-session code does plain float
arithmetic, not numpy-scalar arithmetic: the baseline is written with care, so
the ratio is not flattered.

Simplifications against the numba model (none changes the per-session work much):

* visits: a Poisson number per (agent, hour) with the agent's rate at the start
  of the hour (base rate × diurnal/phase profile × its lift), at uniform times
  within the hour, instead of thinning the minute-level intensity; a message
  sent mid-hour lifts visits from the next hour on;
* contested actions (limited coupons, flash slots, first-N privileges) are
  settled at once, first come first served in agent order, instead of at the
  epoch boundary in timestamp order;
* random numbers come from one sequential generator (``model.rng``), not from
  counter-based streams, so results depend on the agent order;
* the delivery promise is not shown (as in the shopper model run on its own).

Consequences: once a flash slot sells out, later shoppers of that hour no longer
attempt it (fewer ``flash_attempts``; wins are the same), and once the first
first-N privilege runs out the next open one (a zero-rebate one in the baseline)
counts the wins. Otherwise the totals agree with the numba model within a few
per cent (baseline, 5 000 shoppers, whole campaign: sessions, cart adds, orders,
coupon claims and uses, deposits, tails, returns, GMV).

Throughput: every agent is stepped every hour (the Mesa idiom), so quiet hours cost
agent steps with few sessions; sessions/s over the busiest hours is about twice
that over the whole campaign. For a like-for-like ``mesa_ratio`` time the numba model
over the same hours (:func:`busiest_hours` lists them) or both over the whole campaign.

Run ``python benchmarks/mesa_shoppers.py`` to print the throughput for 20 000 shoppers
on the baseline plan over its 336 busiest hours (``--hours N``: the N busiest hours,
``--hours 0`` the whole campaign; ``--shoppers N``).
"""

from __future__ import annotations

import bisect
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.plan import Plan  # noqa: E402
from sim.shoppers.tables import (  # noqa: E402
    CH_LIFT,
    CH_REACH,
    CP_CATEGORY,
    CP_CLAIM_END,
    CP_CLAIM_START,
    CP_CLAIMABLE,
    CP_FACE,
    CP_LIMITED,
    CP_MIN,
    CP_NEW_ONLY,
    CP_PER_SHOPPER,
    CP_STACKS,
    CP_USE_END,
    CP_USE_START,
    CT_COGS,
    CT_PC_CATS,
    CT_PRE_CATS,
    CT_PRICE_INDEX,
    CT_Q_CATS,
    CT_RETURN_MULT,
    CT_TH_CATS,
    FL_CAT,
    FL_CLOSE,
    FL_LIMIT,
    FL_LIST,
    FL_OPEN,
    FL_PRICE,
    FL_SERIES,
    FL_UTILITY,
    FN_DISC,
    FN_END,
    FN_MAX_OFF,
    FN_START,
    FN_UTILITY,
    GF_KIND,
    GF_MIN,
    GF_TAKE_UP,
    GF_UTILITY,
    GF_VALUE,
    HR_CAT_PROFILE,
    HR_COUNTDOWN,
    HR_DEPTH,
    HR_DEPTH_AHEAD,
    HR_ENV_PEAK,
    HR_ENV_SPEND,
    HR_ENV_TASK,
    HR_FI_ACTIVE,
    HR_IN_ACTIVE,
    HR_IS_PEAK,
    HR_MB_ACTIVE,
    HR_PC_ACTIVE,
    HR_PT_ACTIVE,
    HR_Q_ACTIVE,
    HR_TH_ACTIVE,
    MS_COUPON,
    MS_DORMANT_ONLY,
    MS_LIFT,
    MS_LIFT_END,
    MS_REACH,
    MS_SEND,
    MS_WAKE,
    NM,
    PRICE_MECHANISMS,
    QT_DISC,
    QT_UNITS,
    SC_CONSOLATION,
    SC_DEFER_MARGIN,
    SC_ENV_GROWTH,
    SC_ENV_INITIAL,
    SC_ENV_MAX,
    SC_ENV_MIN_SPEND,
    SC_ENV_TASK_PROB,
    SC_FATIGUE_HOURS,
    SC_FI_COUPON,
    SC_FI_NEW_RATE,
    SC_FI_PARTICIPATION,
    SC_FLASH_URGENCY,
    SC_IN_FEE,
    SC_IN_MIN,
    SC_IN_TAKE_UP,
    SC_IN_UTILITY,
    SC_K_COUPON,
    SC_K_DEPTH,
    SC_K_IMPULSE,
    SC_K_PRICE,
    SC_K_PROMISE,
    SC_K_RETURN_DEPTH,
    SC_K_SATED,
    SC_MB_MAX_OFF,
    SC_MB_RATE,
    SC_MB_UTILITY,
    SC_PC_RATE,
    SC_PRE_DEP_END,
    SC_PRE_DEP_START,
    SC_PRE_DEPOSIT,
    SC_PRE_ITEM_PRICE,
    SC_PRE_ON,
    SC_PRE_REMINDER_LIFT,
    SC_PRE_RUSH_GIFT,
    SC_PRE_RUSH_LIFT,
    SC_PRE_RUSH_START,
    SC_PRE_TAIL_END,
    SC_PRE_TAIL_PAY,
    SC_PRE_TAIL_START,
    SC_PRE_UPTAKE,
    SC_PRE_VALUE,
    SC_PT_LOTTERY_PRIZE,
    SC_PT_LOTTERY_PROB,
    SC_PT_MULT,
    SC_PT_RATE,
    SC_PT_UTILITY,
    SC_RECALL_DELAY,
    SC_RECALL_RATE,
    SC_SATED_HOURS,
    SC_SCARCITY_URGENCY,
    SC_TH_PER_MULTIPLE,
    SC_TH_SHARE,
    SG_ACTIVITY_SIGMA,
    SG_BASKET_MEDIAN,
    SG_BASKET_SIGMA,
    SG_CHECKOUT_LOGIT,
    SG_COUPON_AFF,
    SG_DEFER_PROP,
    SG_DORMANT_ACTIVITY,
    SG_DORMANT_SHARE,
    SG_FATIGUE_STEP,
    SG_FLASH_AFF,
    SG_IS_NEW,
    SG_MEMBER_RATE,
    SG_P_CART,
    SG_P_PAY,
    SG_PAD_PROP,
    SG_PAD_REACH,
    SG_PRICE_SENS,
    SG_REPEAT_PURCHASE,
    SG_RETURN_PROP,
    SG_UNITS_MEAN,
    SG_URGENCY_RESP,
    TH_OFF,
    TH_SPEND,
    kplan,
)

BASELINE = ROOT / "scenarios" / "double11_baseline.toml"
MAIN_SHOPPERS = 20_000
MAIN_HOURS: int | None = 336
"""Hours run by ``__main__`` by default: the 336 busiest of the baseline's 648 (the peak
day, the burst days and the busiest hours of the others), about 25 s on one core
(``--hours 0``: the whole campaign, about 45-60 s; ``--hours 168``, about 12 s)."""

(
    M_PRICE_CUT, M_QUANTITY, M_THRESHOLD, M_COUPON, M_MEMBER, M_ENVELOPE, M_PRESALE, M_FLASH,
    M_FIRST_N, M_GIFT, M_BUNDLE, M_POINTS, M_LOTTERY, M_INSTALMENTS, M_RUSH,
) = range(NM)  # fmt: skip
MODE_VISIT, MODE_RECALL, MODE_CONSOLATION = 0, 1, 2
COUNTERS = (
    "sessions", "visitors", "first_visits", "cart_adds", "checkouts", "deferrals",
    "abandoned_checkout", "abandoned_payment", "recalls_sent", "recall_orders", "orders", "units",
    "new_shoppers", "repeat_buyers", "paddings", "deposits", "tails_paid", "forfeits",
    "flash_attempts", "flash_wins", "envelope_tasks", "fissions", "fission_new", "returns",
    "coupon_claims", "coupon_uses", "first_n_wins", "gmv", "paid", "cogs", "deposit_money",
    "forfeit_money", "return_money",
)  # fmt: skip
"""Counters booked per (hour, segment): counts, money in integer cents (as the kernels)."""


def cents(x: float) -> int:
    return math.floor(x * 100.0 + 0.5)


def _require_mesa() -> Any:
    try:
        import mesa
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the Mesa baseline needs Mesa: pip install mesa (or pip install 'promosim[bench]')"
        ) from exc
    return mesa


def busiest_hours(plan: Plan, hours: int | None = None) -> list[int]:
    """The `hours` campaign hours with the most expected visits, in campaign order (all if None).

    Expected visits of an hour: the segments' majorant visit intensity in that hour,
    weighted by the segment shares.
    """
    P = kplan(plan)
    H = P.H
    if hours is None or hours >= H:
        return list(range(H))
    mass = P.cum[:, 60::60] - P.cum[:, :-1:60]  # [S, H]
    expected = plan.segments.share @ mass
    top = np.argsort(-expected, kind="stable")[: max(int(hours), 1)]
    return sorted(int(h) for h in top)


def _build(mesa: Any) -> tuple[type, type]:
    """Define the agent and model classes (inside a function: Mesa is imported lazily)."""

    class ShopperAgent(mesa.Agent):
        """One shopper: its traits and the state it carries through the campaign."""

        def __init__(self, model: Any) -> None:
            super().__init__(model)
            rng = model.rng
            self.segment = bisect.bisect_right(model.seg_cdf, rng.random())
            self.region = bisect.bisect_right(model.reg_cdf, rng.random())
            s = self.segment
            sig = model.sg[SG_ACTIVITY_SIGMA][s]
            self.activity = math.exp(sig * rng.standard_normal() - 0.5 * sig * sig)
            self.member = rng.random() < model.sg[SG_MEMBER_RATE][s]
            self.dormant = rng.random() < model.sg[SG_DORMANT_SHARE][s]
            self.reached = [rng.random() < reach for reach in model.ch[CH_REACH]]
            self.converted = False
            self.visited = False
            self.held = [0] * model.n_coupons
            self.flash_won = [0] * model.n_series
            self.cart = 0.0
            self.recall_t = math.inf
            self.deposit = 0.0
            self.deposit_cat = 0
            self.envelope = 0.0
            self.purchases = 0
            self.last_purchase = 0.0
            self.fatigue = 0.0
            self.last_epoch = -1
            self.next_msg = 0
            self.seen: list[int] = []

        # -- visits ------------------------------------------------------------
        def step(self) -> None:
            """The hour: draw this shopper's visits and run each (and a cart recall, if due)."""
            m = self.model
            h = m.hour
            end = h + 1.0
            self.receive_messages(float(h))
            rate = self.activity * m.hour_mass[self.segment][h] * self.lift(float(h), h)
            n = m.rng.poisson(rate)
            times = [h + u for u in sorted(m.rng.random(n).tolist())] if n else []
            k = 0
            while True:
                nt = times[k] if k < n else math.inf
                rt = self.recall_t
                if rt < nt and rt < end:
                    self.recall_t = math.inf
                    self.receive_messages(rt)
                    self.shop(rt, h, MODE_RECALL, 0.0, False)
                    continue
                if nt >= end:
                    break
                k += 1
                self.receive_messages(nt)
                self.session(nt, h)

        def lift(self, t: float, h: int) -> float:
            """Visit-rate multiplier: channels, messages seen, presale reminders, dormancy."""
            m = self.model
            s = self.segment
            L = 1.0
            for c in range(m.n_channels):
                if self.reached[c] and m.ch_active[c][h] and m.ch_segs[c][s]:
                    L *= m.ch[CH_LIFT][c]
            if self.seen:
                best = 1.0
                for j in self.seen:
                    if t < m.ms[MS_LIFT_END][j] and m.ms[MS_LIFT][j] > best:
                        best = m.ms[MS_LIFT][j]
                L *= best
            sc = m.sc
            if (
                sc[SC_PRE_ON]
                and self.deposit > 0.0
                and sc[SC_PRE_TAIL_START] <= t < sc[SC_PRE_TAIL_END]
            ):
                L *= sc[SC_PRE_REMINDER_LIFT]
                if t >= sc[SC_PRE_RUSH_START]:
                    L *= sc[SC_PRE_RUSH_LIFT]
            if self.dormant:
                L *= m.sg[SG_DORMANT_ACTIVITY][s]
            return L

        def receive_messages(self, t: float) -> None:
            """Messages sent up to t: seen (lift, coupon) and perhaps woken from dormancy."""
            m = self.model
            ms = m.ms
            while self.next_msg < m.n_messages and ms[MS_SEND][self.next_msg] <= t:
                j = self.next_msg
                self.next_msg += 1
                if not m.ms_segs[j][self.segment]:
                    continue
                if ms[MS_DORMANT_ONLY][j] and not self.dormant:
                    continue
                if m.rng.random() < ms[MS_REACH][j]:
                    self.seen.append(j)
                    k = int(ms[MS_COUPON][j])
                    if k >= 0 and self.held[k] < 255:
                        self.held[k] += 1
                    if self.dormant and m.rng.random() < ms[MS_WAKE][j]:
                        self.dormant = False

        # -- a session ---------------------------------------------------------
        def session(self, t: float, h: int) -> None:
            m = self.model
            rng = m.rng
            sc, sg, hr, cp = m.sc, m.sg, m.hr, m.cp
            s = self.segment
            acc = m.counters[(h, s)]
            acc["sessions"] += 1
            if self.last_epoch != h:
                acc["visitors"] += 1
            if not self.visited:
                acc["first_visits"] += 1
                self.visited = True
            gap = float(h - self.last_epoch) if self.last_epoch >= 0 else 1e9
            self.fatigue = (
                self.fatigue * math.exp(-gap / sc[SC_FATIGUE_HOURS]) + sg[SG_FATIGUE_STEP][s]
            )
            self.last_epoch = h
            # red-envelope task
            if hr[HR_ENV_TASK][h] and rng.random() < sc[SC_ENV_TASK_PROB]:
                b = self.envelope
                b = sc[SC_ENV_INITIAL] if b <= 0.0 else b + sc[SC_ENV_GROWTH]
                self.envelope = min(b, sc[SC_ENV_MAX])
                acc["envelope_tasks"] += 1
            # social fission
            if hr[HR_FI_ACTIVE][h] and rng.random() < sc[SC_FI_PARTICIPATION]:
                acc["fissions"] += 1
                k = int(sc[SC_FI_COUPON])
                if k >= 0 and self.held[k] < cp[CP_PER_SHOPPER][k]:
                    self.held[k] += 1
                whole = math.floor(sc[SC_FI_NEW_RATE])
                acc["fission_new"] += int(whole) + (rng.random() < sc[SC_FI_NEW_RATE] - whole)
            # coupon claims (limited stock: first come, first served)
            for k in range(m.n_coupons):
                if not cp[CP_CLAIMABLE][k] or t < cp[CP_CLAIM_START][k] or t >= cp[CP_CLAIM_END][k]:
                    continue
                if not m.cp_segs[k][s] or self.held[k] >= cp[CP_PER_SHOPPER][k]:
                    continue
                if cp[CP_NEW_ONLY][k] and (not sg[SG_IS_NEW][s] or self.converted):
                    continue
                if rng.random() >= sg[SG_COUPON_AFF][s]:
                    continue
                if cp[CP_LIMITED][k]:
                    if m.coupon_left[k] <= 0:
                        continue
                    m.coupon_left[k] -= 1
                self.held[k] += 1
                acc["coupon_claims"] += 1
            # presale tail payment
            if (
                sc[SC_PRE_ON]
                and self.deposit > 0.0
                and sc[SC_PRE_TAIL_START] <= t < sc[SC_PRE_TAIL_END]
            ):
                p = sc[SC_PRE_TAIL_PAY]
                if t >= sc[SC_PRE_RUSH_START]:
                    p = 1.0 - (1.0 - p) / (1.0 + sg[SG_URGENCY_RESP][s])
                if rng.random() < p:
                    self.pay_tail(t, h)
                    return
            # flash slot open now?
            fl = m.fl
            best = -1
            fl_util = 0.0
            for f in range(m.fl_ptr[h], m.fl_ptr[h + 1]):
                if fl[FL_OPEN][f] <= t < fl[FL_CLOSE][f]:
                    fl_util = max(fl_util, fl[FL_UTILITY][f])
                    series = int(fl[FL_SERIES][f])
                    if (
                        m.flash_left[f] > 0
                        and self.flash_won[series] < fl[FL_LIMIT][f]
                        and (best < 0 or fl[FL_UTILITY][f] > fl[FL_UTILITY][best])
                    ):
                        best = f
            if best >= 0:
                p = 1.0 - (1.0 - sg[SG_FLASH_AFF][s]) ** fl[FL_UTILITY][best]
                if rng.random() < p:
                    acc["flash_attempts"] += 1
                    self.attempt_flash(best, t, h)
                    return
            self.shop(t, h, MODE_VISIT, fl_util, True)

        def attempt_flash(self, f: int, t: float, h: int) -> None:
            """Grab a flash-slot unit; a loser may shop something else instead."""
            m = self.model
            fl = m.fl
            series = int(fl[FL_SERIES][f])
            if m.flash_left[f] > 0 and self.flash_won[series] < fl[FL_LIMIT][f]:
                m.flash_left[f] -= 1
                self.flash_won[series] += 1
                disc = [0.0] * NM
                cost = [0.0] * NM
                V = fl[FL_LIST][f]
                disc[M_FLASH] = V - fl[FL_PRICE][f]
                m.counters[(h, self.segment)]["flash_wins"] += 1
                self.book(t, h, int(fl[FL_CAT][f]), V, 1, disc, cost, disc[M_FLASH] / V, True)
            elif m.rng.random() < m.sc[SC_CONSOLATION]:
                self.shop(t, h, MODE_CONSOLATION, fl[FL_UTILITY][f], False)

        def shop(self, t: float, h: int, mode: int, fl_util: float, first_n: bool) -> None:
            """From the cart on: basket, deposit, deferral, padding, price, decision, payment."""
            m = self.model
            rng = m.rng
            sc, sg, hr, ct = m.sc, m.sg, m.hr, m.ct
            s = self.segment
            acc = m.counters[(h, s)]
            saved = self.cart
            z = 0.0
            if mode == MODE_RECALL:
                if saved <= 0.0:
                    return
                V = saved
            elif saved > 0.0:
                V = saved
            else:
                if rng.random() >= sg[SG_P_CART][s]:
                    return
                acc["cart_adds"] += 1
                z = rng.standard_normal()
                V = -1.0
            cdf = m.cat_cdf[int(hr[HR_CAT_PROFILE][h])]
            cat = min(bisect.bisect_right(cdf, rng.random()), m.n_categories - 1)
            units = 1 + int(rng.poisson(sg[SG_UNITS_MEAN][s] - 1.0))
            if V < 0.0:
                V = (
                    sg[SG_BASKET_MEDIAN][s]
                    * ct[CT_PRICE_INDEX][cat]
                    * math.exp(sg[SG_BASKET_SIGMA][s] * z)
                )
            self.cart = 0.0
            # presale deposit instead of buying now
            if (
                mode == MODE_VISIT
                and sc[SC_PRE_ON]
                and self.deposit == 0.0
                and sc[SC_PRE_DEP_START] <= t < sc[SC_PRE_DEP_END]
                and ct[CT_PRE_CATS][cat]
                and rng.random() < sc[SC_PRE_UPTAKE]
            ):
                self.deposit = sc[SC_PRE_ITEM_PRICE] if sc[SC_PRE_ITEM_PRICE] > 0.0 else V
                self.deposit_cat = cat
                acc["deposits"] += 1
                acc["deposit_money"] += cents(sc[SC_PRE_DEPOSIT])
                return
            # strategic deferral: wait for the deeper discount ahead
            if mode != MODE_RECALL and not hr[HR_IS_PEAK][h]:
                ahead, now = hr[HR_DEPTH_AHEAD][h], hr[HR_DEPTH][h]
                if (
                    ahead > now + sc[SC_DEFER_MARGIN]
                    and rng.random() < sg[SG_DEFER_PROP][s] * (ahead - now) / ahead
                ):
                    self.cart = V
                    acc["deferrals"] += 1
                    return
            # padding towards the next threshold tier
            if mode != MODE_RECALL and hr[HR_TH_ACTIVE][h] and ct[CT_TH_CATS][cat] and m.n_tiers:
                b = V
                if hr[HR_PC_ACTIVE][h] and ct[CT_PC_CATS][cat]:
                    b *= 1.0 - sc[SC_PC_RATE]
                if hr[HR_Q_ACTIVE][h] and ct[CT_Q_CATS][cat]:
                    b *= 1.0 - m.quantity_rate(units)
                bs = b * sc[SC_TH_SHARE]
                tier = m.next_tier(bs)
                if (
                    tier > 0.0
                    and tier - bs <= sg[SG_PAD_REACH][s] * tier
                    and rng.random() < sg[SG_PAD_PROP][s]
                ):
                    V *= tier / bs
                    units += 1
                    acc["paddings"] += 1
            p, g, c, env, extra, disc, cost = self.price(t, h, cat, V, units)
            depth = (V - p + cost[M_GIFT] + cost[M_POINTS]) / V
            # first-N privilege open?
            fn_open = -1
            fn_util = 0.0
            fn = m.fn
            for j in range(m.n_first_n):
                if fn[FN_START][j] <= t < fn[FN_END][j] and m.fn_left[j] != 0 and m.fn_cats[j][cat]:
                    if fn_open < 0:
                        fn_open = j
                    fn_util += fn[FN_UTILITY][j]
            # the purchase decision (logit)
            ps = sg[SG_PRICE_SENS][s]
            typical = sg[SG_BASKET_MEDIAN][s] * ct[CT_PRICE_INDEX][cat]
            U = sg[SG_CHECKOUT_LOGIT][s] + ps * sc[SC_K_DEPTH] * depth
            if p > typical:
                U -= ps * sc[SC_K_PRICE] * math.log(p / typical)
            urgency = hr[HR_COUNTDOWN][h] + m.scarcity * sc[SC_SCARCITY_URGENCY]
            urgency += sc[SC_FLASH_URGENCY] * fl_util + fn_util
            U += sg[SG_URGENCY_RESP][s] * urgency
            if any(self.held):
                U += sc[SC_K_COUPON] * sg[SG_COUPON_AFF][s]
            if self.member and hr[HR_MB_ACTIVE][h]:
                U += sc[SC_MB_UTILITY]
            U += extra - self.fatigue
            promise = m.promise[self.region]
            if promise > 24.0:
                U -= sc[SC_K_PROMISE] * (promise / 24.0 - 1.0)
            if self.purchases > 0:
                U -= (
                    sc[SC_K_SATED]
                    * (1.0 - sg[SG_REPEAT_PURCHASE][s])
                    * math.exp(-(t - self.last_purchase) / sc[SC_SATED_HOURS])
                )
            if rng.random() * (1.0 + math.exp(-U)) >= 1.0:
                acc["abandoned_checkout"] += 1
                self.cart = V
                if mode != MODE_RECALL:
                    self.schedule_recall(t, acc)
                return
            acc["checkouts"] += 1
            if rng.random() >= sg[SG_P_PAY][s]:
                acc["abandoned_payment"] += 1
                self.cart = V
                if mode != MODE_RECALL:
                    self.schedule_recall(t, acc)
                return
            # paid
            impulse = m.minute_spike[min(int(t * 60.0), len(m.minute_spike) - 1)] or fl_util > 0
            paid = self.book(t, h, cat, V, units, disc, cost, depth, impulse)
            if mode == MODE_RECALL:
                acc["recall_orders"] += 1
            for k in (g, c):
                if k >= 0:
                    self.held[k] -= 1
                    acc["coupon_uses"] += 1
            if env:
                self.envelope = 0.0
            if fn_open >= 0 and first_n and m.fn_left[fn_open] != 0:
                if m.fn_left[fn_open] > 0:
                    m.fn_left[fn_open] -= 1
                rebate = min(fn[FN_DISC][fn_open] * paid / 100.0, fn[FN_MAX_OFF][fn_open])
                rc = cents(rebate)
                m.subsidy[(h, s)][M_FIRST_N] += rc
                acc["paid"] -= rc
                acc["first_n_wins"] += 1

        def schedule_recall(self, t: float, acc: dict[str, int]) -> None:
            sc = self.model.sc
            if (
                sc[SC_RECALL_RATE] > 0.0
                and self.recall_t == math.inf
                and self.model.rng.random() < sc[SC_RECALL_RATE]
            ):
                self.recall_t = t + sc[SC_RECALL_DELAY]
                acc["recalls_sent"] += 1

        # -- pricing -------------------------------------------------------------
        def best_coupons(
            self, t: float, cat: int, price: float, stack_only: bool
        ) -> tuple[int, int]:
            """Best general and best category coupon usable on `price` (-1: none)."""
            m = self.model
            cp = m.cp
            g = c = -1
            for k in range(m.n_coupons):
                if self.held[k] == 0 or not cp[CP_USE_START][k] <= t < cp[CP_USE_END][k]:
                    continue
                if not m.cp_cats[k][cat] or price < cp[CP_MIN][k] or cp[CP_FACE][k] <= 0.0:
                    continue
                if stack_only and not cp[CP_STACKS][k]:
                    continue
                if cp[CP_CATEGORY][k]:
                    if c < 0 or cp[CP_FACE][k] > cp[CP_FACE][c]:
                        c = k
                elif g < 0 or cp[CP_FACE][k] > cp[CP_FACE][g]:
                    g = k
            return g, c

        def price(
            self, t: float, h: int, cat: int, V: float, units: int
        ) -> tuple[float, int, int, bool, float, list[float], list[float]]:
            """Price a basket: price cut, quantity, threshold, coupons, member, envelope, gifts…"""
            m = self.model
            rng = m.rng
            sc, hr, ct, cp, gf = m.sc, m.hr, m.ct, m.cp, m.gf
            disc = [0.0] * NM
            cost = [0.0] * NM
            p = V
            if hr[HR_PC_ACTIVE][h] and ct[CT_PC_CATS][cat]:
                disc[M_PRICE_CUT] = sc[SC_PC_RATE] * p
                p -= disc[M_PRICE_CUT]
            if hr[HR_Q_ACTIVE][h] and ct[CT_Q_CATS][cat]:
                disc[M_QUANTITY] = m.quantity_rate(units) * p
                p -= disc[M_QUANTITY]
            th = 0.0
            if hr[HR_TH_ACTIVE][h] and ct[CT_TH_CATS][cat]:
                th = m.threshold_off(p * sc[SC_TH_SHARE])
            # coupons: (threshold + stacking coupons) or (no threshold + any coupons)
            g1, c1 = self.best_coupons(t, cat, p - th, True)
            with_th = th + (cp[CP_FACE][g1] if g1 >= 0 else 0.0)
            with_th += cp[CP_FACE][c1] if c1 >= 0 else 0.0
            g2 = c2 = -1
            without = 0.0
            if th > 0.0:
                g2, c2 = self.best_coupons(t, cat, p, False)
                without = (cp[CP_FACE][g2] if g2 >= 0 else 0.0) + (
                    cp[CP_FACE][c2] if c2 >= 0 else 0.0
                )
            if without > with_th:
                g, c, th, coupons = g2, c2, 0.0, without
            else:
                g, c, coupons = g1, c1, with_th - th
            coupons = min(coupons, p - th)
            disc[M_THRESHOLD] = th
            disc[M_COUPON] = coupons
            p -= th + coupons
            if self.member and hr[HR_MB_ACTIVE][h]:
                disc[M_MEMBER] = min(sc[SC_MB_RATE] * p, sc[SC_MB_MAX_OFF])
                p -= disc[M_MEMBER]
            env = False
            if hr[HR_ENV_SPEND][h] and self.envelope > 0.0 and p >= sc[SC_ENV_MIN_SPEND]:
                disc[M_ENVELOPE] = min(self.envelope * hr[HR_ENV_PEAK][h], p)
                p -= disc[M_ENVELOPE]
                env = True
            extra = 0.0
            take = rng.random()
            for k in range(m.n_gifts):
                if not m.gf_active[k][h] or not m.gf_cats[k][cat] or p < gf[GF_MIN][k]:
                    continue
                extra += gf[GF_UTILITY][k]
                if take >= gf[GF_TAKE_UP][k]:
                    continue
                if gf[GF_KIND][k] == 0:
                    cost[M_GIFT] += gf[GF_VALUE][k]
                else:
                    d = gf[GF_VALUE][k] * p
                    disc[M_BUNDLE] += d
                    p -= d
            if sc[SC_PT_RATE] > 0.0:
                mult = sc[SC_PT_MULT] if hr[HR_PT_ACTIVE][h] else 1.0
                cost[M_POINTS] = sc[SC_PT_RATE] * mult * p
            if hr[HR_PT_ACTIVE][h]:
                extra += sc[SC_PT_UTILITY]
                if rng.random() < sc[SC_PT_LOTTERY_PROB]:
                    cost[M_LOTTERY] = sc[SC_PT_LOTTERY_PRIZE]
            if hr[HR_IN_ACTIVE][h] and p >= sc[SC_IN_MIN]:
                extra += sc[SC_IN_UTILITY]
                if rng.random() < sc[SC_IN_TAKE_UP]:
                    cost[M_INSTALMENTS] = sc[SC_IN_FEE] * p
            return p, g, c, env, extra, disc, cost

        # -- booking -------------------------------------------------------------
        def book(
            self,
            t: float,
            h: int,
            cat: int,
            V: float,
            units: int,
            disc: list[float],
            cost: list[float],
            depth: float,
            impulse: bool,
        ) -> int:
            """Book a paid order into the (hour, segment) counters; returns cents paid."""
            m = self.model
            s = self.segment
            acc = m.counters[(h, s)]
            sub = m.subsidy[(h, s)]
            acc["orders"] += 1
            acc["units"] += units
            gmv = cents(V)
            paid = gmv
            for q in PRICE_MECHANISMS:
                dc = cents(disc[q])
                sub[q] += dc
                paid -= dc
            for q in range(NM):
                if cost[q] != 0.0:
                    sub[q] += cents(cost[q])
            acc["gmv"] += gmv
            acc["paid"] += paid
            acc["cogs"] += cents(V * m.ct[CT_COGS][cat])
            if m.sg[SG_IS_NEW][s] and not self.converted:
                self.converted = True
                acc["new_shoppers"] += 1
            if self.purchases == 1:
                acc["repeat_buyers"] += 1
            self.purchases += 1
            self.last_purchase = t
            rp = (
                m.sg[SG_RETURN_PROP][s]
                * m.ct[CT_RETURN_MULT][cat]
                * (1.0 + m.sc[SC_K_RETURN_DEPTH] * depth)
            )
            if impulse:
                rp *= 1.0 + m.sc[SC_K_IMPULSE]
            if m.rng.random() < rp:
                acc["returns"] += 1
                acc["return_money"] += paid
            return paid

        def pay_tail(self, t: float, h: int) -> None:
            """The presale tail payment: the deposit counts as its inflated value."""
            sc = self.model.sc
            disc = [0.0] * NM
            cost = [0.0] * NM
            V = self.deposit
            d = sc[SC_PRE_VALUE] - sc[SC_PRE_DEPOSIT]
            if d > V - sc[SC_PRE_DEPOSIT]:
                d = max(V - sc[SC_PRE_DEPOSIT], 0.0)
            disc[M_PRESALE] = d
            if t >= sc[SC_PRE_RUSH_START]:
                cost[M_RUSH] = sc[SC_PRE_RUSH_GIFT]
            self.deposit = 0.0
            self.model.counters[(h, self.segment)]["tails_paid"] += 1
            self.book(t, h, self.deposit_cat, V, 1, disc, cost, d / V, False)

    class PromoModel(mesa.Model):
        """The campaign: plan tables, shared stock, counters; one step per campaign hour."""

        def __init__(
            self, plan: Plan, shoppers: int, hours: list[int], seed: int | None = None
        ) -> None:
            super().__init__(seed=plan.seed if seed is None else seed)
            P = kplan(plan)
            self.sc = P.sc.tolist()
            self.hr, self.sg, self.ct, self.cp = (x.tolist() for x in (P.hr, P.sg, P.ct, P.cp))
            self.fl, self.fn, self.ms, self.ch = (x.tolist() for x in (P.fl, P.fn, P.ms, P.ch))
            self.gf, self.qt, self.th = (x.tolist() for x in (P.gf, P.qt, P.th))
            self.cp_cats, self.cp_segs = P.cp_cats.tolist(), P.cp_segs.tolist()
            self.fn_cats, self.ms_segs = P.fn_cats.tolist(), P.ms_segs.tolist()
            self.ch_active, self.ch_segs = P.ch_active.tolist(), P.ch_segs.tolist()
            self.gf_active, self.gf_cats = P.gf_active.tolist(), P.gf_cats.tolist()
            self.fl_ptr = P.fl_ptr.tolist()
            self.minute_spike = P.minute_spike.tolist()
            self.seg_cdf = P.seg_cdf[:-1].tolist()
            self.reg_cdf = P.reg_cdf[:-1].tolist()
            self.cat_cdf = np.cumsum(plan.calendar.category_prob, axis=1)[:, :-1].tolist()
            # visits per unit activity in each hour, before the shopper's own lift
            self.hour_mass = ((P.cum[:, 60::60] - P.cum[:, :-1:60]) / P.max_lift).tolist()
            self.n_coupons, self.n_channels = P.cp.shape[1], P.ch.shape[1]
            self.n_messages, self.n_first_n = P.ms.shape[1], P.fn.shape[1]
            self.n_gifts, self.n_tiers = P.gf.shape[1], P.th.shape[1]
            self.n_categories = P.ct.shape[1]
            self.n_series = max(len(plan.flash.series_names), 1)
            self.n_segments = P.sg.shape[1]
            # shared stock, settled first come first served
            stock = plan.coupons.stock
            self.coupon_stock = [int(x) if x >= 0 else 1 << 62 for x in stock]
            self.coupon_left = list(self.coupon_stock)
            self.flash_left = [int(x) for x in plan.flash.stock]
            self.first_n_stock = [int(x) for x in plan.first_n.n]
            self.fn_left = list(self.first_n_stock)
            self.below_share = float(plan.extras.scarcity["below_share"])
            self.promise = [0.0] * len(plan.segments.region_names)
            pre = plan.extras.presale
            self.forfeit_hour = (
                math.ceil(pre["tail_end"]) - 1 if plan.extras.presale_enabled else -1
            )
            self.plan_hours = list(hours)
            self.index = 0
            self.hour = self.plan_hours[0] if self.plan_hours else 0
            self.scarcity = 0.0
            self.counters: dict[tuple[int, int], dict[str, int]] = {}
            self.subsidy: dict[tuple[int, int], list[int]] = {}
            for _ in range(shoppers):
                ShopperAgent(self)

        # -- plan look-ups ---------------------------------------------------------
        def quantity_rate(self, units: int) -> float:
            rate = 0.0
            for k in range(len(self.qt[QT_UNITS])):
                if units >= self.qt[QT_UNITS][k]:
                    rate = self.qt[QT_DISC][k]
            return rate

        def threshold_off(self, base: float) -> float:
            spend, off = self.th[TH_SPEND], self.th[TH_OFF]
            if not spend:
                return 0.0
            if self.sc[SC_TH_PER_MULTIPLE]:
                return math.floor(base / spend[-1]) * off[-1]
            out = 0.0
            for k in range(len(spend)):
                if base >= spend[k]:
                    out = off[k]
            return out

        def next_tier(self, base: float) -> float:
            spend = self.th[TH_SPEND]
            if not spend:
                return 0.0
            if self.sc[SC_TH_PER_MULTIPLE]:
                return (math.floor(base / spend[-1]) + 1.0) * spend[-1]
            for x in spend:
                if base < x:
                    return x
            return 0.0

        def scarcity_showing(self, h: int) -> bool:
            """A limited coupon or first-N privilege open and below its share of stock?"""
            if not self.sc[SC_SCARCITY_URGENCY]:
                return False
            cp = self.cp
            for k in range(self.n_coupons):
                if (
                    cp[CP_CLAIMABLE][k]
                    and cp[CP_LIMITED][k]
                    and cp[CP_CLAIM_START][k] <= h < cp[CP_CLAIM_END][k]
                    and self.coupon_left[k] < self.below_share * self.coupon_stock[k]
                ):
                    return True
            for j in range(self.n_first_n):
                n = self.first_n_stock[j]
                if (
                    n > 0
                    and self.fn[FN_START][j] <= h < self.fn[FN_END][j]
                    and self.fn_left[j] < self.below_share * n
                ):
                    return True
            return False

        # -- the hour ----------------------------------------------------------------
        def step(self) -> None:
            if self.index >= len(self.plan_hours):
                self.running = False
                return
            h = self.hour = self.plan_hours[self.index]
            self.index += 1
            for s in range(self.n_segments):
                self.counters[(h, s)] = dict.fromkeys(COUNTERS, 0)
                self.subsidy[(h, s)] = [0] * NM
            self.scarcity = 1.0 if self.scarcity_showing(h) else 0.0
            self.agents.do("step")
            if h == self.forfeit_hour:
                for a in self.agents:
                    if a.deposit > 0.0:
                        acc = self.counters[(h, a.segment)]
                        acc["forfeits"] += 1
                        acc["forfeit_money"] += cents(self.sc[SC_PRE_DEPOSIT])
                        a.deposit = 0.0
            self.running = self.index < len(self.plan_hours)

        def total(self, name: str) -> int:
            return sum(acc[name] for acc in self.counters.values())

    return ShopperAgent, PromoModel


def mesa_model(plan: Plan, shoppers: int, hours: int | None = None, seed: int | None = None) -> Any:
    """Build (not run) the Mesa model with `shoppers` agents for the `hours` busiest hours."""
    mesa = _require_mesa()
    _, PromoModel = _build(mesa)
    return PromoModel(plan, int(shoppers), busiest_hours(plan, hours), seed)


def mesa_sessions_per_second(plan: Plan, shoppers: int, hours: int | None = None) -> dict[str, Any]:
    """Throughput of the Mesa model: sessions per second of wall time (model building excluded).

    Runs the `hours` busiest hours of the campaign (all of it if None), in campaign order.
    Returns ``{"sessions", "seconds", "sessions_per_s"}`` plus ``hours``, ``shoppers``,
    ``orders`` and ``build_seconds`` for the record.
    """
    t0 = time.perf_counter()
    model = mesa_model(plan, shoppers, hours)
    t1 = time.perf_counter()
    while model.running:
        model.step()
    t2 = time.perf_counter()
    sessions = model.total("sessions")
    seconds = t2 - t1
    return {
        "sessions": int(sessions),
        "seconds": seconds,
        "sessions_per_s": sessions / seconds if seconds > 0 else float("nan"),
        "hours": len(model.plan_hours),
        "shoppers": int(shoppers),
        "orders": int(model.total("orders")),
        "build_seconds": t1 - t0,
    }


def main(argv: list[str] | None = None) -> None:
    import argparse

    from sim import load_scenario
    from sim.plan import compile_plan

    ap = argparse.ArgumentParser(description="Sessions/s of the Mesa shopper model.")
    ap.add_argument("--scenario", default=str(BASELINE))
    ap.add_argument("--shoppers", type=int, default=MAIN_SHOPPERS)
    ap.add_argument("--hours", type=int, default=MAIN_HOURS, help="N busiest hours (0: all)")
    args = ap.parse_args(argv)
    plan = compile_plan(load_scenario(args.scenario))
    print(mesa_sessions_per_second(plan, args.shoppers, args.hours or None))


__all__ = ["busiest_hours", "mesa_model", "mesa_sessions_per_second"]

if __name__ == "__main__":
    main()
