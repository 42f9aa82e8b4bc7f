"""Flat tables for the shopper kernels: a Plan flattened into one NamedTuple numba can take.

Also the layout of the counters the kernels book into (``V_*``), the order the
mechanisms are applied in (``MECH_*``, the same as :data:`sim.plan.MECHANISMS`)
and the behavioural constants with their defaults.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from sim.plan import MECHANISMS, MINUTES, Plan
from sim.scenario.models import Behaviour

# ---------------------------------------------------------------------------
# counters per (hour, segment, region): integer counts, money in cents
# ---------------------------------------------------------------------------
COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("sessions", "1", "Sessions (accepted visits)"),
    ("visitors", "1", "Shoppers with at least one session in the hour"),
    ("first_visits", "1", "Shoppers visiting for the first time in the campaign"),
    ("cart_adds", "1", "Baskets put in the cart"),
    ("checkouts", "1", "Purchase decisions taken (logit accepted)"),
    ("deferrals", "1", "Shoppers who kept the cart to wait for a deeper discount"),
    ("abandoned_checkout", "1", "Carts left at checkout (logit refused)"),
    ("abandoned_payment", "1", "Checkouts not paid"),
    ("recalls_sent", "1", "Cart-recall messages sent"),
    ("recall_orders", "1", "Orders completed after a recall message"),
    ("orders", "1", "Paid orders (regular, flash, presale tails)"),
    ("units", "1", "Units in paid orders"),
    ("new_shoppers", "1", "New shoppers' first purchases"),
    ("repeat_buyers", "1", "Shoppers making their second purchase of the campaign"),
    ("paddings", "1", "Baskets padded to reach a threshold tier"),
    ("deposits", "1", "Presale deposits paid"),
    ("tails_paid", "1", "Presale tails paid"),
    ("forfeits", "1", "Presale deposits forfeited (tail unpaid at the deadline)"),
    ("flash_attempts", "1", "Flash-slot attempts"),
    ("flash_wins", "1", "Flash-slot wins (orders)"),
    ("envelope_tasks", "1", "Red-envelope tasks done"),
    ("fissions", "1", "Social-fission invitations completed"),
    ("fission_new", "1", "New shoppers brought by social fission (not simulated further)"),
    ("returns", "1", "Orders of this hour that will be returned"),
    ("coupon_claims", "1", "Coupons claimed (granted)"),
    ("coupon_uses", "1", "Coupons used"),
    ("first_n_wins", "1", "Orders that won a first-N privilege"),
    ("gmv", "cents", "Gross merchandise value: list value of paid orders"),
    ("paid", "cents", "Amount paid by shoppers, after every price discount"),
    ("cogs", "cents", "Cost of goods of paid orders"),
    ("deposit_money", "cents", "Presale deposits collected"),
    ("forfeit_money", "cents", "Presale deposits forfeited (kept without goods)"),
    ("return_money", "cents", "Amount refunded for orders of this hour that will be returned"),
    ("return_cogs", "cents", "Cost of goods of orders of this hour that will be returned"),
)
COUNTER_NAMES = tuple(c[0] for c in COUNTERS)
NV = len(COUNTERS)
MONEY = frozenset(name for name, unit, _ in COUNTERS if unit == "cents")
"""Counters kept in integer cents (reported in currency units)."""
(
    V_SESSIONS, V_VISITORS, V_FIRST, V_CART, V_CHECKOUT, V_DEFER, V_ABANDON_CHECKOUT,
    V_ABANDON_PAY, V_RECALL_SENT, V_RECALL_ORDERS, V_ORDERS, V_UNITS, V_NEW, V_REPEAT,
    V_PADDING, V_DEPOSITS, V_TAILS, V_FORFEITS, V_FLASH_ATTEMPTS, V_FLASH_WINS, V_TASKS,
    V_FISSIONS, V_FISSION_NEW, V_RETURNS, V_CLAIMS, V_USES, V_FN_WINS, V_GMV, V_PAID, V_COGS,
    V_DEPOSIT_MONEY, V_FORFEIT_MONEY, V_RETURN_MONEY, V_RETURN_COGS,
) = range(NV)  # fmt: skip

NM = len(MECHANISMS)
(
    M_PRICE_CUT, M_QUANTITY, M_THRESHOLD, M_COUPON, M_MEMBER, M_ENVELOPE, M_PRESALE, M_FLASH,
    M_FIRST_N, M_GIFT, M_BUNDLE, M_POINTS, M_LOTTERY, M_INSTALMENTS, M_RUSH,
) = range(NM)  # fmt: skip
PRICE_MECHANISMS = (
    M_PRICE_CUT, M_QUANTITY, M_THRESHOLD, M_COUPON, M_MEMBER, M_ENVELOPE, M_PRESALE, M_FLASH,
    M_FIRST_N, M_BUNDLE,
)  # fmt: skip
"""Mechanisms that lower the price paid; the others (gift, points, lottery, instalments,
rush gift) are costs the platform pays on top."""

# pending contested action of a shopper in the current epoch (pend_kind)
PEND_NONE, PEND_CLAIM, PEND_FLASH, PEND_FIRST_N = 0, 1, 2, 3

# shopper flags
F_MEMBER, F_DORMANT, F_CONVERTED, F_VISITED = 1, 2, 4, 8

# counter slots of one session's decisions (DECIDE / RECALL / SETTLE streams)
SLOTS = 64
(
    D_CART,
    D_BUY,
    D_PAY,
    D_BASKET,
    D_BASKET2,
    D_CATEGORY,
    D_UNITS,
    D_PAD,
    D_DEFER,
    D_TASK,
    D_FLASH,
    D_PRESALE,
    D_TAIL,
    D_RECALL,
    D_RETURN,
    D_BUNDLE,
    D_INSTALMENT,
    D_LOTTERY,
    D_FISSION,
    D_FISSION_NEW,
    D_CONSOLATION,
) = range(21)
D_CLAIM = 24  # D_CLAIM + k for coupon k (k < 32)
INIT_SEGMENT, INIT_REGION, INIT_ACTIVITY, INIT_MEMBER, INIT_DORMANT = 0, 1, 2, 4, 5
INIT_CHANNEL = 1000  # + channel
INIT_MESSAGE = 2000  # + 2 * message (seen), + 2 * message + 1 (woken)

GUIDE = 2048
"""Entries of the guide table (over hours) used to invert the cumulative visit intensity."""

BEHAVIOUR_DEFAULTS: dict[str, float] = Behaviour().model_dump()
"""Defaults of the behavioural weights (``[behaviour]`` in a scenario; docs/model.md)."""


SC_FIELDS = (
    "peak_start",
    "peak_end",
    "pc_rate",
    "th_per_multiple",
    "th_share",
    "th_stacks",
    "mb_rate",
    "mb_max_off",
    "mb_utility",
    "env_initial",
    "env_growth",
    "env_task_prob",
    "env_max",
    "env_min_spend",
    "pre_on",
    "pre_deposit",
    "pre_value",
    "pre_dep_start",
    "pre_dep_end",
    "pre_tail_start",
    "pre_tail_end",
    "pre_rush_start",
    "pre_uptake",
    "pre_item_price",
    "pre_tail_pay",
    "pre_rush_gift",
    "pre_reminder_lift",
    "pre_rush_lift",
    "pt_rate",
    "pt_mult",
    "pt_lottery_prob",
    "pt_lottery_prize",
    "pt_utility",
    "in_min",
    "in_fee",
    "in_take_up",
    "in_utility",
    "scarcity_urgency",
    "recall_rate",
    "recall_delay",
    "fi_participation",
    "fi_coupon",
    "fi_new_rate",
    "k_depth",
    "k_price",
    "k_coupon",
    "k_sated",
    "sated_hours",
    "k_promise",
    "fatigue_hours",
    "k_return_depth",
    "k_impulse",
    "consolation",
    "defer_margin",
    "flash_urgency",
)
"""Rows of ``KPlan.sc`` (scalars)."""
(
    SC_PEAK_START,
    SC_PEAK_END,
    SC_PC_RATE,
    SC_TH_PER_MULTIPLE,
    SC_TH_SHARE,
    SC_TH_STACKS,
    SC_MB_RATE,
    SC_MB_MAX_OFF,
    SC_MB_UTILITY,
    SC_ENV_INITIAL,
    SC_ENV_GROWTH,
    SC_ENV_TASK_PROB,
    SC_ENV_MAX,
    SC_ENV_MIN_SPEND,
    SC_PRE_ON,
    SC_PRE_DEPOSIT,
    SC_PRE_VALUE,
    SC_PRE_DEP_START,
    SC_PRE_DEP_END,
    SC_PRE_TAIL_START,
    SC_PRE_TAIL_END,
    SC_PRE_RUSH_START,
    SC_PRE_UPTAKE,
    SC_PRE_ITEM_PRICE,
    SC_PRE_TAIL_PAY,
    SC_PRE_RUSH_GIFT,
    SC_PRE_REMINDER_LIFT,
    SC_PRE_RUSH_LIFT,
    SC_PT_RATE,
    SC_PT_MULT,
    SC_PT_LOTTERY_PROB,
    SC_PT_LOTTERY_PRIZE,
    SC_PT_UTILITY,
    SC_IN_MIN,
    SC_IN_FEE,
    SC_IN_TAKE_UP,
    SC_IN_UTILITY,
    SC_SCARCITY_URGENCY,
    SC_RECALL_RATE,
    SC_RECALL_DELAY,
    SC_FI_PARTICIPATION,
    SC_FI_COUPON,
    SC_FI_NEW_RATE,
    SC_K_DEPTH,
    SC_K_PRICE,
    SC_K_COUPON,
    SC_K_SATED,
    SC_SATED_HOURS,
    SC_K_PROMISE,
    SC_FATIGUE_HOURS,
    SC_K_RETURN_DEPTH,
    SC_K_IMPULSE,
    SC_CONSOLATION,
    SC_DEFER_MARGIN,
    SC_FLASH_URGENCY,
) = range(55)

HR_FIELDS = (
    "is_peak",
    "pc_active",
    "q_active",
    "th_active",
    "mb_active",
    "env_task",
    "env_spend",
    "env_peak",
    "pt_active",
    "in_active",
    "countdown",
    "fi_active",
    "depth",
    "depth_ahead",
    "cat_profile",
    "fatigue_decay",
)
"""Rows of ``KPlan.hr`` (hourly; ``fatigue_decay[g]`` is indexed by the whole hours g since
the last session: ``math.exp(-g / fatigue_hours)``, the value the kernel would compute)."""
(
    HR_IS_PEAK,
    HR_PC_ACTIVE,
    HR_Q_ACTIVE,
    HR_TH_ACTIVE,
    HR_MB_ACTIVE,
    HR_ENV_TASK,
    HR_ENV_SPEND,
    HR_ENV_PEAK,
    HR_PT_ACTIVE,
    HR_IN_ACTIVE,
    HR_COUNTDOWN,
    HR_FI_ACTIVE,
    HR_DEPTH,
    HR_DEPTH_AHEAD,
    HR_CAT_PROFILE,
    HR_FATIGUE_DECAY,
) = range(16)

SG_FIELDS = (
    "visit_rate",
    "activity_sigma",
    "price_sens",
    "urgency_resp",
    "coupon_aff",
    "flash_aff",
    "member_rate",
    "is_new",
    "basket_median",
    "basket_sigma",
    "units_mean",
    "p_cart",
    "checkout_logit",
    "p_pay",
    "pad_prop",
    "pad_reach",
    "defer_prop",
    "return_prop",
    "dormant_share",
    "dormant_activity",
    "fatigue_step",
    "repeat_purchase",
    "cum_total",
    "guide_scale",
)
"""Rows of ``KPlan.sg`` (per segment)."""
(
    SG_VISIT_RATE,
    SG_ACTIVITY_SIGMA,
    SG_PRICE_SENS,
    SG_URGENCY_RESP,
    SG_COUPON_AFF,
    SG_FLASH_AFF,
    SG_MEMBER_RATE,
    SG_IS_NEW,
    SG_BASKET_MEDIAN,
    SG_BASKET_SIGMA,
    SG_UNITS_MEAN,
    SG_P_CART,
    SG_CHECKOUT_LOGIT,
    SG_P_PAY,
    SG_PAD_PROP,
    SG_PAD_REACH,
    SG_DEFER_PROP,
    SG_RETURN_PROP,
    SG_DORMANT_SHARE,
    SG_DORMANT_ACTIVITY,
    SG_FATIGUE_STEP,
    SG_REPEAT_PURCHASE,
    SG_CUM_TOTAL,
    SG_GUIDE_SCALE,
) = range(24)

CT_FIELDS = ("cogs", "price_index", "return_mult", "pc_cats", "q_cats", "th_cats", "pre_cats")
"""Rows of ``KPlan.ct`` (per category)."""
(
    CT_COGS,
    CT_PRICE_INDEX,
    CT_RETURN_MULT,
    CT_PC_CATS,
    CT_Q_CATS,
    CT_TH_CATS,
    CT_PRE_CATS,
) = range(7)

CP_FIELDS = (
    "cp_face",
    "cp_min",
    "cp_claim_start",
    "cp_claim_end",
    "cp_use_start",
    "cp_use_end",
    "cp_per_shopper",
    "cp_stacks",
    "cp_claimable",
    "cp_new_only",
    "cp_limited",
    "cp_category",
)
"""Rows of ``KPlan.cp`` (per coupon)."""
(
    CP_FACE,
    CP_MIN,
    CP_CLAIM_START,
    CP_CLAIM_END,
    CP_USE_START,
    CP_USE_END,
    CP_PER_SHOPPER,
    CP_STACKS,
    CP_CLAIMABLE,
    CP_NEW_ONLY,
    CP_LIMITED,
    CP_CATEGORY,
) = range(12)

FL_FIELDS = (
    "fl_open",
    "fl_close",
    "fl_series",
    "fl_price",
    "fl_list",
    "fl_limit",
    "fl_cat",
    "fl_utility",
)
"""Rows of ``KPlan.fl`` (per flash slot)."""
(
    FL_OPEN,
    FL_CLOSE,
    FL_SERIES,
    FL_PRICE,
    FL_LIST,
    FL_LIMIT,
    FL_CAT,
    FL_UTILITY,
) = range(8)

FN_FIELDS = ("fn_start", "fn_end", "fn_disc", "fn_max_off", "fn_utility")
"""Rows of ``KPlan.fn`` (per first-N privilege)."""
(
    FN_START,
    FN_END,
    FN_DISC,
    FN_MAX_OFF,
    FN_UTILITY,
) = range(5)

MS_FIELDS = (
    "ms_send",
    "ms_reach",
    "ms_wake",
    "ms_lift",
    "ms_lift_end",
    "ms_coupon",
    "ms_dormant_only",
)
"""Rows of ``KPlan.ms`` (per message)."""
(
    MS_SEND,
    MS_REACH,
    MS_WAKE,
    MS_LIFT,
    MS_LIFT_END,
    MS_COUPON,
    MS_DORMANT_ONLY,
) = range(7)

CH_FIELDS = ("ch_reach", "ch_lift")
"""Rows of ``KPlan.ch`` (per channel)."""
(
    CH_REACH,
    CH_LIFT,
) = range(2)

GF_FIELDS = ("gf_kind", "gf_min", "gf_value", "gf_utility", "gf_take_up")
"""Rows of ``KPlan.gf`` (per gift)."""
(
    GF_KIND,
    GF_MIN,
    GF_VALUE,
    GF_UTILITY,
    GF_TAKE_UP,
) = range(5)

QT_FIELDS = ("q_units", "q_disc")
"""Rows of ``KPlan.qt`` (per quantity tier)."""
(
    QT_UNITS,
    QT_DISC,
) = range(2)

TH_FIELDS = ("th_spend", "th_off")
"""Rows of ``KPlan.th`` (per threshold tier)."""
(
    TH_SPEND,
    TH_OFF,
) = range(2)


class KPlan(NamedTuple):
    """Everything the kernels read about the plan, packed into a few read-only arrays.

    Groups of same-length parameters are rows of one float64 array (``sc`` scalars,
    ``hr`` hourly, ``sg`` per segment, ``ct`` per category, ``cp`` per coupon …), indexed
    by the ``SC_*``, ``HR_*`` … constants above; flags are stored as 0.0 / 1.0. A
    tuple of ~30 arrays keeps numba's compile time short (a tuple of 160 fields took
    minutes to compile).
    """

    sc: np.ndarray
    hr: np.ndarray
    sg: np.ndarray
    ct: np.ndarray
    cp: np.ndarray
    fl: np.ndarray
    fn: np.ndarray
    ms: np.ndarray
    ch: np.ndarray
    gf: np.ndarray
    qt: np.ndarray
    th: np.ndarray
    cum: np.ndarray  # float64 [S, H*60+1] cumulative majorant visits per unit activity
    hcum: np.ndarray  # float64 [S, H+1] the same at the hour marks (stays in the cache)
    guide: np.ndarray  # int32 [S, GUIDE+1] hour brackets for the inversion
    flat: np.ndarray  # bool [H] the hour's minutes all have the same intensity
    max_lift: np.ndarray  # float64 [S, H] the segment part of the visit majorant
    class_lift: np.ndarray  # float64 [Q*S*2, J] the class part: row (q * S + s) * 2 + d
    class_cum: np.ndarray  # float64 [Q*S*2, J+1] class cumulative at the regime starts
    regime_of: np.ndarray  # int64 [H]
    regime_start: np.ndarray  # int64 [J+1]
    minute_spike: np.ndarray  # bool [H*60]
    seg_cdf: np.ndarray
    reg_cdf: np.ndarray
    cat_prob: np.ndarray  # float64 [profiles, C] alias probabilities
    cat_alias: np.ndarray  # int64 [profiles, C]
    cp_cats: np.ndarray  # bool [K, C]
    cp_segs: np.ndarray  # bool [K, S]
    fl_ptr: np.ndarray  # int64 [H+1]
    fn_cats: np.ndarray  # bool [N, C]
    ms_segs: np.ndarray  # bool [M, S]
    ch_active: np.ndarray  # bool [Ch, H]
    ch_segs: np.ndarray  # bool [Ch, S]
    gf_active: np.ndarray  # bool [G, H]
    gf_cats: np.ndarray  # bool [G, C]

    @property
    def H(self) -> int:
        return int(self.hr.shape[1])


_GROUPS = {
    "hr": HR_FIELDS, "sg": SG_FIELDS, "ct": CT_FIELDS, "cp": CP_FIELDS, "fl": FL_FIELDS,
    "fn": FN_FIELDS, "ms": MS_FIELDS, "ch": CH_FIELDS, "gf": GF_FIELDS, "qt": QT_FIELDS,
    "th": TH_FIELDS,
}  # fmt: skip
_ARRAYS = tuple(f for f in KPlan._fields if f not in _GROUPS and f != "sc")


def _pack(fields: dict[str, object], names: tuple[str, ...]) -> np.ndarray:
    rows = [np.asarray(fields[n], dtype=np.float64).reshape(-1) for n in names]
    width = rows[0].shape[0]
    out = np.zeros((len(names), width))
    for k, row in enumerate(rows):
        out[k] = row
    return out


def _guide(hcum: np.ndarray) -> np.ndarray:
    """guide[s, g]: the last hour h with hcum[s, h] <= g / GUIDE * total (search bracket)."""
    S = hcum.shape[0]
    out = np.zeros((S, GUIDE + 1), dtype=np.int32)
    for s in range(S):
        total = hcum[s, -1]
        if total <= 0:
            continue
        targets = np.arange(GUIDE + 1) * (total / GUIDE)
        idx = np.searchsorted(hcum[s], targets, side="right") - 1
        out[s] = np.clip(idx, 0, hcum.shape[1] - 2)
    return out


def kplan(plan: Plan, behaviour: dict[str, float] | None = None) -> KPlan:
    """Flatten a Plan for the kernels."""
    b = {**plan.scenario.behaviour.model_dump(), **(behaviour or {})}
    cal, seg, par = plan.calendar, plan.segments, plan.segments.params
    d, c, fl, fn, ms, ch, ex = (
        plan.discounts, plan.coupons, plan.flash, plan.first_n, plan.messages,
        plan.channels, plan.extras,
    )  # fmt: skip
    pre = ex.presale
    f64 = np.float64

    def a(x: np.ndarray, dtype: type = f64) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=dtype)

    S, C, H = len(seg.names), len(plan.categories.names), cal.hours
    minutes = cal.minute_intensity.reshape(H, MINUTES)
    checkout = np.clip(par["funnel_checkout"], 1e-9, 1 - 1e-9)
    order = np.argsort(ms.send, kind="stable")
    coupon_kinds = [k.kind for k in plan.scenario.promotions.coupons]
    fields: dict[str, object] = dict(
        H=cal.hours,
        peak_start=float(cal.peak_start),
        peak_end=float(cal.peak_end),
        is_peak=a(cal.phase == cal.peak_phase, np.bool_),
        cum=a(seg.visit_cum),
        hcum=a(seg.visit_cum[:, ::MINUTES]),
        guide=_guide(seg.visit_cum[:, ::MINUTES]),
        flat=a(np.all(minutes == minutes[:, :1], axis=1), np.bool_),
        max_lift=a(seg.max_lift),
        class_lift=a(seg.class_lift.reshape(-1, seg.class_lift.shape[-1])),
        class_cum=a(seg.class_cum.reshape(-1, seg.class_cum.shape[-1])),
        regime_of=a(seg.regime_of, np.int64),
        regime_start=a(seg.regime_start, np.int64),
        minute_spike=a(cal.minute_spike, np.bool_),
        seg_cdf=a(np.cumsum(seg.share)),
        reg_cdf=a(np.cumsum(seg.region_share)),
        visit_rate=a(par["visit_rate"]),
        activity_sigma=a(par["activity_dispersion"]),
        price_sens=a(par["price_sensitivity"]),
        urgency_resp=a(par["urgency_response"]),
        coupon_aff=a(par["coupon_affinity"]),
        flash_aff=a(par["flash_affinity"]),
        member_rate=a(par["membership_rate"]),
        is_new=a(par["new_shoppers"] > 0, np.bool_),
        basket_median=a(par["basket_median"]),
        basket_sigma=a(par["basket_sigma"]),
        units_mean=a(par["basket_units_mean"]),
        p_cart=a(par["funnel_cart"]),
        checkout_logit=a(np.log(checkout / (1 - checkout))),
        p_pay=a(par["funnel_pay"]),
        pad_prop=a(par["padding_propensity"]),
        pad_reach=a(par["padding_reach"]),
        defer_prop=a(par["deferral_propensity"]),
        return_prop=a(par["return_propensity"]),
        dormant_share=a(par["dormant_share"]),
        dormant_activity=a(par["dormant_activity"]),
        fatigue_step=a(par["fatigue_per_session"]),
        repeat_purchase=a(par["repeat_purchase"]),
        cat_profile=a(cal.category_profile, np.int64),
        cat_prob=a(cal.category_alias_prob),
        cat_alias=a(cal.category_alias, np.int64),
        cogs=a(plan.categories.cost_of_goods),
        price_index=a(plan.categories.price_index),
        return_mult=a(plan.categories.return_multiplier),
        pc_active=a(d.price_cut_active, np.bool_),
        pc_rate=float(d.price_cut_rate),
        pc_cats=a(d.price_cut_cats, np.bool_),
        q_active=a(d.quantity_active, np.bool_),
        q_units=a(d.quantity_units, np.int64),
        q_disc=a(d.quantity_discount),
        q_cats=a(d.quantity_cats, np.bool_),
        th_active=a(d.threshold_active, np.bool_),
        th_spend=a(d.threshold_spend),
        th_off=a(d.threshold_off),
        th_per_multiple=bool(d.threshold_per_multiple),
        th_share=float(b["store_scope_share"]) if d.threshold_store_scope else 1.0,
        th_cats=a(d.threshold_cats, np.bool_),
        th_stacks=bool(d.threshold_stacks),
        mb_active=a(d.member_active, np.bool_),
        mb_rate=float(d.member_rate),
        mb_max_off=float(d.member_max_off),
        mb_utility=float(d.member_utility),
        cp_face=a(c.face),
        cp_min=a(c.min_spend),
        cp_claim_start=a(c.claim_start),
        cp_claim_end=a(c.claim_end),
        cp_use_start=a(c.use_start),
        cp_use_end=a(c.use_end),
        cp_per_shopper=a(c.per_shopper, np.int64),
        cp_cats=a(c.cats, np.bool_).reshape(len(c.names), C),
        cp_segs=a(c.segments, np.bool_).reshape(len(c.names), S),
        cp_stacks=a(c.stacks, np.bool_),
        cp_claimable=a(c.claimable, np.bool_),
        cp_new_only=a(c.new_only, np.bool_),
        cp_limited=a(c.stock >= 0, np.bool_),
        cp_category=a(np.array([k == "category" for k in coupon_kinds], dtype=bool), np.bool_),
        fl_open=a(fl.open),
        fl_close=a(fl.close),
        fl_series=a(fl.series, np.int64),
        fl_price=a(fl.price),
        fl_list=a(fl.list_price),
        fl_limit=a(fl.limit, np.int64),
        fl_cat=a(fl.category, np.int64),
        fl_utility=a(fl.utility),
        fl_ptr=a(fl.slot_ptr, np.int64),
        fn_start=a(fn.start),
        fn_end=a(fn.end),
        fn_disc=a(fn.discount),
        fn_max_off=a(fn.max_off),
        fn_utility=a(fn.utility),
        fn_cats=a(fn.cats, np.bool_).reshape(len(fn.names), C),
        ms_send=a(ms.send[order]),
        ms_reach=a(ms.reach[order]),
        ms_wake=a(ms.wake[order]),
        ms_lift=a(ms.lift[order]),
        ms_lift_end=a(ms.lift_end[order]),
        ms_coupon=a(ms.coupon[order], np.int64),
        ms_segs=a(ms.segments[order], np.bool_).reshape(len(order), S),
        ms_dormant_only=a(ms.dormant_only[order], np.bool_),
        ch_reach=a(ch.reach),
        ch_lift=a(ch.lift),
        ch_active=a(ch.active, np.bool_).reshape(len(ch.names), H),
        ch_segs=a(ch.segments, np.bool_).reshape(len(ch.names), S),
        env_task=a(ex.envelope_task, np.bool_),
        env_spend=a(ex.envelope_spend, np.bool_),
        env_peak=a(ex.envelope_peak),
        env_initial=float(ex.envelope["initial"]),
        env_growth=float(ex.envelope["growth_per_task"]),
        env_task_prob=float(ex.envelope["task_probability"]),
        env_max=float(ex.envelope["max_balance"]),
        env_min_spend=float(ex.envelope["min_spend"]),
        pre_on=bool(ex.presale_enabled),
        pre_deposit=float(pre.get("deposit", 0.0)),
        pre_value=float(pre.get("deposit_value", 0.0)),
        pre_dep_start=float(pre.get("deposit_start", 0.0)),
        pre_dep_end=float(pre.get("deposit_end", 0.0)),
        pre_tail_start=float(pre.get("tail_start", 0.0)),
        pre_tail_end=float(pre.get("tail_end", 0.0)),
        pre_rush_start=float(pre.get("rush_start", 0.0)),
        pre_uptake=float(pre.get("uptake", 0.0)),
        pre_item_price=float(pre.get("item_price", 0.0)),
        pre_tail_pay=float(pre.get("tail_pay_probability", 0.0)),
        pre_rush_gift=float(pre.get("rush_gift", 0.0)),
        pre_reminder_lift=float(max(pre.get("reminder_lift", 1.0), 1.0)),
        pre_rush_lift=float(max(pre.get("rush_lift", 1.0), 1.0)),
        pre_cats=a(ex.presale_cats, np.bool_),
        gf_active=a(ex.gift_active, np.bool_).reshape(len(ex.gift_kind), H),
        gf_kind=a(ex.gift_kind, np.int64),
        gf_min=a(ex.gift_min_spend),
        gf_value=a(ex.gift_value),
        gf_utility=a(ex.gift_utility),
        gf_take_up=a(ex.gift_take_up),
        gf_cats=a(ex.gift_cats, np.bool_).reshape(len(ex.gift_kind), C),
        pt_active=a(ex.points_active, np.bool_),
        pt_rate=float(ex.points["rate"]),
        pt_mult=float(ex.points["multiplier"]),
        pt_lottery_prob=float(ex.points["lottery_prob"]),
        pt_lottery_prize=float(ex.points["lottery_prize"]),
        pt_utility=float(ex.points["utility"]),
        in_active=a(ex.instalments_active, np.bool_),
        in_min=float(ex.instalments["min_spend"]),
        in_fee=float(ex.instalments["fee_rate"]),
        in_take_up=float(ex.instalments["take_up"]),
        in_utility=float(ex.instalments["utility"]),
        countdown=a(cal.countdown_urgency),
        scarcity_urgency=float(ex.scarcity["urgency"]),
        recall_rate=float(ex.cart_recall["recall_rate"]),
        recall_delay=float(ex.cart_recall["delay_hours"]),
        fi_active=a(ex.fission_active, np.bool_),
        fi_participation=float(ex.fission["participation"]),
        fi_coupon=int(ex.fission["coupon"]),
        fi_new_rate=float(ex.fission["new_shopper_rate"]),
        depth=a(plan.depth),
        depth_ahead=a(plan.depth_ahead),
        k_depth=float(b["depth_weight"]),
        k_price=float(b["price_weight"]),
        k_coupon=float(b["coupon_weight"]),
        k_sated=float(b["satiation_weight"]),
        sated_hours=float(b["satiation_hours"]),
        k_promise=float(b["promise_weight"]),
        fatigue_hours=float(b["fatigue_hours"]),
        fatigue_decay=np.array([math.exp(-float(g) / float(b["fatigue_hours"])) for g in range(H)]),
        k_return_depth=float(b["return_depth_weight"]),
        k_impulse=float(b["impulse_return_weight"]),
        consolation=float(b["consolation"]),
        defer_margin=float(b["deferral_margin"]),
        flash_urgency=float(b["flash_urgency"]),
    )
    fields["cum_total"] = total = seg.visit_cum[:, -1]
    # GUIDE / total: the guide-table bracket of lam is int(lam * guide_scale), a product
    # instead of a division (the bracket is widened where rounding puts lam outside it,
    # so the hour found does not depend on the rounding)
    with np.errstate(over="ignore"):
        scale = np.divide(GUIDE, total, out=np.zeros_like(total), where=total > 0)
    fields["guide_scale"] = np.where(np.isfinite(scale), scale, 0.0)  # 0: widened from 0
    packed: dict[str, np.ndarray] = {g: _pack(fields, names) for g, names in _GROUPS.items()}
    packed["sc"] = np.array([float(fields[n]) for n in SC_FIELDS])  # type: ignore[arg-type]
    for name in _ARRAYS:
        packed[name] = np.ascontiguousarray(fields[name])
    for arr in packed.values():
        arr.setflags(write=False)
    return KPlan(**packed)
