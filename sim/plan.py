"""The plan compiler: a validated Scenario becomes flat numpy arrays the kernels read.

Everything here is computed once per scenario and is the same for every
replicate. Times are campaign hours (elapsed, from the campaign start; see
:mod:`sim.clock`); the visit intensity is tabulated per minute so hour-mark
spikes and flash slots have minute resolution. Real-world counts (flash stock,
coupon quantities, first-N) are divided by ``population.scale`` and rounded to
the nearest integer; where that rounds a positive count to zero, ``Plan.notes``
says so.

The tables are grouped in small frozen dataclasses (``Plan.calendar``,
``Plan.segments``, ``Plan.coupons`` …); array fields are read-only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.clock import Clock
from sim.fulfilment.tables import FulfilmentTables, compile_fulfilment
from sim.scenario.loader import ErrorLine, ScenarioError, content_hash
from sim.scenario.models import Scenario, Window

MINUTES = 60
"""Minutes per epoch: the visit intensity is tabulated per minute."""
MAX_VISITS_PER_SHOPPER = 100_000.0
"""Visits a shopper of average activity in the most reached class may expect over the
campaign, at most (about 140 an hour over a month): beyond, a plan's multipliers compound
to what no campaign has, and a run would take days, or overflow."""
REACH_CHANNELS = 8
"""Channels whose reach is a per-shopper bit: their lifts are in the class part of the
visit majorant (the kernels keep the bits in the state)."""

MECHANISMS: tuple[str, ...] = (
    "price_cut",
    "quantity",
    "threshold",
    "coupon",
    "member",
    "red_envelope",
    "presale",
    "flash",
    "first_n",
    "gift",
    "bundle",
    "points",
    "lottery",
    "instalments",
    "presale_rush",
)
"""Mechanisms a discount or promotion cost is booked to, in the order they are applied."""

DIURNAL_PROFILES: dict[str, tuple[float, ...]] = {
    # ASSUMPTION: shape of Chinese e-commerce traffic; a small midnight bump,
    # a trough at 4-5, a lunchtime plateau and the 20-23 evening peak.
    "ecommerce": (
        1.2, 0.7, 0.35, 0.2, 0.15, 0.15, 0.25, 0.5, 0.8, 1.0, 1.2, 1.2,
        1.3, 1.2, 1.1, 1.1, 1.1, 1.1, 1.2, 1.4, 1.8, 2.0, 1.9, 1.6,
    ),
    "flat": (1.0,) * 24,
    "evening": (
        0.6, 0.3, 0.15, 0.1, 0.1, 0.1, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9,
        1.0, 0.9, 0.9, 0.9, 1.0, 1.1, 1.3, 1.7, 2.2, 2.5, 2.3, 1.5,
    ),
    "office": (
        0.3, 0.15, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.3, 1.6, 1.8, 1.8,
        1.5, 1.7, 1.8, 1.7, 1.6, 1.4, 1.1, 1.0, 1.0, 0.9, 0.7, 0.5,
    ),
}  # fmt: skip
"""Named daily profiles: 24 hourly weights, hour 0 first (normalised to mean 1 on use)."""


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table for a discrete distribution.

    Draw (``sim.rng.alias_draw``): ``x = u * n``, ``k = int(x)``; ``k`` if
    ``x - k < prob[k]`` else ``alias[k]``. Construction is
    deterministic (stable order), so the same weights give the same table.

    Examples
    --------
    >>> prob, alias = alias_table(np.array([0.5, 0.25, 0.25]))
    >>> [float(x) for x in prob]
    [1.0, 0.75, 0.75]
    """
    p = np.asarray(p, dtype=np.float64)
    n = len(p)
    scaled = p / p.sum() * n
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int32)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = scaled[g] + scaled[s] - 1.0
        (small if scaled[g] < 1.0 else large).append(g)
    for i in small + large:
        prob[i] = 1.0
    return prob, alias


