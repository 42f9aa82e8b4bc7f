"""numba kernels of the shopper model (private: arrays in, state and counters updated).

One epoch (an hour) of the campaign:

1. :func:`epoch_kernel`, parallel over fixed chunks of shoppers. Each shopper
   processes its events in the epoch in time order: cart-recall returns and
   visit candidates. A candidate at time t comes from the segment's majorant
   intensity (inverted from the cumulative table) and is accepted with
   probability (the shopper's own intensity) / (majorant): Lewis-Shedler
   thinning. An accepted candidate is a session (:func:`_session`).
2. :func:`settle`, sequential: contested actions of the epoch (limited coupon
   claims, flash-slot attempts, first-N privileges) in (time, shopper) order.

Counts and money (in integer cents) are added into per-chunk rows and summed
by the caller; integer sums do not depend on the order, so results are
bit-identical for any thread count or chunk size. Every random draw is
``uniform(key of (stream, shopper), counter)`` with counters fixed by purpose
(see :mod:`sim.shoppers.tables`), so the same decision draws the same number in
two scenarios run with the same seed.

The decision model is described in docs/model.md; :mod:`sim.shoppers.reference`
implements the same logic in plain Python.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim import rng as R
from sim.plan import REACH_CHANNELS
from sim.rng import ACCEPT, DECIDE, INIT, RECALL, SETTLE, VISIT
from sim.shoppers.intrinsics import prefetch, trailing_zeros
from sim.shoppers.state import (
    NO_EVENT,
    Q_ACTIVITY,
    Q_CART,
    Q_DEPOSIT,
    Q_ENVELOPE,
    Q_FATIGUE,
    Q_LAST_PURCHASE,
    U_DEPOSIT_CAT,
    U_FLAGS,
    U_NEXT_MSG,
    U_PURCHASES,
    U_REACH,
    U_REGION,
    U_SEG,
)
from sim.shoppers.tables import (
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
    F_CONVERTED,
    F_DORMANT,
    F_MEMBER,
    F_VISITED,
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
    GUIDE,
    HR_CAT_PROFILE,
    HR_COUNTDOWN,
    HR_DEPTH,
    HR_DEPTH_AHEAD,
    HR_ENV_PEAK,
    HR_ENV_SPEND,
    HR_ENV_TASK,
    HR_FATIGUE_DECAY,
    HR_FI_ACTIVE,
    HR_IN_ACTIVE,
    HR_IS_PEAK,
    HR_MB_ACTIVE,
    HR_PC_ACTIVE,
    HR_PT_ACTIVE,
    HR_Q_ACTIVE,
    HR_TH_ACTIVE,
    INIT_ACTIVITY,
    INIT_CHANNEL,
    INIT_DORMANT,
    INIT_MEMBER,
    INIT_MESSAGE,
    INIT_REGION,
    INIT_SEGMENT,
    M_BUNDLE,
    M_COUPON,
    M_ENVELOPE,
    M_FIRST_N,
    M_FLASH,
    M_GIFT,
    M_INSTALMENTS,
    M_LOTTERY,
    M_MEMBER,
    M_POINTS,
    M_PRESALE,
    M_PRICE_CUT,
    M_QUANTITY,
    M_RUSH,
    M_THRESHOLD,
    MS_COUPON,
    MS_DORMANT_ONLY,
    MS_LIFT,
    MS_LIFT_END,
    MS_REACH,
    MS_SEND,
    MS_WAKE,
    NM,
    PEND_CLAIM,
    PEND_FIRST_N,
    PEND_FLASH,
    PEND_NONE,
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
    SG_CUM_TOTAL,
    SG_DEFER_PROP,
    SG_DORMANT_ACTIVITY,
    SG_DORMANT_SHARE,
    SG_FATIGUE_STEP,
    SG_FLASH_AFF,
    SG_GUIDE_SCALE,
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
    SLOTS,
    TH_OFF,
    TH_SPEND,
    V_ABANDON_CHECKOUT,
    V_ABANDON_PAY,
    V_CART,
    V_CHECKOUT,
    V_CLAIMS,
    V_COGS,
    V_DEFER,
    V_DEPOSIT_MONEY,
    V_DEPOSITS,
    V_FIRST,
    V_FISSION_NEW,
    V_FISSIONS,
    V_FLASH_ATTEMPTS,
    V_FLASH_WINS,
    V_FN_WINS,
    V_FORFEIT_MONEY,
    V_FORFEITS,
    V_GMV,
    V_NEW,
    V_ORDERS,
    V_PADDING,
    V_PAID,
    V_RECALL_ORDERS,
    V_RECALL_SENT,
    V_REPEAT,
    V_RETURN_COGS,
    V_RETURN_MONEY,
    V_RETURNS,
    V_SESSIONS,
    V_TAILS,
    V_TASKS,
    V_UNITS,
    V_USES,
    V_VISITORS,
)

INF32 = np.float32(np.inf)

# The hot kernels are compiled without numba's reference counting (NRT). Every array
# passed to a compiled function is otherwise incref'd and decref'd atomically: with
# the plan and state tuples (~50 arrays) that cost ~60 ns per call, dominated the
# session, and serialised threads on shared cache lines (measured: 62 ns -> 3.5 ns per
# call). These functions never allocate (scratch arrays come from the caller) and
# never keep a reference, which is what `_nrt=False` requires. `settle`, which sorts
# and allocates, keeps NRT.
# (numba's default error model is kept: a division by zero raises instead of booking an
# infinite basket. error_model="numpy" made no measurable difference.)
hot = njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]
# Helpers called on every candidate or session are inlined into their callers: a call
# passes the plan and state tuples as ~370 flattened arguments.
inline = njit(cache=True, nogil=True, _nrt=False, inline="always")  # type: ignore[call-overload]
_PRICE_MECH = np.array(PRICE_MECHANISMS, dtype=np.int64)

REACH_BITS = REACH_CHANNELS  # channels whose reach draw is kept in the state (U_REACH)

# session modes
MODE_VISIT, MODE_RECALL, MODE_CONSOLATION = 0, 1, 2


@hot
def cents(x: float) -> int:
    """Money to integer cents, rounding half up (the ledger's unit)."""
    return int(math.floor(x * 100.0 + 0.5))  # noqa: RUF046 (the integer type is the point)


# ---------------------------------------------------------------------------
# visit times
# ---------------------------------------------------------------------------


@inline
def cum_at(P, s, t):
    """Cumulative majorant intensity of segment s at campaign hour t."""
    x = t * 60.0
    last = P.cum.shape[1] - 1
    if x >= last:
        return P.sg[SG_CUM_TOTAL, s]
    m = int(x)
    c0 = P.cum[s, m]
    return c0 + (P.cum[s, m + 1] - c0) * (x - m)


@inline
def bisect_in(a, lo, hi, x):
    """The index k in [lo, hi) with a[k] <= x < a[k + 1], given a[lo] <= x < a[hi]
    (a non-decreasing)."""
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if a[mid] <= x:
            lo = mid
        else:
            hi = mid
    return lo


@inline
def invert(P, s, lam):
    """The campaign hour at which segment s's cumulative intensity reaches lam (inf: never).

    First the hour h with hcum[h] <= lam < hcum[h + 1] (a guide table gives a bracket of
    hours, a binary search inside it; the hourly table stays in the cache); in an hour
    whose minutes have the same intensity the cumulative is linear, else the minute m
    with cum[m] <= lam < cum[m + 1] (a binary search over the hour's minutes), then
    linear interpolation.
    """
    total = P.sg[SG_CUM_TOTAL, s]
    if lam >= total or total <= 0.0:
        return np.inf
    g = int(lam * P.sg[SG_GUIDE_SCALE, s])  # lam / total * GUIDE, up to rounding
    if g >= GUIDE:
        g = GUIDE - 1
    hc = P.hcum[s]
    last = hc.shape[0] - 1
    lo = int(P.guide[s, g])
    hi = int(P.guide[s, g + 1]) + 1
    if hi > last:
        hi = last
    # widen the bracket if rounding put lam outside it
    while lo > 0 and hc[lo] > lam:
        lo -= 1
    while hi < last and hc[hi] <= lam:
        hi += 1
    lo = bisect_in(hc, lo, hi, lam)
    c0 = hc[lo]
    if P.flat[lo]:
        return lo + (lam - c0) / (hc[lo + 1] - c0)
    cum = P.cum[s]
    m0 = bisect_in(cum, lo * 60, lo * 60 + 60, lam)  # cum[60 lo] <= lam < cum[60 lo + 60]
    c0 = cum[m0]
    c1 = cum[m0 + 1]
    frac = (lam - c0) / (c1 - c0) if c1 > c0 else 0.0
    return (m0 + frac) / 60.0


@inline
def class_index(P, reach, s, d):
    """Row of the class tables for reach pattern ``reach``, segment s, deposit paid d."""
    return (int(reach) * P.sg.shape[1] + s) * 2 + d


@inline
def class_row(P, St, i, s):
    """The shopper's row of the class tables: reach pattern, segment, deposit paid."""
    return class_index(P, St.u8[i, U_REACH], s, 1 if St.f4[i, Q_DEPOSIT] > 0.0 else 0)


@inline
def majorant(P, row, s, e):
    """The shopper's majorant lift in epoch e: segment part x class part."""
    return P.max_lift[s, e] * P.class_lift[row, P.regime_of[e]]


@inline
def class_cum_at(P, row, s, t):
    """Cumulative majorant visits (per unit activity) of class ``row`` at campaign hour t."""
    cc = P.class_cum[row]
    H = P.regime_of.shape[0]
    if t >= H:
        return cc[cc.shape[0] - 1]
    j = P.regime_of[int(t)]
    return cc[j] + P.class_lift[row, j] * (cum_at(P, s, t) - P.hcum[s, P.regime_start[j]])


@inline
def class_invert(P, row, s, lam):
    """The campaign hour at which class ``row``'s cumulative majorant reaches lam (inf:
    never): the regime by a binary search in its cumulative, then the segment part's
    inversion at the matching point."""
    cc = P.class_cum[row]
    J = cc.shape[0] - 1
    if lam >= cc[J]:
        return np.inf
    lo = bisect_in(cc, 0, J, lam)  # cc[0] = 0 <= lam < cc[J]
    g = P.hcum[s, P.regime_start[lo]] + (lam - cc[lo]) / P.class_lift[row, lo]
    return invert(P, s, g)


@inline
def reached(P, reach, key_i, c):
    """Does channel c reach the shopper? A fixed draw; kept in the reach bits for the
    first REACH_BITS channels."""
    if c < REACH_BITS:
        return (reach >> c) & 1 != 0
    return R.uniform(key_i, INIT_CHANNEL + c) < P.ch[CH_REACH, c]


@inline
def lift(P, St, i, s, t, e, key_i):
    """The shopper's own visit-intensity multiplier at t (channels, messages, presale, dormancy)."""
    reach = St.u8[i, U_REACH]
    # the first REACH_BITS channels: their product, tabulated by reach pattern (the class
    # lift without a deposit)
    L = P.class_lift[class_index(P, reach, s, 0), P.regime_of[e]]
    for c in range(REACH_BITS, P.ch.shape[1]):
        if P.ch_active[c, e] and P.ch_segs[c, s]:
            if reached(P, reach, key_i, c):
                L *= P.ch[CH_LIFT, c]
    seen = St.seen[i]
    if seen != 0:
        best = 1.0
        for m in range(St.u8[i, U_NEXT_MSG]):
            if (seen >> m) & 1 and t < P.ms[MS_LIFT_END, m] and P.ms[MS_LIFT, m] > best:
                best = P.ms[MS_LIFT, m]
        L *= best
    if (
        P.sc[SC_PRE_ON]
        and St.f4[i, Q_DEPOSIT] > 0.0
        and t >= P.sc[SC_PRE_TAIL_START]
        and t < P.sc[SC_PRE_TAIL_END]
    ):
        L *= P.sc[SC_PRE_REMINDER_LIFT]
        if t >= P.sc[SC_PRE_RUSH_START]:
            L *= P.sc[SC_PRE_RUSH_LIFT]
    if St.u8[i, U_FLAGS] & F_DORMANT:
        L *= P.sg[SG_DORMANT_ACTIVITY, s]
    return L


@inline
def apply_messages(P, St, i, t, key_i, msg):
    """Deliver every message sent up to t that this shopper has not yet received."""
    n = P.ms.shape[1]
    m = int(St.u8[i, U_NEXT_MSG])
    while m < n and P.ms[MS_SEND, m] <= t:
        s = St.u8[i, U_SEG]
        if P.ms_segs[m, s] and (not P.ms[MS_DORMANT_ONLY, m] or St.u8[i, U_FLAGS] & F_DORMANT):
            msg[m, s, 0] += 1
            if R.uniform(key_i, INIT_MESSAGE + 2 * m) < P.ms[MS_REACH, m]:
                msg[m, s, 1] += 1
                St.seen[i] |= np.uint16(1 << m)
                k = int(P.ms[MS_COUPON, m])
                if k >= 0 and St.held[i, k] < 255:
                    St.held[i, k] += 1
                if St.u8[i, U_FLAGS] & F_DORMANT:
                    if R.uniform(key_i, INIT_MESSAGE + 2 * m + 1) < P.ms[MS_WAKE, m]:
                        St.u8[i, U_FLAGS] &= np.uint8(255 - F_DORMANT)
                        msg[m, s, 2] += 1
        m += 1
    St.u8[i, U_NEXT_MSG] = m


# ---------------------------------------------------------------------------
# pricing
# ---------------------------------------------------------------------------


@inline
def threshold_off(P, base):
    """Threshold discount on a basket of value `base` (the part counted for the tiers)."""
    n = P.th.shape[1]
    if n == 0:
        return 0.0
    if P.sc[SC_TH_PER_MULTIPLE]:
        return math.floor(base / P.th[TH_SPEND, n - 1]) * P.th[TH_OFF, n - 1]
    off = 0.0
    for k in range(n):
        if base >= P.th[TH_SPEND, k]:
            off = P.th[TH_OFF, k]
    return off


@inline
def next_tier(P, base):
    """Spend of the next tier above `base` (0 if none)."""
    n = P.th.shape[1]
    if n == 0:
        return 0.0
    if P.sc[SC_TH_PER_MULTIPLE]:
        top = P.th[TH_SPEND, n - 1]
        return (math.floor(base / top) + 1.0) * top
    for k in range(n):
        if base < P.th[TH_SPEND, k]:
            return P.th[TH_SPEND, k]
    return 0.0


@inline
def best_coupons(P, St, i, t, cat, price, stack_only):
    """Best general coupon and best category coupon usable on `price` (indices, -1 none)."""
    g = -1
    c = -1
    for k in range(P.cp.shape[1]):
        if St.held[i, k] == 0 or t < P.cp[CP_USE_START, k] or t >= P.cp[CP_USE_END, k]:
            continue
        if not P.cp_cats[k, cat] or price < P.cp[CP_MIN, k] or P.cp[CP_FACE, k] <= 0.0:
            continue
        if stack_only and not P.cp[CP_STACKS, k]:
            continue
        if P.cp[CP_CATEGORY, k]:
            if c < 0 or P.cp[CP_FACE, k] > P.cp[CP_FACE, c]:
                c = k
        elif g < 0 or P.cp[CP_FACE, k] > P.cp[CP_FACE, g]:
            g = k
    return g, c


@inline
def price_basket(P, St, i, s, t, h, cat, V, units, key, base, disc, cost):
    """Price a basket of list value V; fills disc/cost per mechanism.

    Order: price cut, quantity tier, threshold tier, coupons (one general and one
    category coupon; a non-stacking coupon replaces the threshold discount if it is
    worth more), member discount, red envelope (times the peak-day multiplier),
    bundles; then costs on top: gifts, points, lottery, instalment fees.
    Returns (price, general coupon, category coupon, envelope used, perceived utility extra).
    """
    for m in range(NM):
        disc[m] = 0.0
        cost[m] = 0.0
    p = V
    if P.hr[HR_PC_ACTIVE, h] and P.ct[CT_PC_CATS, cat]:
        disc[M_PRICE_CUT] = P.sc[SC_PC_RATE] * p
        p -= disc[M_PRICE_CUT]
    if P.hr[HR_Q_ACTIVE, h] and P.ct[CT_Q_CATS, cat]:
        rate = 0.0
        for k in range(P.qt.shape[1]):
            if units >= P.qt[QT_UNITS, k]:
                rate = P.qt[QT_DISC, k]
        disc[M_QUANTITY] = rate * p
        p -= disc[M_QUANTITY]
    th = 0.0
    if P.hr[HR_TH_ACTIVE, h] and P.ct[CT_TH_CATS, cat]:
        th = threshold_off(P, p * P.sc[SC_TH_SHARE])
    # coupons: (threshold + stacking coupons) or (no threshold + any coupons)
    g1, c1 = best_coupons(P, St, i, t, cat, p - th, True)
    with_th = th
    if g1 >= 0:
        with_th += P.cp[CP_FACE, g1]
    if c1 >= 0:
        with_th += P.cp[CP_FACE, c1]
    g2, c2 = -1, -1
    without = 0.0
    if th > 0.0:
        g2, c2 = best_coupons(P, St, i, t, cat, p, False)
        if g2 >= 0:
            without += P.cp[CP_FACE, g2]
        if c2 >= 0:
            without += P.cp[CP_FACE, c2]
    if without > with_th:
        g, c = g2, c2
        th = 0.0
        cp = without
    else:
        g, c = g1, c1
        cp = with_th - th
    if cp > p - th:
        cp = p - th
    disc[M_THRESHOLD] = th
    disc[M_COUPON] = cp
    p -= th + cp
    if St.u8[i, U_FLAGS] & F_MEMBER and P.hr[HR_MB_ACTIVE, h]:
        d = P.sc[SC_MB_RATE] * p
        disc[M_MEMBER] = d if d < P.sc[SC_MB_MAX_OFF] else P.sc[SC_MB_MAX_OFF]
        p -= disc[M_MEMBER]
    env = False
    if P.hr[HR_ENV_SPEND, h] and St.f4[i, Q_ENVELOPE] > 0.0 and p >= P.sc[SC_ENV_MIN_SPEND]:
        d = St.f4[i, Q_ENVELOPE] * P.hr[HR_ENV_PEAK, h]
        disc[M_ENVELOPE] = d if d < p else p
        p -= disc[M_ENVELOPE]
        env = True
    extra = 0.0
    take = R.uniform(key, base + D_BUNDLE)
    for k in range(P.gf.shape[1]):
        if not P.gf_active[k, h] or not P.gf_cats[k, cat] or p < P.gf[GF_MIN, k]:
            continue
        extra += P.gf[GF_UTILITY, k]
        if take >= P.gf[GF_TAKE_UP, k]:
            continue
        if P.gf[GF_KIND, k] == 0:
            cost[M_GIFT] += P.gf[GF_VALUE, k]
        else:
            d = P.gf[GF_VALUE, k] * p
            disc[M_BUNDLE] += d
            p -= d
    if P.sc[SC_PT_RATE] > 0.0:
        cost[M_POINTS] = P.sc[SC_PT_RATE] * (P.sc[SC_PT_MULT] if P.hr[HR_PT_ACTIVE, h] else 1.0) * p
    if P.hr[HR_PT_ACTIVE, h]:
        extra += P.sc[SC_PT_UTILITY]
        if R.uniform(key, base + D_LOTTERY) < P.sc[SC_PT_LOTTERY_PROB]:
            cost[M_LOTTERY] = P.sc[SC_PT_LOTTERY_PRIZE]
    if P.hr[HR_IN_ACTIVE, h] and p >= P.sc[SC_IN_MIN]:
        extra += P.sc[SC_IN_UTILITY]
        if R.uniform(key, base + D_INSTALMENT) < P.sc[SC_IN_TAKE_UP]:
            cost[M_INSTALMENTS] = P.sc[SC_IN_FEE] * p
    return p, g, c, env, extra


# ---------------------------------------------------------------------------
# booking
# ---------------------------------------------------------------------------


@inline
def book(P, St, i, s, r, t, cat, V, units, disc, cost, acc, mech, key, base, depth, impulse):
    """Book a paid order; returns the amount paid in cents."""
    acc[s, r, V_ORDERS] += 1
    acc[s, r, V_UNITS] += units
    g = cents(V)
    paid = g
    for q in range(_PRICE_MECH.shape[0]):
        m = _PRICE_MECH[q]
        dc = cents(disc[m])
        mech[s, r, m] += dc
        paid -= dc
    for m in range(NM):
        if cost[m] != 0.0:
            mech[s, r, m] += cents(cost[m])
    acc[s, r, V_GMV] += g
    acc[s, r, V_PAID] += paid
    cogs = cents(V * P.ct[CT_COGS, cat])
    acc[s, r, V_COGS] += cogs
    if P.sg[SG_IS_NEW, s] and not St.u8[i, U_FLAGS] & F_CONVERTED:
        St.u8[i, U_FLAGS] |= np.uint8(F_CONVERTED)
        acc[s, r, V_NEW] += 1
    n = int(St.u8[i, U_PURCHASES])
    if n < 255:
        St.u8[i, U_PURCHASES] = n + 1
    if n == 1:
        acc[s, r, V_REPEAT] += 1
    St.f4[i, Q_LAST_PURCHASE] = t
    rp = (
        P.sg[SG_RETURN_PROP, s]
        * P.ct[CT_RETURN_MULT, cat]
        * (1.0 + P.sc[SC_K_RETURN_DEPTH] * depth)
    )
    if impulse:
        rp *= 1.0 + P.sc[SC_K_IMPULSE]
    if R.uniform(key, base + D_RETURN) < rp:
        acc[s, r, V_RETURNS] += 1
        acc[s, r, V_RETURN_MONEY] += paid
        acc[s, r, V_RETURN_COGS] += cogs
    return paid


# ---------------------------------------------------------------------------
# sessions
# ---------------------------------------------------------------------------


@inline
def urgency(P, t, h, dyn, flash_open_utility, fn_open_utility):
    u = P.hr[HR_COUNTDOWN, h] + dyn[0] * P.sc[SC_SCARCITY_URGENCY]
    u += P.sc[SC_FLASH_URGENCY] * flash_open_utility + fn_open_utility
    return u


@hot
def shop(
    P,
    St,
    Pd,
    pc,
    slot,
    i,
    t,
    e,
    key,
    base,
    mode,
    dyn,
    fn_left,
    promise,
    acc,
    mech,
    cpn,
    disc,
    cost,
    fl_util,
    reg,
):
    """The funnel from the cart on: basket, deposit, deferral, padding, price, decision, payment.

    With ``reg``, a paid order in an open first-N privilege registers it in the
    pending row ``Pd[pc, slot]`` (if the shopper has no other pending action);
    returns the shopper's index then, else -1.
    """
    s = int(St.u8[i, U_SEG])
    r = int(St.u8[i, U_REGION])
    h = e
    saved = St.f4[i, Q_CART]
    z = 0.0
    if mode == 1:
        if saved <= 0.0:
            return -1
        V = float(saved)
    elif saved > 0.0:
        V = float(saved)
    else:
        if R.uniform(key, base + D_CART) >= P.sg[SG_P_CART, s]:
            return -1
        acc[s, r, V_CART] += 1
        z = R.normal(key, base + D_BASKET)
        V = -1.0
    prof = int(P.hr[HR_CAT_PROFILE, h])
    cat = R.alias_draw(key, base + D_CATEGORY, P.cat_prob[prof], P.cat_alias[prof])
    units = 1 + R.poisson_small(key, base + D_UNITS, P.sg[SG_UNITS_MEAN, s] - 1.0)
    if V < 0.0:
        V = (
            P.sg[SG_BASKET_MEDIAN, s]
            * P.ct[CT_PRICE_INDEX, cat]
            * math.exp(P.sg[SG_BASKET_SIGMA, s] * z)
        )
    St.f4[i, Q_CART] = 0.0
    # presale deposit instead of buying now
    if (
        mode == 0
        and P.sc[SC_PRE_ON]
        and St.f4[i, Q_DEPOSIT] == 0.0
        and t >= P.sc[SC_PRE_DEP_START]
        and t < P.sc[SC_PRE_DEP_END]
        and P.ct[CT_PRE_CATS, cat]
    ):
        if R.uniform(key, base + D_PRESALE) < P.sc[SC_PRE_UPTAKE]:
            St.f4[i, Q_DEPOSIT] = P.sc[SC_PRE_ITEM_PRICE] if P.sc[SC_PRE_ITEM_PRICE] > 0.0 else V
            St.u8[i, U_DEPOSIT_CAT] = cat
            acc[s, r, V_DEPOSITS] += 1
            acc[s, r, V_DEPOSIT_MONEY] += cents(P.sc[SC_PRE_DEPOSIT])
            return -1
    # strategic deferral: wait for the deeper discount ahead
    if mode != 1 and not P.hr[HR_IS_PEAK, h]:
        ahead = P.hr[HR_DEPTH_AHEAD, h]
        now = P.hr[HR_DEPTH, h]
        if ahead > now + P.sc[SC_DEFER_MARGIN]:
            if R.uniform(key, base + D_DEFER) < P.sg[SG_DEFER_PROP, s] * (ahead - now) / ahead:
                St.f4[i, Q_CART] = V
                acc[s, r, V_DEFER] += 1
                return -1
    # padding towards the next threshold tier
    if mode != 1 and P.hr[HR_TH_ACTIVE, h] and P.ct[CT_TH_CATS, cat] and P.th.shape[1] > 0:
        b = V
        if P.hr[HR_PC_ACTIVE, h] and P.ct[CT_PC_CATS, cat]:
            b *= 1.0 - P.sc[SC_PC_RATE]
        if P.hr[HR_Q_ACTIVE, h] and P.ct[CT_Q_CATS, cat]:
            rate = 0.0
            for k in range(P.qt.shape[1]):
                if units >= P.qt[QT_UNITS, k]:
                    rate = P.qt[QT_DISC, k]
            b *= 1.0 - rate
        bs = b * P.sc[SC_TH_SHARE]
        tier = next_tier(P, bs)
        if tier > 0.0 and bs > 0.0 and tier - bs <= P.sg[SG_PAD_REACH, s] * tier:
            if R.uniform(key, base + D_PAD) < P.sg[SG_PAD_PROP, s]:
                V *= tier / bs
                units += 1
                acc[s, r, V_PADDING] += 1
    p, g, c, env, extra = price_basket(P, St, i, s, t, h, cat, V, units, key, base, disc, cost)
    depth = (V - p + cost[M_GIFT] + cost[M_POINTS]) / V
    # first-N privilege open? (only whether fn_left is 0 is read: the settlement's
    # third pass passes 0/1 for the privileges open at a flash attempt, see settle)
    fn = -1
    fn_util = 0.0
    for n in range(P.fn.shape[1]):
        if t >= P.fn[FN_START, n] and t < P.fn[FN_END, n] and fn_left[n] != 0 and P.fn_cats[n, cat]:
            if fn < 0:
                fn = n
            fn_util += P.fn[FN_UTILITY, n]
    # the purchase decision (logit)
    ps = P.sg[SG_PRICE_SENS, s]
    typical = P.sg[SG_BASKET_MEDIAN, s] * P.ct[CT_PRICE_INDEX, cat]
    U = P.sg[SG_CHECKOUT_LOGIT, s] + ps * P.sc[SC_K_DEPTH] * depth
    if p > typical:
        U -= ps * P.sc[SC_K_PRICE] * math.log(p / typical)
    U += P.sg[SG_URGENCY_RESP, s] * urgency(P, t, h, dyn, fl_util, fn_util)
    for k in range(P.cp.shape[1]):
        if St.held[i, k] > 0:
            U += P.sc[SC_K_COUPON] * P.sg[SG_COUPON_AFF, s]
            break
    if St.u8[i, U_FLAGS] & F_MEMBER and P.hr[HR_MB_ACTIVE, h]:
        U += P.sc[SC_MB_UTILITY]
    U += extra - St.f4[i, Q_FATIGUE]
    if promise[r] > 24.0:
        U -= P.sc[SC_K_PROMISE] * (promise[r] / 24.0 - 1.0)
    if St.u8[i, U_PURCHASES] > 0:
        U -= (
            P.sc[SC_K_SATED]
            * (1.0 - P.sg[SG_REPEAT_PURCHASE, s])
            * math.exp(-(t - St.f4[i, Q_LAST_PURCHASE]) / P.sc[SC_SATED_HOURS])
        )
    if R.uniform(key, base + D_BUY) * (1.0 + math.exp(-U)) >= 1.0:
        acc[s, r, V_ABANDON_CHECKOUT] += 1
        St.f4[i, Q_CART] = V
        if mode != 1:
            schedule_recall(P, St, i, s, r, t, key, base, acc)
        return -1
    acc[s, r, V_CHECKOUT] += 1
    if R.uniform(key, base + D_PAY) >= P.sg[SG_P_PAY, s]:
        acc[s, r, V_ABANDON_PAY] += 1
        St.f4[i, Q_CART] = V
        if mode != 1:
            schedule_recall(P, St, i, s, r, t, key, base, acc)
        return -1
    # paid
    impulse = P.minute_spike[min(int(t * 60.0), P.minute_spike.shape[0] - 1)] or fl_util > 0.0
    returns = acc[s, r, V_RETURNS]  # book() counts the order here if it will be returned
    paid = book(P, St, i, s, r, t, cat, V, units, disc, cost, acc, mech, key, base, depth, impulse)
    if mode == 1:
        acc[s, r, V_RECALL_ORDERS] += 1
    if g >= 0:
        St.held[i, g] -= 1
        cpn[g, 3] += 1
        acc[s, r, V_USES] += 1
    if c >= 0:
        St.held[i, c] -= 1
        cpn[c, 3] += 1
        acc[s, r, V_USES] += 1
    if env:
        St.f4[i, Q_ENVELOPE] = 0.0
    if fn >= 0 and reg and Pd.kind[pc, slot] == PEND_NONE:
        Pd.kind[pc, slot] = PEND_FIRST_N
        Pd.idx[pc, slot] = fn
        Pd.t[pc, slot] = t
        Pd.val[pc, slot] = paid / 100.0
        Pd.ret[pc, slot] = 1 if acc[s, r, V_RETURNS] != returns else 0
        return i
    return -1


@inline
def event_epoch(St, i):
    """The epoch of the shopper's next event (NO_EVENT: none in the campaign)."""
    x = min(St.next_t[i], St.recall_t[i])
    return np.uint16(x) if x < NO_EVENT else np.uint16(NO_EVENT)


@inline
def schedule_recall(P, St, i, s, r, t, key, base, acc):
    if P.sc[SC_RECALL_RATE] > 0.0 and St.recall_t[i] == INF32:
        if R.uniform(key, base + D_RECALL) < P.sc[SC_RECALL_RATE]:
            St.recall_t[i] = t + P.sc[SC_RECALL_DELAY]
            St.ev[i] = event_epoch(St, i)
            acc[s, r, V_RECALL_SENT] += 1


@inline
def book_tail(P, St, i, s, r, t, key, base, acc, mech, disc, cost):
    """The presale tail payment: the deposit counts as its inflated value."""
    for m in range(NM):
        disc[m] = 0.0
        cost[m] = 0.0
    V = float(St.f4[i, Q_DEPOSIT])
    cat = int(St.u8[i, U_DEPOSIT_CAT])
    d = P.sc[SC_PRE_VALUE] - P.sc[SC_PRE_DEPOSIT]
    if d > V - P.sc[SC_PRE_DEPOSIT]:
        d = max(V - P.sc[SC_PRE_DEPOSIT], 0.0)
    disc[M_PRESALE] = d
    if t >= P.sc[SC_PRE_RUSH_START]:
        cost[M_RUSH] = P.sc[SC_PRE_RUSH_GIFT]
    St.f4[i, Q_DEPOSIT] = 0.0
    acc[s, r, V_TAILS] += 1
    book(P, St, i, s, r, t, cat, V, 1, disc, cost, acc, mech, key, base, d / V, False)


@inline
def session(
    P,
    St,
    Pd,
    pc,
    slot,
    i,
    t,
    e,
    key,
    base,
    dyn,
    coupon_left,
    flash_left,
    fn_left,
    promise,
    acc,
    mech,
    cpn,
    disc,
    cost,
):
    """A visit. Returns True if the shopper registered a contested action (pending list)."""
    s = int(St.u8[i, U_SEG])
    r = int(St.u8[i, U_REGION])
    h = e
    acc[s, r, V_SESSIONS] += 1
    if St.last_epoch[i] != e:
        acc[s, r, V_VISITORS] += 1
    if not St.u8[i, U_FLAGS] & F_VISITED:
        acc[s, r, V_FIRST] += 1
        St.u8[i, U_FLAGS] |= np.uint8(F_VISITED)
    # fatigue decays as exp(-hours since the last session / fatigue_hours), tabulated by
    # whole hours (the values math.exp gives); a first session starts from no fatigue
    last = St.last_epoch[i]
    decay = P.hr[HR_FATIGUE_DECAY, e - last] if last >= 0 else 0.0
    St.f4[i, Q_FATIGUE] = St.f4[i, Q_FATIGUE] * decay + P.sg[SG_FATIGUE_STEP, s]
    St.last_epoch[i] = e
    registered = False
    # red-envelope task
    if P.hr[HR_ENV_TASK, h] and R.uniform(key, base + D_TASK) < P.sc[SC_ENV_TASK_PROB]:
        b = St.f4[i, Q_ENVELOPE]
        b = P.sc[SC_ENV_INITIAL] if b <= 0.0 else b + P.sc[SC_ENV_GROWTH]
        St.f4[i, Q_ENVELOPE] = b if b < P.sc[SC_ENV_MAX] else P.sc[SC_ENV_MAX]
        acc[s, r, V_TASKS] += 1
    # social fission
    if P.hr[HR_FI_ACTIVE, h] and R.uniform(key, base + D_FISSION) < P.sc[SC_FI_PARTICIPATION]:
        acc[s, r, V_FISSIONS] += 1
        k = int(P.sc[SC_FI_COUPON])
        if k >= 0 and St.held[i, k] < P.cp[CP_PER_SHOPPER, k]:
            St.held[i, k] += 1
        whole = math.floor(P.sc[SC_FI_NEW_RATE])
        n_new = int(whole)
        if R.uniform(key, base + D_FISSION_NEW) < P.sc[SC_FI_NEW_RATE] - whole:
            n_new += 1
        acc[s, r, V_FISSION_NEW] += n_new
    # coupon claims
    for k in range(P.cp.shape[1]):
        if not P.cp[CP_CLAIMABLE, k] or t < P.cp[CP_CLAIM_START, k] or t >= P.cp[CP_CLAIM_END, k]:
            continue
        if not P.cp_segs[k, s] or St.held[i, k] >= P.cp[CP_PER_SHOPPER, k]:
            continue
        if P.cp[CP_NEW_ONLY, k] and (not P.sg[SG_IS_NEW, s] or St.u8[i, U_FLAGS] & F_CONVERTED):
            continue
        if R.uniform(key, base + D_CLAIM + k) >= P.sg[SG_COUPON_AFF, s]:
            continue
        if not P.cp[CP_LIMITED, k]:
            St.held[i, k] += 1
            acc[s, r, V_CLAIMS] += 1
            cpn[k, 0] += 1
            cpn[k, 1] += 1
        elif (
            coupon_left[k] > 0
            and Pd.kind[pc, slot] != PEND_FLASH
            and Pd.kind[pc, slot] != PEND_FIRST_N
        ):
            bit = 1 << k
            if not Pd.idx[pc, slot] & bit:
                if Pd.kind[pc, slot] == PEND_NONE:
                    Pd.kind[pc, slot] = PEND_CLAIM
                    Pd.t[pc, slot] = t
                    registered = True
                Pd.idx[pc, slot] |= bit
                cpn[k, 0] += 1
    # presale tail payment
    if (
        P.sc[SC_PRE_ON]
        and St.f4[i, Q_DEPOSIT] > 0.0
        and t >= P.sc[SC_PRE_TAIL_START]
        and t < P.sc[SC_PRE_TAIL_END]
    ):
        p = P.sc[SC_PRE_TAIL_PAY]
        if t >= P.sc[SC_PRE_RUSH_START]:
            p = 1.0 - (1.0 - p) / (1.0 + P.sg[SG_URGENCY_RESP, s])
        if R.uniform(key, base + D_TAIL) < p:
            book_tail(P, St, i, s, r, t, key, base, acc, mech, disc, cost)
            return registered
    # flash slot open now?
    best = -1
    fl_util = 0.0
    for f in range(P.fl_ptr[h], P.fl_ptr[h + 1]):
        if t >= P.fl[FL_OPEN, f] and t < P.fl[FL_CLOSE, f]:
            if P.fl[FL_UTILITY, f] > fl_util:
                fl_util = P.fl[FL_UTILITY, f]
            if flash_left[f] > 0 and St.flash_won[i, int(P.fl[FL_SERIES, f])] < P.fl[FL_LIMIT, f]:
                if best < 0 or P.fl[FL_UTILITY, f] > P.fl[FL_UTILITY, best]:
                    best = f
    if best >= 0 and Pd.kind[pc, slot] == PEND_NONE:
        p = 1.0 - (1.0 - P.sg[SG_FLASH_AFF, s]) ** P.fl[FL_UTILITY, best]
        if R.uniform(key, base + D_FLASH) < p:
            Pd.kind[pc, slot] = PEND_FLASH
            Pd.idx[pc, slot] = best
            Pd.t[pc, slot] = t
            acc[s, r, V_FLASH_ATTEMPTS] += 1
            return True
    # most sessions end here, with no cart: decided before the call, which passes the
    # plan and the state as hundreds of flattened arguments (shop draws the same number)
    if St.f4[i, Q_CART] <= 0.0 and R.uniform(key, base + D_CART) >= P.sg[SG_P_CART, s]:
        return registered
    got = shop(
        P,
        St,
        Pd,
        pc,
        slot,
        i,
        t,
        e,
        key,
        base,
        0,
        dyn,
        fn_left,
        promise,
        acc,
        mech,
        cpn,
        disc,
        cost,
        fl_util,
        True,
    )
    return registered or got >= 0


# ---------------------------------------------------------------------------
# the sampled session log (an opt-in debug aid)
# ---------------------------------------------------------------------------

LOG_COUNTERS = (
    V_SESSIONS, V_CART, V_CHECKOUT, V_DEFER, V_ABANDON_CHECKOUT, V_ABANDON_PAY, V_ORDERS,
    V_DEPOSITS, V_TAILS, V_FLASH_ATTEMPTS, V_CLAIMS, V_USES, V_GMV, V_PAID,
)  # fmt: skip
"""Counters whose change during one session is logged (the session's outcome)."""
_LOG = np.array(LOG_COUNTERS, dtype=np.int64)
LOG_FIXED = 6  # epoch, time (seconds), shopper, segment, region, kind (0 visit, 1 recall)


@hot
def log_snapshot(acc, St, i, buf, n):
    """Before a logged session: keep the chunk's counters of the shopper's cell in row n."""
    if n >= buf.shape[0]:
        return
    s = St.u8[i, U_SEG]
    r = St.u8[i, U_REGION]
    for q in range(_LOG.shape[0]):
        buf[n, LOG_FIXED + q] = acc[s, r, _LOG[q]]


@hot
def log_session(acc, St, i, t, e, kind, buf, n):
    """After a logged session: row n holds its outcome (only this shopper ran in between,
    so the change of the chunk's counters is exactly this session's). Returns the new count."""
    if n >= buf.shape[0]:
        return n + 1  # counted, not kept: the caller reports the rows dropped
    s = St.u8[i, U_SEG]
    r = St.u8[i, U_REGION]
    buf[n, 0] = e
    buf[n, 1] = int(t * 3600.0)
    buf[n, 2] = i
    buf[n, 3] = s
    buf[n, 4] = r
    buf[n, 5] = kind
    for q in range(_LOG.shape[0]):
        buf[n, LOG_FIXED + q] = acc[s, r, _LOG[q]] - buf[n, LOG_FIXED + q]
    return n + 1


# ---------------------------------------------------------------------------
# the epoch
# ---------------------------------------------------------------------------


@hot
def init_kernel(P, St, keys, chunk, c0, c1):
    """Draw every shopper's segment, region, activity, membership, dormancy and first
    candidate, and set its other fields that do not start at zero (the state is
    allocated without them: see ``new_state``)."""
    N = St.u8.shape[0]
    for c in range(c0, c1):
        lo = c * chunk
        hi = min(N, lo + chunk)
        for i in range(lo, hi):
            key_i = R.shopper_key(keys[INIT], i)
            u = R.uniform(key_i, INIT_SEGMENT)
            s = 0
            while s < P.seg_cdf.shape[0] - 1 and u >= P.seg_cdf[s]:
                s += 1
            u = R.uniform(key_i, INIT_REGION)
            r = 0
            while r < P.reg_cdf.shape[0] - 1 and u >= P.reg_cdf[r]:
                r += 1
            sig = P.sg[SG_ACTIVITY_SIGMA, s]
            a = np.float32(math.exp(sig * R.normal(key_i, INIT_ACTIVITY) - 0.5 * sig * sig))
            flags = 0
            if R.uniform(key_i, INIT_MEMBER) < P.sg[SG_MEMBER_RATE, s]:
                flags |= F_MEMBER
            if R.uniform(key_i, INIT_DORMANT) < P.sg[SG_DORMANT_SHARE, s]:
                flags |= F_DORMANT
            St.u8[i, U_SEG] = s
            St.u8[i, U_REGION] = r
            reach = 0
            for ch in range(min(P.ch.shape[1], REACH_BITS)):
                if R.uniform(key_i, INIT_CHANNEL + ch) < P.ch[CH_REACH, ch]:
                    reach |= 1 << ch
            St.u8[i, U_FLAGS] = flags
            St.u8[i, U_REACH] = reach
            St.f4[i, Q_ACTIVITY] = a
            key_v = R.shopper_key(keys[VISIT], i)
            row = class_index(P, reach, s, 0)
            St.next_t[i] = class_invert(P, row, s, R.exponential(key_v, 0) / float(a))
            St.recall_t[i] = INF32
            St.ev[i] = event_epoch(St, i)
            St.cand[i] = 0
            St.last_epoch[i] = -1


@hot
def collect_kernel(ev, e, chunk, bits, c0, c1):
    """The epoch's bitmap of shoppers with an event (visit candidate or cart recall) in
    epoch ``e``: bit b of ``bits[c, k]`` is shopper ``c * chunk + 64 k + b`` (a tight pass
    over two bytes a shopper, a function of its own rather than inlined, so that it stays
    one; the epoch kernel calls it for each chunk it starts)."""
    N = ev.shape[0]
    e16 = np.uint16(e)
    for c in range(c0, c1):
        lo = c * chunk
        hi = min(N, lo + chunk)
        for k in range(bits.shape[1]):
            base = lo + 64 * k
            n = min(64, hi - base)
            w = np.uint64(0)
            if n == 64:
                a = ev[base : base + 64]
                for b in range(64):
                    w |= np.uint64(a[b] <= e16) << np.uint64(b)
            else:
                for b in range(max(n, 0)):
                    w |= np.uint64(ev[base + b] <= e16) << np.uint64(b)
            bits[c, k] = w


@inline
def next_active(words, lo, hi, i):
    """The first shopper from i on with its bit set in the chunk's words (hi if none)."""
    if i >= hi:
        return hi
    k = (i - lo) >> 6
    w = words[k] & (np.uint64(0xFFFFFFFFFFFFFFFF) << np.uint64((i - lo) & 63))
    while w == 0:
        k += 1
        if k >= words.shape[0]:
            return hi
        w = words[k]
    return min(hi, lo + 64 * k + int(trailing_zeros(w)))


@inline
def prefetch_shopper(St, i):
    """Bring the shopper's record (its first and its last fields: at most two cache
    lines) and its next-event epoch into the cache (a hint: results never change)."""
    prefetch(St.f4, i)
    prefetch(St.flash_won, i)
    prefetch(St.ev, i)


@hot
def epoch_kernel(
    P,
    St,
    keys,
    e,
    chunk,
    dyn,
    coupon_left,
    flash_left,
    fn_left,
    promise,
    part,
    part_mech,
    part_cpn,
    part_msg,
    bits,
    Pd,
    pend_count,
    resume,
    scratch,
    log_every,
    log_buf,
    log_count,
    c0,
    c1,
):
    """Advance the shoppers of chunks [c0, c1) through epoch e (campaign hours [e, e+1)).

    The group of chunks adds its counts into ``part[c0]`` and ``part_mech[c0]``, which
    are zero before the epoch (:func:`fold` zeroes them; a rerun after the pending
    table grew goes on adding to them).

    With ``log_every > 0``, every session of a shopper whose index is a multiple of it is
    logged in ``log_buf[c]`` (see :func:`log_session`).
    """
    N = St.u8.shape[0]
    end = float(e + 1)
    acc = part[c0]  # the group's counters (zero before the epoch)
    mech = part_mech[c0]
    for c in range(c0, c1):
        disc = scratch[c, 0]
        cost = scratch[c, 1]
        cpn = part_cpn[c]
        msg = part_msg[c]
        lo = c * chunk
        hi = min(N, lo + chunk)
        if resume[c] >= hi:
            continue  # done (a rerun after the pending table grew)
        if resume[c] <= lo:  # a fresh start (not a rerun after the pending table grew)
            log_count[c] = 0
            pend_count[c] = 0
            # the chunk's bitmap of shoppers with an event, just before they are served
            # (only serving a chunk changes its shoppers' events): its next-event epochs
            # are then in the cache when the served shoppers' are written
            collect_kernel(St.ev, e, chunk, bits, c, c + 1)
        npend = pend_count[c]
        cap = Pd.kind.shape[1]
        # the shoppers with an event in the epoch, in index order; while one is served,
        # the state of the next is brought into the cache
        words = bits[c]
        i = next_active(words, lo, hi, max(lo, resume[c]))
        nxt = next_active(words, lo, hi, i + 1)
        if nxt < hi:
            prefetch_shopper(St, nxt)
        while i < hi:
            if npend >= cap:
                break  # the pending table is full: the caller grows it and resumes at i
            # two shoppers ahead: a miss to memory takes longer than one shopper's work
            nxt2 = next_active(words, lo, hi, nxt + 1)
            if nxt2 < hi:
                prefetch_shopper(St, nxt2)
            Pd.kind[c, npend] = PEND_NONE
            Pd.idx[c, npend] = 0
            if True:
                logged = log_every > 0 and i % log_every == 0
                key_i = R.shopper_key(keys[INIT], i)
                key_v = R.shopper_key(keys[VISIT], i)
                key_a = R.shopper_key(keys[ACCEPT], i)
                key_d = R.shopper_key(keys[DECIDE], i)
                while True:
                    nt = St.next_t[i]
                    rt = St.recall_t[i]
                    if rt < nt:
                        if rt >= end:
                            break
                        St.recall_t[i] = INF32
                        t = float(rt)
                        apply_messages(P, St, i, t, key_i, msg)
                        key_r = R.shopper_key(keys[RECALL], i)
                        if logged:
                            log_snapshot(acc, St, i, log_buf[c], log_count[c])
                        shop(
                            P,
                            St,
                            Pd,
                            c,
                            npend,
                            i,
                            t,
                            e,
                            key_r,
                            int(St.cand[i]) * SLOTS,
                            1,
                            dyn,
                            fn_left,
                            promise,
                            acc,
                            mech,
                            cpn,
                            disc,
                            cost,
                            0.0,
                            False,
                        )
                        if logged:
                            log_count[c] = log_session(
                                acc, St, i, t, e, 1, log_buf[c], log_count[c]
                            )
                        continue
                    if nt >= end:
                        break
                    t = float(nt)
                    j = int(St.cand[i])
                    apply_messages(P, St, i, t, key_i, msg)
                    s = int(St.u8[i, U_SEG])
                    L = lift(P, St, i, s, t, e, key_i)
                    if R.uniform(key_a, j) * majorant(P, class_row(P, St, i, s), s, e) < L:
                        if logged:
                            log_snapshot(acc, St, i, log_buf[c], log_count[c])
                        session(
                            P,
                            St,
                            Pd,
                            c,
                            npend,
                            i,
                            t,
                            e,
                            key_d,
                            j * SLOTS,
                            dyn,
                            coupon_left,
                            flash_left,
                            fn_left,
                            promise,
                            acc,
                            mech,
                            cpn,
                            disc,
                            cost,
                        )
                        if logged:
                            log_count[c] = log_session(
                                acc, St, i, t, e, 0, log_buf[c], log_count[c]
                            )
                    j += 1
                    St.cand[i] = j
                    # the next candidate, from the class the shopper is in now (a deposit
                    # paid in the session moves it; the process is memoryless)
                    row = class_row(P, St, i, s)
                    lam = class_cum_at(P, row, s, t) + R.exponential(key_v, j) / float(
                        St.f4[i, Q_ACTIVITY]
                    )
                    St.next_t[i] = class_invert(P, row, s, lam)
                St.ev[i] = event_epoch(St, i)
                if Pd.kind[c, npend] != PEND_NONE:
                    if Pd.kind[c, npend] == PEND_CLAIM:
                        book_claims(St, i, int(Pd.idx[c, npend]), acc, cpn, 1)
                    Pd.who[c, npend] = i
                    npend += 1
            i = nxt
            nxt = nxt2
        resume[c] = i
        pend_count[c] = npend


@inline
def book_claims(St, i, bits, acc, cpn, sign):
    """Book shopper i's claims of the limited coupons in ``bits`` (bit k: coupon k) as
    won (``sign`` 1) or take them back as lost (``sign`` -1).

    A limited claim is booked as won by the epoch kernel once the shopper is done for
    the epoch (its record is then in the cache), not by the settlement: nothing reads
    the coupons the shopper holds between the two (its one pending row is a claim row,
    so it has no flash attempt and no consolation purchase in the settlement), and the
    counts are integer sums. The settlement takes back a claim on a coupon that was
    gone by its time: the same result as booking only the claims that won, and the
    claims it settles in the first pass never read the shopper.
    """
    s = int(St.u8[i, U_SEG])
    r = int(St.u8[i, U_REGION])
    for k in range(St.held.shape[1]):
        if (bits >> k) & 1:
            if sign > 0:
                St.held[i, k] += 1
            else:
                St.held[i, k] -= 1
                cpn[k, 2] += 1
            acc[s, r, V_CLAIMS] += sign
            cpn[k, 1] += sign


ROW_FREE, ROW_BUSY, ROW_LOST, ROW_WON = 0, 1, 2, 3
"""``busy_row`` values: settled in the first pass, left for the sorted pass, a flash
attempt decided in the sorted pass whose outcome (a consolation purchase, a won unit
booked) is left for the parallel third pass."""


@inline
def flash_decide(P, St, i, t, f, flash_left, fl_stats):
    """Does shopper ``i``'s attempt at flash slot ``f`` win a unit (stock left, below the
    per-shopper limit)? Takes the unit and counts the attempt."""
    fl_stats[f, 0] += 1
    series = int(P.fl[FL_SERIES, f])
    if flash_left[f] > 0 and St.flash_won[i, series] < P.fl[FL_LIMIT, f]:
        flash_left[f] -= 1
        St.flash_won[i, series] += 1
        fl_stats[f, 1] += 1
        if flash_left[f] == 0:
            fl_stats[f, 2] = t - P.fl[FL_OPEN, f]
        return True
    fl_stats[f, 3] += 1
    return False


@inline
def flash_outcome(
    P, St, Pd, i, s, r, t, e, f, won, keys, dyn, fn_left, promise, acc, mech, cpn, disc, cost
):  # fmt: skip
    """What follows a decided flash attempt: the won unit booked at the flash price, or,
    for a loser, perhaps a consolation purchase of something else (which reads only
    whether a first-N privilege is open, besides the shopper's own state)."""
    key_s = R.shopper_key(keys[SETTLE], i)
    base = f * SLOTS
    if won:
        for m in range(NM):
            disc[m] = 0.0
            cost[m] = 0.0
        V = P.fl[FL_LIST, f]
        disc[M_FLASH] = V - P.fl[FL_PRICE, f]
        acc[s, r, V_FLASH_WINS] += 1
        book(
            P, St, i, s, r, t, int(P.fl[FL_CAT, f]), V, 1, disc, cost, acc, mech, key_s,
            base, disc[M_FLASH] / V, True,
        )  # fmt: skip
    elif R.uniform(key_s, base + D_CONSOLATION) < P.sc[SC_CONSOLATION]:
        shop(
            P, St, Pd, 0, 0, i, t, e, key_s, base, 2, dyn, fn_left, promise, acc,
            mech, cpn, disc, cost, P.fl[FL_UTILITY, f], False,
        )  # fmt: skip


@inline
def settle_row(
    P, St, Pd, keys, e, rc_, rk_, dyn, coupon_left, flash_left, fn_left, promise,
    acc, mech, cpn, fl_stats, fn_stats, disc, cost, defer, busy_row,
):  # fmt: skip
    """Settle one contested action: row ``rk_`` of chunk ``rc_`` of the pending table.

    With ``defer``, a flash attempt is only decided (stock taken, ``busy_row`` set to
    ``ROW_WON`` or ``ROW_LOST``); :func:`settle_flash` does the rest.
    """
    i = int(Pd.who[rc_, rk_])
    kind = Pd.kind[rc_, rk_]
    idx = int(Pd.idx[rc_, rk_])
    if kind == PEND_CLAIM:
        # the epoch kernel booked every claim as won (book_claims); one on a coupon
        # already gone is taken back, the only case that reads the shopper
        lost = 0
        for k in range(P.cp.shape[1]):
            if (idx >> k) & 1:
                if coupon_left[k] > 0:
                    coupon_left[k] -= 1
                else:
                    lost |= 1 << k
        if lost:
            book_claims(St, i, lost, acc, cpn, -1)
        return
    t = float(Pd.t[rc_, rk_])
    val = float(Pd.val[rc_, rk_])
    s = int(St.u8[i, U_SEG])
    r = int(St.u8[i, U_REGION])
    if kind == PEND_FLASH:
        won = flash_decide(P, St, i, t, idx, flash_left, fl_stats)
        if defer:
            busy_row[rc_, rk_] = ROW_WON if won else ROW_LOST
        else:
            flash_outcome(
                P, St, Pd, i, s, r, t, e, idx, won, keys, dyn, fn_left, promise, acc, mech, cpn,
                disc, cost,
            )  # fmt: skip
    elif kind == PEND_FIRST_N:
        if fn_left[idx] != 0:
            if fn_left[idx] > 0:
                fn_left[idx] -= 1
            rebate = P.fn[FN_DISC, idx] * val
            if rebate > P.fn[FN_MAX_OFF, idx]:
                rebate = P.fn[FN_MAX_OFF, idx]
            rc = cents(rebate)
            mech[s, r, M_FIRST_N] += rc
            acc[s, r, V_PAID] -= rc
            if Pd.ret[rc_, rk_]:  # a returned order refunds what was paid after the rebate
                acc[s, r, V_RETURN_MONEY] -= rc
            acc[s, r, V_FN_WINS] += 1
            fn_stats[idx, 0] += 1
            if fn_left[idx] == 0:
                fn_stats[idx, 1] = t


@njit(cache=True, nogil=True)
def settle_busy(Pd, pend_count, coupon_left, flash_left, fn_left):
    """Which resources can run out in this epoch's settlement (demand reaches what is
    left): (coupons, flash slots, first-N privileges)."""
    K, F, N = coupon_left.shape[0], flash_left.shape[0], fn_left.shape[0]
    d_cp = np.zeros(K, np.int64)
    d_fl = np.zeros(F, np.int64)
    d_fn = np.zeros(N, np.int64)
    for c in range(pend_count.shape[0]):
        for k in range(pend_count[c]):
            kind = Pd.kind[c, k]
            idx = int(Pd.idx[c, k])
            if kind == PEND_CLAIM:
                for q in range(K):
                    if (idx >> q) & 1:
                        d_cp[q] += 1
            elif kind == PEND_FLASH:
                d_fl[idx] += 1
            elif kind == PEND_FIRST_N:
                d_fn[idx] += 1
    return d_cp >= coupon_left, d_fl >= flash_left, (fn_left > 0) & (d_fn >= fn_left)


@hot
def settle_free(
    P, St, Pd, keys, e, pend_count, dyn, left_cp, left_fl, left_fn, promise, part,
    part_mech, part_cpn, fl_part, fn_part, busy_cp, busy_fl, busy_fn, scratch, busy_row,
    c0, c1,
):  # fmt: skip
    """The settlement's first pass over the pending rows of chunks [c0, c1), in table
    order: every row whose resources cannot run out in this epoch is settled (its
    outcome does not depend on the order), the others are flagged in ``busy_row``.

    A group of chunks adds into the rows ``c0`` of the partial arrays and takes from its
    own copies of what is left (``left_*[c0]``): rows of different chunks touch different
    shoppers, so groups run in parallel.
    """
    acc, mech, cpn = part[c0], part_mech[c0], part_cpn[c0]
    fl_stats, fn_stats = fl_part[c0], fn_part[c0]
    coupon_left, flash_left, fn_left = left_cp[c0], left_fl[c0], left_fn[c0]
    disc, cost = scratch[c0, 0], scratch[c0, 1]
    for c in range(c0, c1):
        for k in range(pend_count[c]):
            if k + 4 < pend_count[c] and Pd.kind[c, k + 4] != PEND_CLAIM:
                prefetch_shopper(St, Pd.who[c, k + 4])  # a free claim row never reads it
            kind = Pd.kind[c, k]
            idx = int(Pd.idx[c, k])
            busy = False
            if kind == PEND_CLAIM:
                for q in range(busy_cp.shape[0]):
                    if (idx >> q) & 1 and busy_cp[q]:
                        busy = True
            elif kind == PEND_FLASH:
                busy = busy_fl[idx]
            elif kind == PEND_FIRST_N:
                busy = busy_fn[idx]
            busy_row[c, k] = ROW_BUSY if busy else ROW_FREE
            if not busy:
                settle_row(
                    P, St, Pd, keys, e, c, k, dyn, coupon_left, flash_left, fn_left, promise,
                    acc, mech, cpn, fl_stats, fn_stats, disc, cost, False, busy_row,
                )  # fmt: skip


@inline
def open_privileges(fn_left):
    """Bit n: first-N privilege n still has places (or has no limit)."""
    mask = np.uint64(0)
    for n in range(fn_left.shape[0]):
        if fn_left[n] != 0:
            mask |= np.uint64(1) << np.uint64(n)
    return mask


@hot
def settle_rows(
    P, St, Pd, keys, e, dyn, coupon_left, flash_left, fn_left, promise, acc, mech, cpn,
    fl_stats, fn_stats, disc, cost, rows, order, slot, fmask, defer, busy_row,
):  # fmt: skip
    """Settle the pending rows ``rows[order]`` in that order (``defer``: see
    :func:`settle_row`). ``slot[j]`` is the flash slot of row ``rows[j]`` (-1: not a
    flash attempt). With ``defer``, an attempt at a slot already sold out is lost
    without reading the pending table or the shopper (``slot[j]`` becomes -2), which
    is what most attempts are, and ``fmask[j]`` gets the first-N privileges open when
    the attempt is decided (all a consolation purchase reads of the settlement)."""
    width = Pd.who.shape[1]
    n = order.shape[0]
    open_now = open_privileges(fn_left)
    for q in range(n):
        if q + 4 < n:
            ahead = order[q + 4]
            f = slot[ahead]
            if not (defer and f >= 0 and flash_left[f] == 0):
                prefetch_shopper(St, Pd.who[rows[ahead] // width, rows[ahead] % width])
        j = order[q]
        f = slot[j]
        if defer and f >= 0:
            fmask[j] = open_now
            if flash_left[f] == 0:
                fl_stats[f, 0] += 1
                fl_stats[f, 3] += 1
                slot[j] = -2
                continue
        rc_, rk_ = divmod(rows[j], width)
        settle_row(
            P, St, Pd, keys, e, rc_, rk_, dyn, coupon_left, flash_left, fn_left, promise,
            acc, mech, cpn, fl_stats, fn_stats, disc, cost, defer, busy_row,
        )  # fmt: skip
        if f < 0:
            open_now = open_privileges(fn_left)


@njit(cache=True, nogil=True)
def settle_collect(Pd, t_bits, pend_count, busy_row):
    """The rows flagged by :func:`settle_free` (actions on resources that can run out in
    this epoch), in table order: their place in the table (``chunk * width + k``), a
    sort key (the float32 time's bits above the row's number among them: sorting the
    keys sorts by (time, table order), the bits of a time >= 0 being in its order) and
    the flash slot (-1: not a flash attempt)."""
    width = Pd.who.shape[1]
    n = 0
    for c in range(pend_count.shape[0]):
        for k in range(pend_count[c]):
            n += busy_row[c, k] == ROW_BUSY
    rows = np.empty(n, dtype=np.int64)
    tkeys = np.empty(n, dtype=np.uint64)
    slot = np.empty(n, dtype=np.int64)
    q = 0
    for c in range(pend_count.shape[0]):
        for k in range(pend_count[c]):
            if busy_row[c, k] == ROW_BUSY:
                rows[q] = c * width + k
                bits = np.uint64(t_bits[c, k]) if Pd.t[c, k] > 0.0 else np.uint64(0)
                tkeys[q] = (bits << np.uint64(32)) | np.uint64(q)
                slot[q] = Pd.idx[c, k] if Pd.kind[c, k] == PEND_FLASH else -1
                q += 1
    return rows, tkeys, slot


@njit(cache=True, nogil=True)
def settle(
    P,
    St,
    Pd,
    keys,
    e,
    dyn,
    coupon_left,
    flash_left,
    fn_left,
    promise,
    acc,
    mech,
    cpn,
    fl_stats,
    fn_stats,
    busy_row,
    fn_open,
    rows,
    order,
    slot,
    defer,
):
    """The settlement's second pass: the rows ``rows[order]`` from
    :func:`settle_collect`, sorted by (time, table order). Returns the number of flash
    rows left to :func:`settle_flash` (with ``defer``).

    Only their order matters: the rows settled in the first pass each got what they
    asked for, as they would have in time order (a shopper has one row per epoch, and a
    flash attempt was made only with stock left and below the per-shopper limit, so one
    on a slot that cannot sell out wins and makes no consolation purchase, the one thing
    that reads whether a first-N privilege is still open). With ``defer`` (at most 64
    first-N privileges), this pass only decides who wins a flash unit and notes in
    ``fn_open`` the privileges open at that moment; what follows (the unit booked, a
    loser's consolation purchase) touches only the shopper's state, so
    :func:`settle_flash` does it in parallel. (The rows are settled by
    :func:`settle_rows`, compiled without reference counting.)
    """
    width = Pd.who.shape[1]
    n = rows.shape[0]
    disc = np.zeros(NM)
    cost = np.zeros(NM)
    fmask = np.zeros(n, dtype=np.uint64)
    settle_rows(
        P, St, Pd, keys, e, dyn, coupon_left, flash_left, fn_left, promise, acc, mech, cpn,
        fl_stats, fn_stats, disc, cost, rows, order, slot, fmask, defer, busy_row,
    )  # fmt: skip
    if not defer:
        return 0
    deferred = 0
    for q in range(n):  # in table order: the attempts lost at a sold-out slot, and
        if slot[q] != -1:  # the privileges open when each attempt was decided
            rc_, rk_ = rows[q] // width, rows[q] % width
            fn_open[rc_, rk_] = fmask[q]
            deferred += 1
            if slot[q] == -2:
                busy_row[rc_, rk_] = ROW_LOST
    return deferred


@njit(cache=True, nogil=True)
def settle_sorted(
    P, St, Pd, t_bits, keys, e, pend_count, dyn, coupon_left, flash_left, fn_left, promise,
    acc, mech, cpn, fl_stats, fn_stats, busy_row, fn_open, defer,
):  # fmt: skip
    """:func:`settle_collect`, the sort and :func:`settle` in one call, for epochs with few
    pending rows (numba's own sort; the model sorts many rows with numpy's, which is
    faster, in the same order: the keys are distinct)."""
    rows, tkeys, slot = settle_collect(Pd, t_bits, pend_count, busy_row)
    if rows.shape[0] == 0:
        return 0
    tkeys.sort()
    order = (tkeys & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return settle(
        P, St, Pd, keys, e, dyn, coupon_left, flash_left, fn_left, promise, acc, mech, cpn,
        fl_stats, fn_stats, busy_row, fn_open, rows, order, slot, defer,
    )  # fmt: skip


@hot
def settle_flash(
    P, St, Pd, keys, e, pend_count, dyn, fn_view, promise, part, part_mech, part_cpn,
    scratch, busy_row, fn_open, c0, c1,
):  # fmt: skip
    """The settlement's third pass over chunks [c0, c1): what follows the flash attempts
    the sorted pass decided (``ROW_WON``: the unit booked; ``ROW_LOST``: perhaps a
    consolation purchase, which sees the first-N privileges open when the attempt was
    decided, ``fn_open``, through the group's row of ``fn_view``). Each touches only
    its shopper's state and adds into the group's partial counters (rows ``c0``), so
    groups run in parallel."""
    acc, mech, cpn = part[c0], part_mech[c0], part_cpn[c0]
    disc, cost = scratch[c0, 0], scratch[c0, 1]
    fn_left = fn_view[c0]
    for c in range(c0, c1):
        for k in range(pend_count[c]):
            b = busy_row[c, k]
            if b < ROW_LOST:
                continue
            if k + 4 < pend_count[c]:
                prefetch_shopper(St, Pd.who[c, k + 4])
            i = int(Pd.who[c, k])
            s = int(St.u8[i, U_SEG])
            r = int(St.u8[i, U_REGION])
            mask = fn_open[c, k]
            for n in range(fn_left.shape[0]):
                fn_left[n] = (mask >> np.uint64(n)) & np.uint64(1)
            flash_outcome(
                P, St, Pd, i, s, r, float(Pd.t[c, k]), e, int(Pd.idx[c, k]), b == ROW_WON,
                keys, dyn, fn_left, promise, acc, mech, cpn, disc, cost,
            )  # fmt: skip


@hot
def forfeit_kernel(P, St, chunk, part, c0, c1):
    """At the tail deadline: every unpaid deposit is forfeited."""
    N = St.u8.shape[0]
    for c in range(c0, c1):
        acc = part[c]
        acc[:] = 0
        for i in range(c * chunk, min(N, (c + 1) * chunk)):
            if St.f4[i, Q_DEPOSIT] > 0.0:
                s = St.u8[i, U_SEG]
                r = St.u8[i, U_REGION]
                acc[s, r, V_FORFEITS] += 1
                acc[s, r, V_FORFEIT_MONEY] += cents(P.sc[SC_PRE_DEPOSIT])
                St.f4[i, Q_DEPOSIT] = 0.0


@hot
def flush_messages(P, St, keys, chunk, part_msg, c0, c1):
    """At the end: deliver the messages not yet delivered (to shoppers with no later visit)."""
    N = St.u8.shape[0]
    for c in range(c0, c1):
        for i in range(c * chunk, min(N, (c + 1) * chunk)):
            if St.u8[i, U_NEXT_MSG] < P.ms.shape[1]:
                apply_messages(P, St, i, np.inf, R.shopper_key(keys[INIT], i), part_msg[c])


@njit(cache=True, nogil=True)
def fold(part, rows, out, e):
    """Add the rows ``rows`` of the partial counts ``part`` (chunk, values) into
    ``out[e]`` and zero them. Integer counts and cents: the order of the sum does not
    matter."""
    dst = out[e]
    for r in rows:
        src = part[r]
        for k in range(src.shape[0]):
            dst[k] += src[k]
            src[k] = 0


@njit(cache=True, nogil=True)
def split_left(rows, left_cp, left_fl, left_fn, copy_cp, copy_fl, copy_fn):
    """Give every group of chunks (the rows ``rows`` of the copies) its own copy of the
    coupons, flash units and first-N places left, for the settlement's parallel pass."""
    for r in rows:
        copy_cp[r, :] = left_cp
        copy_fl[r, :] = left_fl
        copy_fn[r, :] = left_fn


@njit(cache=True, nogil=True)
def join_left(
    rows, left_cp, left_fl, left_fn, copy_cp, copy_fl, copy_fn, fl_part, fn_part,
    flash_stats, first_n_stats,
):  # fmt: skip
    """After the parallel pass: take from what is left what the groups took (their
    copies started equal to it), add their flash attempts, wins and losses and their
    first-N wins into the totals and zero their rows."""
    for left, copy in ((left_cp, copy_cp), (left_fl, copy_fl), (left_fn, copy_fn)):
        took = np.zeros(left.shape[0], np.int64)
        for r in rows:
            for k in range(left.shape[0]):
                took[k] += left[k] - copy[r, k]
        for k in range(left.shape[0]):
            left[k] -= took[k]
    for r in rows:
        for f in range(flash_stats.shape[0]):
            for q in (0, 1, 3):  # attempts, wins, losses (2, the sell-out time, is not theirs)
                flash_stats[f, q] += fl_part[r, f, q]
            fl_part[r, f, :] = 0.0
        for n in range(first_n_stats.shape[0]):
            first_n_stats[n, 0] += fn_part[r, n, 0]
            fn_part[r, n, :] = 0.0