def _numeric_fields(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numbers and flags of a model dump as floats; nested tables as prefix_name."""
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_numeric_fields(v, f"{prefix}{k}_"))
        elif isinstance(v, bool | int | float):
            out[prefix + k] = float(v)
    return out


def hill(spend: float, half: float, shape: float, max_reach: float) -> float:
    """Reach of a channel: ``max_reach * s^k / (s^k + half^k)``."""
    if spend <= 0:
        return 0.0
    r = (spend / half) ** shape
    return max_reach * r / (1.0 + r)


# ---------------------------------------------------------------------------
# table groups
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarTables:
    """Time axis and traffic."""

    hours: int
    local_time: np.ndarray  # datetime64[m], [H]
    hour_of_day: np.ndarray  # int8 [H]
    phase: np.ndarray  # int8 [H], index into phase_names
    phase_names: tuple[str, ...]
    phase_kinds: tuple[str, ...]
    peak_phase: int
    peak_start: float  # hours
    peak_end: float
    traffic: np.ndarray  # float64 [H]: mean intensity multiplier of each hour
    minute_intensity: np.ndarray  # float64 [H*60]: intensity per minute (spikes included)
    minute_spike: np.ndarray  # bool [H*60]: an hour-mark spike is on
    category_profile: np.ndarray  # int16 [H]: index into category tables
    category_prob: np.ndarray  # float64 [P, C]: basket category probabilities per profile
    category_alias_prob: np.ndarray  # float64 [P, C]
    category_alias: np.ndarray  # int32 [P, C]
    countdown_urgency: np.ndarray  # float64 [H]: summed urgency of countdowns showing


@dataclass(frozen=True)
class SegmentTables:
    """Per-segment parameters (index = segment) and the visit tables."""

    names: tuple[str, ...]
    share: np.ndarray
    params: dict[str, np.ndarray]  # every numeric Segment field, float64 [S]
    region_names: tuple[str, ...]
    region_share: np.ndarray
    max_lift: np.ndarray  # float64 [S, H]: the segment part of the visit majorant
    visit_cum: np.ndarray  # float64 [S, H*60+1]: its cumulative visits per unit activity
    regime_of: np.ndarray  # int64 [H]: the regime (run of hours with the same class lifts)
    regime_start: np.ndarray  # int64 [J+1]: first hour of each regime, then H
    class_lift: np.ndarray  # float64 [Q, S, 2, J]: the class part of the majorant
    class_cum: np.ndarray  # float64 [Q, S, 2, J+1]: class cumulative at the regime starts


@dataclass(frozen=True)
class CategoryTables:
    names: tuple[str, ...]
    share: np.ndarray
    cost_of_goods: np.ndarray
    price_index: np.ndarray
    return_multiplier: np.ndarray


@dataclass(frozen=True)
class DiscountTables:
    """Price cut, quantity and threshold tiers, member discount."""

    price_cut_active: np.ndarray  # bool [H]
    price_cut_rate: float
    price_cut_cats: np.ndarray  # bool [C]
    quantity_active: np.ndarray
    quantity_units: np.ndarray  # int32 [Q]
    quantity_discount: np.ndarray  # float64 [Q]
    quantity_cats: np.ndarray
    threshold_active: np.ndarray
    threshold_spend: np.ndarray  # float64 [T]
    threshold_off: np.ndarray
    threshold_per_multiple: bool
    threshold_store_scope: bool
    threshold_cats: np.ndarray
    threshold_stacks: bool
    member_active: np.ndarray
    member_rate: float
    member_max_off: float  # inf if uncapped
    member_utility: float


@dataclass(frozen=True)
class CouponTables:
    """One row per coupon (index = coupon); times in campaign hours."""

    names: tuple[str, ...]
    face: np.ndarray
    min_spend: np.ndarray
    claim_start: np.ndarray
    claim_end: np.ndarray
    use_start: np.ndarray
    use_end: np.ndarray
    stock: np.ndarray  # int64, simulated units; -1 = unlimited
    per_shopper: np.ndarray  # int32
    cats: np.ndarray  # bool [K, C]
    segments: np.ndarray  # bool [K, S]
    stacks: np.ndarray  # bool [K]
    claimable: np.ndarray  # bool [K]
    new_only: np.ndarray  # bool [K]: new-shopper coupons


@dataclass(frozen=True)
class FlashTables:
    """One row per slot instance, sorted by opening time."""

    series_names: tuple[str, ...]
    series: np.ndarray  # int16 [F]
    open: np.ndarray  # float64 hours
    close: np.ndarray
    stock: np.ndarray  # int64 simulated units
    list_price: np.ndarray
    price: np.ndarray  # price paid
    limit: np.ndarray  # int32: per shopper, across the series
    category: np.ndarray  # int16
    utility: np.ndarray
    slot_ptr: np.ndarray  # int32 [H+1]: slots opening in hour h are open[ptr[h]:ptr[h+1]]


@dataclass(frozen=True)
class FirstNTables:
    names: tuple[str, ...]
    start: np.ndarray
    end: np.ndarray
    n: np.ndarray  # int64 simulated; -1 = no count limit
    discount: np.ndarray
    max_off: np.ndarray  # inf if uncapped
    utility: np.ndarray
    cats: np.ndarray  # bool [N, C]


@dataclass(frozen=True)
class MessageTables:
    names: tuple[str, ...]
    send: np.ndarray  # hours
    reach: np.ndarray
    wake: np.ndarray
    lift: np.ndarray
    lift_end: np.ndarray  # hours
    coupon: np.ndarray  # int16, -1 none
    segments: np.ndarray  # bool [M, S]
    dormant_only: np.ndarray
    cost: np.ndarray  # per simulated message (real cost x scale)


@dataclass(frozen=True)
class ChannelTables:
    names: tuple[str, ...]
    spend: np.ndarray  # real-world
    reach: np.ndarray  # share of targeted shoppers reached (Hill curve)
    lift: np.ndarray
    active: np.ndarray  # bool [Ch, H]
    segments: np.ndarray  # bool [Ch, S]


@dataclass(frozen=True)
class ExtrasTables:
    """Red envelope, presale, gifts, points, instalments, scarcity, cart recall, fission."""

    envelope_task: np.ndarray  # bool [H]
    envelope_spend: np.ndarray  # bool [H]
    envelope_peak: np.ndarray  # float64 [H]: multiplier on the balance when spent
    envelope: dict[str, float]
    presale_enabled: bool
    presale: dict[str, float]  # deposit, value, windows (hours), uptake, ...
    presale_cats: np.ndarray
    gift_active: np.ndarray  # bool [G, H]
    gift_kind: np.ndarray  # int8: 0 gift, 1 bogo, 2 bundle
    gift_min_spend: np.ndarray
    gift_value: np.ndarray
    gift_utility: np.ndarray
    gift_take_up: np.ndarray
    gift_cats: np.ndarray  # bool [G, C]
    points_active: np.ndarray  # bool [H]
    points: dict[str, float]
    instalments_active: np.ndarray
    instalments: dict[str, float]
    scarcity: dict[str, float]
    cart_recall: dict[str, float]
    fission_active: np.ndarray
    fission: dict[str, float]


@dataclass(frozen=True)
class Plan:
    """A compiled scenario: what every replicate reads."""

    scenario: Scenario
    scenario_hash: str
    clock: Clock
    shoppers: int
    scale: float
    seed: int
    calendar: CalendarTables
    segments: SegmentTables
    categories: CategoryTables
    discounts: DiscountTables
    coupons: CouponTables
    flash: FlashTables
    first_n: FirstNTables
    messages: MessageTables
    channels: ChannelTables
    extras: ExtrasTables
    depth: np.ndarray  # float64 [H]: headline discount rate on a typical basket
    depth_ahead: np.ndarray  # float64 [H]: best headline rate in any later hour
    fulfilment: FulfilmentTables
    mechanisms: tuple[str, ...] = MECHANISMS
    notes: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------
# the compiler
# ---------------------------------------------------------------------------


class _Compiler:
    def __init__(self, s: Scenario, shoppers: int | None = None) -> None:
        self.s = s
        c = s.campaign
        self.clock = Clock(c.timezone, c.start, c.end)
        self.H = self.clock.hours
        self.phase_names = tuple(p.name for p in s.calendar.phases)
        self.segment_names = tuple(g.name for g in s.population.segments)
        self.category_names = tuple(k.name for k in s.categories)
        # simulated shoppers and the real shoppers each stands for (keeping the
        # population represented when the number of simulated shoppers is overridden)
        self.shoppers = s.population.shoppers if shoppers is None else int(shoppers)
        self.scale = s.population.scale * s.population.shoppers / self.shoppers
        self.notes: list[str] = []
        self.phase = np.zeros(self.H, dtype=np.int8)
        for i, p in enumerate(s.calendar.phases):
            self.phase[self.clock.mask(p.start, p.end)] = i

    # -- helpers ---------------------------------------------------------
    def phase_mask(self, names: tuple[str, ...]) -> np.ndarray:
        if not names:
            return np.ones(self.H, dtype=bool)
        idx = [self.phase_names.index(n) for n in names]
        return np.isin(self.phase, idx)

    def window(self, w: Window) -> np.ndarray:
        return self.clock.mask(w.start, w.end) & self.phase_mask(w.phases)

    def cats(self, names: tuple[str, ...]) -> np.ndarray:
        if not names:
            return np.ones(len(self.category_names), dtype=bool)
        return np.isin(np.array(self.category_names), names)

    def segs(self, names: tuple[str, ...]) -> np.ndarray:
        if not names:
            return np.ones(len(self.segment_names), dtype=bool)
        return np.isin(np.array(self.segment_names), names)

    def hours_at(self, t: dt.datetime | None, default: float) -> float:
        return default if t is None else self.clock.to_hours(t)

    def scaled(self, count: int | None, what: str) -> int:
        if count is None:
            return -1
        n = round(count / self.scale)
        if n == 0 and count > 0:
            self.notes.append(
                f"{what}: {count} real units / scale {self.scale:g} rounds to 0 simulated units"
            )
        return int(n)

    # -- calendar ----------------------------------------------------------
    def calendar(self) -> CalendarTables:
        s, clk, H = self.s, self.clock, self.H
        cal = s.calendar
        prof = DIURNAL_PROFILES[cal.diurnal] if isinstance(cal.diurnal, str) else cal.diurnal
        diurnal = np.asarray(prof, dtype=np.float64)
        diurnal = diurnal / diurnal.mean()
        phase_traffic = np.array([p.traffic for p in cal.phases])
        traffic = diurnal[clk.hour_of_day] * phase_traffic[self.phase]

        # category days
        base = np.array([k.share for k in s.categories])
        profiles = [base]
        cat_profile = np.zeros(H, dtype=np.int16)
        for day in cal.category_days:
            on = clk.local_date == np.datetime64(day.date, "D")
            traffic[on] *= day.traffic
            w = base.copy()
            w[self.category_names.index(day.category)] *= day.basket_boost
            profiles.append(w / w.sum())
            cat_profile[on] = len(profiles) - 1
        cat_prob = np.vstack(profiles)
        tables = [alias_table(p) for p in cat_prob]

        # countdowns
        urgency = np.zeros(H)
        for cd in s.promotions.countdowns:
            if not cd.enabled:
                continue
            deadline = clk.to_hours(cd.deadline)
            h = np.arange(H)
            on = (h + 1 > deadline - cd.hours) & (h < deadline) & self.window(cd)
            urgency[on] += cd.urgency
            traffic[on] *= cd.traffic

        # minute intensity with spikes (the largest spike multiplier applies)
        minute = np.repeat(traffic, MINUTES)
        spike = np.ones(H * MINUTES)
        dates = clk.dates()
        for sp in cal.spikes:
            allowed = self.phase_mask(sp.phases)
            for d in sp.dates or dates:
                for hod in sp.hours:
                    t0 = clk.to_hours(dt.datetime.combine(d, dt.time(hod)))
                    h0 = int(np.floor(t0 + 1e-9))
                    if not (0 <= h0 < H) or not allowed[h0]:
                        continue
                    m0 = round(t0 * MINUTES)
                    seg = slice(m0, min(m0 + sp.minutes, H * MINUTES))
                    spike[seg] = np.maximum(spike[seg], sp.multiplier)
        minute *= spike
        traffic_mean = minute.reshape(H, MINUTES).mean(axis=1)

        peak = next(i for i, p in enumerate(cal.phases) if p.kind == "peak")
        return CalendarTables(
            hours=H,
            local_time=_ro(clk.local_hours),
            hour_of_day=_ro(clk.hour_of_day),
            phase=_ro(self.phase),
            phase_names=self.phase_names,
            phase_kinds=tuple(p.kind for p in cal.phases),
            peak_phase=peak,
            peak_start=clk.to_hours(cal.phases[peak].start),
            peak_end=clk.to_hours(cal.phases[peak].end),
            traffic=_ro(traffic_mean),
            minute_intensity=_ro(minute),
            minute_spike=_ro(spike > 1.0),
            category_profile=_ro(cat_profile),
            category_prob=_ro(cat_prob),
            category_alias_prob=_ro(np.vstack([t[0] for t in tables])),
            category_alias=_ro(np.vstack([t[1] for t in tables])),
            countdown_urgency=_ro(urgency),
        )

    # -- channels and messages -----------------------------------------------
    def channels(self) -> ChannelTables:
        chans = self.s.marketing.channels
        S = len(self.segment_names)
        return ChannelTables(
            names=tuple(c.name for c in chans),
            spend=_ro(np.array([c.spend for c in chans], dtype=np.float64)),
            reach=_ro(
                np.array(
                    [
                        hill(
                            c.spend,
                            c.response.half_saturation,
                            c.response.shape,
                            c.response.max_reach,
                        )
                        for c in chans
                    ],
                    dtype=np.float64,
                )
            ),
            lift=_ro(np.array([c.lift for c in chans], dtype=np.float64)),
            active=_ro(
                np.array([self.window(c) for c in chans], dtype=bool).reshape(len(chans), self.H)
            ),
            segments=_ro(
                np.array([self.segs(c.segments) for c in chans], dtype=bool).reshape(len(chans), S)
            ),
        )

    def messages(self) -> MessageTables:
        msgs = [m for m in self.s.promotions.messages if m.enabled]
        coupons = [c.name for c in self.s.promotions.coupons]
        S = len(self.segment_names)
        send = np.array([self.clock.to_hours(m.send_at) for m in msgs], dtype=np.float64)
        return MessageTables(
            names=tuple(m.name for m in msgs),
            send=_ro(send),
            reach=_ro(np.array([m.reach for m in msgs], dtype=np.float64)),
            wake=_ro(np.array([m.wake for m in msgs], dtype=np.float64)),
            lift=_ro(np.array([m.lift for m in msgs], dtype=np.float64)),
            lift_end=_ro(send + np.array([m.lift_hours for m in msgs], dtype=np.float64)),
            coupon=_ro(
                np.array(
                    [coupons.index(m.coupon) if m.coupon else -1 for m in msgs], dtype=np.int16
                )
            ),
            segments=_ro(
                np.array([self.segs(m.segments) for m in msgs], dtype=bool).reshape(len(msgs), S)
            ),
            dormant_only=_ro(np.array([m.dormant_only for m in msgs], dtype=bool)),
            cost=_ro(np.array([m.cost_per_message * self.scale for m in msgs], dtype=np.float64)),
        )

    # -- segments ---------------------------------------------------------------
    def segments(self, cal: CalendarTables, ch: ChannelTables, msg: MessageTables) -> SegmentTables:
        pop = self.s.population
        S, H = len(pop.segments), self.H
        share = np.array([g.share for g in pop.segments])
        # every numeric Segment field, nested ones as basket_median, funnel_cart, ...
        numbers = [_numeric_fields(g.model_dump()) for g in pop.segments]
        params = {k: _ro(np.array([n[k] for n in numbers], dtype=np.float64)) for k in numbers[0]}
        # The visit majorant (docs/model.md, "Visits") is the product of a segment part
        # per hour, tabulated per minute and integrated (message lifts, channels past the
        # first REACH_CHANNELS), and a class part, constant over runs of hours (regimes):
        # the lifts of the first REACH_CHANNELS channels that reach the shopper (its reach
        # pattern q) and, with a deposit paid (d = 1), the presale reminder and rush lifts.
        Ch = len(ch.names)
        Cb = min(Ch, REACH_CHANNELS)
        max_lift = np.ones((S, H))
        for k in range(Cb, Ch):
            on = np.outer(ch.segments[k], ch.active[k])
            max_lift = np.where(on, max_lift * ch.lift[k], max_lift)
        msg_lift = np.ones((S, H))
        h = np.arange(H)
        for k in range(len(msg.names)):
            on = np.outer(msg.segments[k], (h + 1 > msg.send[k]) & (h < msg.lift_end[k]))
            msg_lift = np.where(on, np.maximum(msg_lift, msg.lift[k]), msg_lift)
        max_lift *= msg_lift
        pre_lift = np.ones(H)
        pre = self.s.promotions.presale
        if pre is not None and pre.enabled:
            tail = self.clock.mask(pre.tail_start, pre.tail_end)
            rush = self.clock.mask(pre.tail_end - dt.timedelta(hours=pre.rush_hours), pre.tail_end)
            pre_lift[tail] *= max(pre.reminder_lift, 1.0)
            pre_lift[rush] *= max(pre.rush_lift, 1.0)
        # cumulative segment-part visits per unit activity, per minute
        rate_per_minute = np.array([g.visit_rate for g in pop.segments]) / (24.0 * MINUTES)
        lam = (
            rate_per_minute[:, None]
            * cal.minute_intensity[None, :]
            * np.repeat(max_lift, MINUTES, axis=1)
        )
        cum = np.zeros((S, H * MINUTES + 1))
        np.cumsum(lam, axis=1, out=cum[:, 1:])
        # regimes: maximal runs of hours with the same class lifts
        key = np.vstack([np.asarray(ch.active[:Cb], dtype=np.float64).reshape(Cb, H), pre_lift])
        new = np.ones(H, dtype=bool)
        new[1:] = np.any(key[:, 1:] != key[:, :-1], axis=0)
        starts = np.flatnonzero(new)
        regime_of = np.cumsum(new) - 1
        J, Q = len(starts), 1 << Cb
        q = np.arange(Q)
        chan = np.ones((Q, S, J))
        for c in range(Cb):  # in channel order, as the kernels multiply the lifts
            on = (
                (((q >> c) & 1) != 0)[:, None, None]
                & np.asarray(ch.segments[c], dtype=bool)[None, :, None]
                & np.asarray(ch.active[c], dtype=bool)[starts][None, None, :]
            )
            chan = np.where(on, chan * ch.lift[c], chan)
        class_lift = np.stack([chan, chan * pre_lift[starts]], axis=2)  # [Q, S, 2, J]
        bounds = np.append(starts, H) * MINUTES
        mass = cum[:, bounds[1:]] - cum[:, bounds[:-1]]  # [S, J]
        class_cum = np.zeros((Q, S, 2, J + 1))
        np.cumsum(class_lift * mass[None, :, None, :], axis=3, out=class_cum[..., 1:])
        visits = class_cum[..., -1].max(axis=(0, 2))  # [S]: the most a shopper can expect
        for g in np.flatnonzero(~(visits <= MAX_VISITS_PER_SHOPPER)):
            raise ScenarioError([ErrorLine(
                f"scenario {self.s.campaign.name!r}", f"population.segments[{g}].visit_rate",
                f"segment '{pop.segments[g].name}' would visit {visits[g]:.3g} times per "
                f"shopper over the campaign (at most {MAX_VISITS_PER_SHOPPER:,.0f}): lower its "
                "visit_rate or the traffic multipliers and lifts (phases, category days, spikes, "
                "countdowns, channels, presale)", pop.segments[g].visit_rate,
            )])  # fmt: skip
        rshare = np.array([r.share for r in pop.regions])
        return SegmentTables(
            names=self.segment_names,
            share=_ro(share),
            params=params,
            region_names=tuple(r.name for r in pop.regions),
            region_share=_ro(rshare),
            max_lift=_ro(max_lift),
            visit_cum=_ro(cum),
            regime_of=_ro(regime_of.astype(np.int64)),
            regime_start=_ro(np.append(starts, H).astype(np.int64)),
            class_lift=_ro(class_lift),
            class_cum=_ro(class_cum),
        )

    # -- promotions ---------------------------------------------------------------
    def discounts(self) -> DiscountTables:
        p = self.s.promotions
        off = np.zeros(self.H, dtype=bool)
        pc, q, th, m = p.price_cut, p.quantity, p.threshold, p.member
        return DiscountTables(
            price_cut_active=_ro(self.window(pc) if pc.enabled else off),
            price_cut_rate=pc.rate if pc.enabled else 0.0,
            price_cut_cats=_ro(self.cats(pc.categories)),
            quantity_active=_ro(self.window(q) if q.enabled else off),
            quantity_units=_ro(np.array([t.units for t in q.tiers], dtype=np.int32)),
            quantity_discount=_ro(np.array([t.discount for t in q.tiers], dtype=np.float64)),
            quantity_cats=_ro(self.cats(q.categories)),
            threshold_active=_ro(self.window(th) if th.enabled else off),
            threshold_spend=_ro(np.array([t.spend for t in th.tiers], dtype=np.float64)),
            threshold_off=_ro(np.array([t.off for t in th.tiers], dtype=np.float64)),
            threshold_per_multiple=th.mode == "per_multiple",
            threshold_store_scope=th.scope == "store",
            threshold_cats=_ro(self.cats(th.categories)),
            threshold_stacks=th.stacks_with_coupons,
            member_active=_ro(self.window(m) if m.enabled else off),
            member_rate=m.rate if m.enabled else 0.0,
            member_max_off=m.max_off if m.max_off is not None else np.inf,
            member_utility=m.utility if m.enabled else 0.0,
        )

    def coupons(self) -> CouponTables:
        cps = [c for c in self.s.promotions.coupons]
        K, S = len(cps), len(self.segment_names)
        end = float(self.H)

        def stock(c: Any) -> int:
            caps = []
            if c.quantity is not None:
                caps.append(c.quantity)
            if c.budget is not None:
                caps.append(int(c.budget // c.face_value))
            if not caps:
                return -1
            return self.scaled(min(caps), f"coupon '{c.name}' quantity")

        def arr(values: list[Any], dtype: Any) -> np.ndarray:
            return _ro(np.array(values, dtype=dtype))

        return CouponTables(
            names=tuple(c.name for c in cps),
            face=arr([c.face_value if c.enabled else 0.0 for c in cps], np.float64),
            min_spend=arr([c.min_spend for c in cps], np.float64),
            claim_start=arr([self.hours_at(c.claim_start, 0.0) for c in cps], np.float64),
            claim_end=arr(
                [self.hours_at(c.claim_end, end) if c.enabled else 0.0 for c in cps], np.float64
            ),
            use_start=arr([self.hours_at(c.use_start, 0.0) for c in cps], np.float64),
            use_end=arr(
                [self.hours_at(c.use_end, end) if c.enabled else 0.0 for c in cps], np.float64
            ),
            stock=arr([stock(c) for c in cps], np.int64),
            per_shopper=arr([c.per_shopper for c in cps], np.int32),
            cats=_ro(
                np.array([self.cats(c.categories) for c in cps], dtype=bool).reshape(
                    K, len(self.category_names)
                )
            ),
            segments=_ro(np.array([self.segs(c.segments) for c in cps], dtype=bool).reshape(K, S)),
            stacks=arr([c.stacks_with_threshold for c in cps], bool),
            claimable=arr([c.claimable and c.enabled for c in cps], bool),
            new_only=arr([c.kind == "new_shopper" for c in cps], bool),
        )

    def flash(self) -> FlashTables:
        clk = self.clock
        rows: list[tuple[float, int, Any]] = []
        series = [f for f in self.s.promotions.flash if f.enabled]
        for k, f in enumerate(series):
            allowed = self.phase_mask(f.phases)
            for d in f.dates or clk.dates():
                for hod in f.hours:
                    t0 = clk.to_hours(dt.datetime.combine(d, dt.time(hod)))
                    h0 = int(np.floor(t0 + 1e-9))
                    if 0 <= h0 < self.H and allowed[h0]:
                        rows.append((t0, k, f))
        rows.sort(key=lambda r: (r[0], r[1]))
        opens = np.array([r[0] for r in rows], dtype=np.float64)
        ptr = np.searchsorted(np.floor(opens + 1e-9), np.arange(self.H + 1)).astype(np.int32)
        cat0 = self.category_names[0]
        return FlashTables(
            series_names=tuple(f.name for f in series),
            series=_ro(np.array([r[1] for r in rows], dtype=np.int16)),
            open=_ro(opens),
            close=_ro(opens + np.array([r[2].minutes / 60.0 for r in rows])),
            stock=_ro(
                np.array(
                    [self.scaled(r[2].stock, f"flash '{r[2].name}' stock") for r in rows],
                    dtype=np.int64,
                )
            ),
            list_price=_ro(np.array([r[2].list_price for r in rows], dtype=np.float64)),
            price=_ro(
                np.array([r[2].list_price * (1 - r[2].price_cut) for r in rows], dtype=np.float64)
            ),
            limit=_ro(np.array([r[2].limit_per_shopper for r in rows], dtype=np.int32)),
            category=_ro(
                np.array(
                    [self.category_names.index(r[2].category or cat0) for r in rows],
                    dtype=np.int16,
                )
            ),
            utility=_ro(np.array([r[2].utility for r in rows], dtype=np.float64)),
            slot_ptr=_ro(ptr),
        )

    def first_n(self) -> FirstNTables:
        fns = [f for f in self.s.promotions.first_n if f.enabled]
        start = np.array([self.clock.to_hours(f.start) for f in fns], dtype=np.float64)
        dur = np.array([(f.minutes or 1440) / 60.0 for f in fns], dtype=np.float64)
        return FirstNTables(
            names=tuple(f.name for f in fns),
            start=_ro(start),
            end=_ro(np.minimum(start + dur, self.H)),
            n=_ro(
                np.array(
                    [self.scaled(f.n, f"first-N '{f.name}'") if f.n else -1 for f in fns],
                    dtype=np.int64,
                )
            ),
            discount=_ro(np.array([f.discount for f in fns], dtype=np.float64)),
            max_off=_ro(
                np.array([f.max_off if f.max_off else np.inf for f in fns], dtype=np.float64)
            ),
            utility=_ro(np.array([f.utility for f in fns], dtype=np.float64)),
            cats=_ro(
                np.array([self.cats(f.categories) for f in fns], dtype=bool).reshape(
                    len(fns), len(self.category_names)
                )
            ),
        )

    def extras(self, cal: CalendarTables) -> ExtrasTables:
        p, H, clk = self.s.promotions, self.H, self.clock
        off = np.zeros(H, dtype=bool)
        env = p.red_envelope
        peak = cal.phase == cal.peak_phase
        if env.enabled:
            task = self.window(env)
            if env.spend_phases:
                spend = self.phase_mask(env.spend_phases)
            else:
                spend = clk.mask(env.end, None)
        else:
            task = spend = off
        pre = p.presale
        presale: dict[str, float] = {}
        if pre is not None and pre.enabled:
            presale = {
                "deposit": pre.deposit,
                "deposit_value": pre.deposit_value,
                "deposit_start": clk.to_hours(pre.deposit_start),
                "deposit_end": clk.to_hours(pre.deposit_end),
                "tail_start": clk.to_hours(pre.tail_start),
                "tail_end": clk.to_hours(pre.tail_end),
                "rush_start": clk.to_hours(pre.tail_end) - pre.rush_hours,
                "uptake": pre.uptake,
                "item_price": pre.item_price or 0.0,
                "tail_pay_probability": pre.tail_pay_probability,
                "rush_gift": pre.rush_gift,
                "rush_lift": pre.rush_lift,
                "reminder_lift": pre.reminder_lift,
            }
        gifts = [g for g in p.gifts if g.enabled]
        kinds = {"gift": 0, "bogo": 1, "bundle": 2}
        G = len(gifts)
        fis = p.fission
        return ExtrasTables(
            envelope_task=_ro(task),
            envelope_spend=_ro(spend),
            envelope_peak=_ro(np.where(peak, env.peak_multiplier, 1.0)),
            envelope={
                "initial": env.initial,
                "growth_per_task": env.growth_per_task,
                "task_probability": env.task_probability if env.enabled else 0.0,
                "max_balance": env.max_balance,
                "min_spend": env.min_spend,
            },
            presale_enabled=bool(presale),
            presale=presale,
            presale_cats=_ro(self.cats(pre.categories if pre is not None else ())),
            gift_active=_ro(np.array([self.window(g) for g in gifts], dtype=bool).reshape(G, H)),
            gift_kind=_ro(np.array([kinds[g.kind] for g in gifts], dtype=np.int8)),
            gift_min_spend=_ro(np.array([g.min_spend for g in gifts], dtype=np.float64)),
            gift_value=_ro(np.array([g.value for g in gifts], dtype=np.float64)),
            gift_utility=_ro(np.array([g.utility for g in gifts], dtype=np.float64)),
            gift_take_up=_ro(np.array([g.take_up for g in gifts], dtype=np.float64)),
            gift_cats=_ro(
                np.array([self.cats(g.categories) for g in gifts], dtype=bool).reshape(
                    G, len(self.category_names)
                )
            ),
            points_active=_ro(self.window(p.points) if p.points.enabled else off),
            points={
                "rate": p.points.rate if p.points.enabled else 0.0,
                "multiplier": p.points.multiplier,
                "lottery_prob": p.points.lottery_prob if p.points.enabled else 0.0,
                "lottery_prize": p.points.lottery_prize,
                "utility": p.points.utility if p.points.enabled else 0.0,
            },
            instalments_active=_ro(self.window(p.instalments) if p.instalments.enabled else off),
            instalments={
                "min_spend": p.instalments.min_spend,
                "fee_rate": p.instalments.fee_rate,
                "take_up": p.instalments.take_up,
                "utility": p.instalments.utility,
            },
            scarcity={
                "enabled": float(p.scarcity.enabled),
                "below_share": p.scarcity.below_share,
                "urgency": p.scarcity.urgency if p.scarcity.enabled else 0.0,
            },
            cart_recall={
                "delay_hours": p.cart_recall.delay_hours,
                "recall_rate": p.cart_recall.recall_rate if p.cart_recall.enabled else 0.0,
                "cost": p.cart_recall.cost_per_message * self.scale,
            },
            fission_active=_ro(self.window(fis) if fis is not None and fis.enabled else off),
            fission=(
                {
                    "invites": float(fis.invites),
                    "participation": fis.participation,
                    "coupon": float([c.name for c in p.coupons].index(fis.coupon)),
                    "new_shopper_rate": fis.new_shopper_rate,
                }
                if fis is not None and fis.enabled
                else {"invites": 0.0, "participation": 0.0, "coupon": -1.0, "new_shopper_rate": 0.0}
            ),
        )

    def depth(
        self, d: DiscountTables, ex: ExtrasTables, seg: SegmentTables, cats: CategoryTables
    ) -> tuple[np.ndarray, np.ndarray]:
        """Headline discount rate per hour on a typical basket, and the best rate ahead."""
        typical = float(
            np.dot(seg.share, seg.params["basket_median"]) * np.dot(cats.share, cats.price_index)
        )
        rate = np.where(d.price_cut_active, d.price_cut_rate, 0.0)
        if len(d.threshold_spend):
            reach = d.threshold_spend <= typical * 1.25  # tiers a padding shopper reaches
            best = float(np.max(np.where(reach, d.threshold_off, 0.0), initial=0.0))
            base = max(typical, float(d.threshold_spend[0]))
            rate = rate + np.where(d.threshold_active, best / base, 0.0)
        member = float(np.dot(seg.share, seg.params["membership_rate"]))
        rate = rate + np.where(d.member_active, d.member_rate * member, 0.0)
        env = ex.envelope
        if env["task_probability"] > 0:
            rate = rate + np.where(
                ex.envelope_spend, env["max_balance"] * ex.envelope_peak / 2 / typical, 0.0
            )
        ahead = np.zeros_like(rate)
        if len(rate) > 1:
            ahead[:-1] = np.maximum.accumulate(rate[::-1])[::-1][1:]
        return rate, ahead


def compile_plan(scenario: Scenario, shoppers: int | None = None) -> Plan:
    """Compile a validated scenario into a :class:`Plan`.

    ``shoppers`` overrides ``population.shoppers``: each simulated shopper then stands
    for ``scale x population.shoppers / shoppers`` real ones, and real-world counts
    (flash stock, first-N, coupon quantities, message costs) are converted with that
    scale, so the population and the stock represented do not change.

    Examples
    --------
    >>> from sim.scenario import load_scenario
    >>> plan = compile_plan(load_scenario("scenarios/smoke.toml"))
    >>> plan.calendar.hours
    120
    """
    c = _Compiler(scenario, shoppers)
    cal = c.calendar()
    ch = c.channels()
    msg = c.messages()
    seg = c.segments(cal, ch, msg)
    k = scenario.categories
    cats = CategoryTables(
        names=c.category_names,
        share=_ro(np.array([x.share for x in k])),
        cost_of_goods=_ro(np.array([x.cost_of_goods for x in k])),
        price_index=_ro(np.array([x.price_index for x in k])),
        return_multiplier=_ro(np.array([x.return_multiplier for x in k])),
    )
    disc = c.discounts()
    ex = c.extras(cal)
    depth, ahead = c.depth(disc, ex, seg, cats)
    plan = Plan(
        scenario=scenario,
        scenario_hash=content_hash(scenario),
        clock=c.clock,
        shoppers=c.shoppers,
        scale=c.scale,
        seed=scenario.campaign.seed,
        calendar=cal,
        segments=seg,
        categories=cats,
        discounts=disc,
        coupons=c.coupons(),
        flash=c.flash(),
        first_n=c.first_n(),
        messages=msg,
        channels=ch,
        extras=ex,
        depth=_ro(depth),
        depth_ahead=_ro(ahead),
        fulfilment=compile_fulfilment(scenario, c.clock, seg.region_names),
        notes=tuple(c.notes),
    )
    return plan


def for_shoppers(plan: Plan, shoppers: int | None) -> Plan:
    """The plan for a different number of simulated shoppers (the same plan if unchanged).

    Limited stock is in simulated units, so a run with fewer (or more) simulated
    shoppers than the plan's needs the plan compiled for that number.
    """
    if shoppers is None or int(shoppers) == plan.shoppers:
        return plan
    return compile_plan(plan.scenario, int(shoppers))
