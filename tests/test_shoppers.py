"""The shopper model: determinism, visits against theory, and the effect of every mechanic.

Effects are compared between two runs with the same seed (common random numbers),
so a difference comes from the plan change, not from noise.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math

import numpy as np
import pytest

from sim import compile_plan, load_scenario
from sim.plan import MECHANISMS
from sim.shoppers import ShopperModel
from sim.shoppers import kernels as K
from sim.shoppers.tables import (
    COUNTER_NAMES,
    M_FIRST_N,
    M_PRESALE,
    PEND_FLASH,
    PRICE_MECHANISMS,
    V_FORFEITS,
    V_GMV,
    V_PAID,
)

SMOKE = "scenarios/smoke.toml"
N = 20_000


_PLANS: dict[str, object] = {}
_RUNS: dict[str, dict] = {}


def plan_of(overrides: tuple = ()) -> object:
    key = repr(overrides)
    if key not in _PLANS:
        _PLANS[key] = compile_plan(load_scenario(SMOKE, dict(overrides)))
    return _PLANS[key]


def run(overrides: tuple = (), shoppers: int = N, behaviour: tuple = ()) -> dict:
    """One replicate of the smoke plan with overrides (memoised: tests share runs)."""
    key = repr((overrides, shoppers, behaviour))
    if key not in _RUNS:
        m = ShopperModel(plan_of(overrides), shoppers=shoppers, behaviour=dict(behaviour))
        out = m.run()
        out["_model"] = m
        _RUNS[key] = out
    return _RUNS[key]


def total(out: dict, name: str) -> float:
    return float(np.sum(out[name]))


def subsidy(out: dict, mechanism: str) -> float:
    return float(out["subsidy"][..., MECHANISMS.index(mechanism)].sum())


# ---------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------


def _all_outputs(m: ShopperModel) -> dict:
    out = m.results()
    return {k: v for k, v in out.items() if isinstance(v, np.ndarray)}


def test_identical_for_any_thread_count_chunk_size_and_pending_width():
    plan = plan_of()
    a = _all_outputs(_run(plan, 1, 6000))
    b = _all_outputs(_run(plan, 2, 1000))
    c = _all_outputs(_run(plan, 2, 777))
    # room for one contested action per chunk: the pending table is widened (and the
    # chunks resumed) many times in the busy hours
    narrow = _run(plan, 2, 777, pending_width=1)
    assert narrow._pend.who.shape[1] >= 8
    d = _all_outputs(narrow)
    assert a.keys() == b.keys() == c.keys() == d.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        np.testing.assert_array_equal(a[k], c[k], err_msg=k)
        np.testing.assert_array_equal(a[k], d[k], err_msg=k)


def test_identical_with_many_groups_of_chunks(monkeypatch):
    """More groups of chunks than threads (the threads take them in turn), with a
    pending table widened many times: the same results as one thread."""
    from sim.shoppers import model as model_module

    plan = plan_of()
    a = _all_outputs(_run(plan, 1, 6000))
    monkeypatch.setattr(model_module, "GROUP_CHUNKS", 1)
    m = _run(plan, 2, 300, pending_width=1)  # 20 chunks
    assert len(m._groups) == 2 * model_module.MAX_GROUPS_PER_THREAD
    b = _all_outputs(m)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_settlement_sorts_the_same_with_numpy_or_numba(monkeypatch):
    """Few pending rows are sorted inside the settlement kernel, many with numpy: the
    same order, so the same results."""
    from sim.shoppers import model as model_module

    plan = plan_of()
    a = _all_outputs(_run(plan, 2, 1000))
    monkeypatch.setattr(model_module, "SORT_IN_NUMBA", -1)  # always numpy's sort
    b = _all_outputs(_run(plan, 2, 1000))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _run(plan, threads, chunk, pending_width=None, log_every=0):
    m = ShopperModel(
        plan,
        shoppers=6000,
        threads=threads,
        chunk=chunk,
        pending_width=pending_width,
        log_every=log_every,
    )
    m.run()
    return m


@pytest.mark.parametrize("numpy_sort", [False, True])
def test_kernel_argument_types_never_change(monkeypatch, numpy_sort):
    """The model calls its kernels' compiled entry points, which trust the argument
    types of the first call (sim.shoppers.calls): with the check on, every later call
    is typed again, through widened pending tables, the session log and both sort
    paths (the kernels called once a run, such as the forfeits, always go through the
    dispatcher); the results are those of a run without the check."""
    from sim.shoppers import model as model_module
    from sim.shoppers.calls import CHECK_ENV

    plan = plan_of()
    a = _all_outputs(_run(plan, 2, 777, log_every=97))
    if numpy_sort:
        monkeypatch.setattr(model_module, "SORT_IN_NUMBA", -1)
    monkeypatch.setenv(CHECK_ENV, "1")
    m = _run(plan, 2, 777, pending_width=1, log_every=97)
    assert m._calls.check and m._pend.who.shape[1] >= 8
    assert {k.__name__ for k in m._calls._entry} >= {
        "epoch_kernel", "settle_free", "settle_flash", "forfeit_kernel", "fold",
        "settle_collect" if numpy_sort else "settle_sorted",
    }  # fmt: skip
    b = _all_outputs(m)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_calls_check_catches_changed_argument_types():
    """An entry point misreads arguments of other types: the check refuses them, and a
    kernel with several compiled versions is resolved by its arguments' types."""
    from numba import njit

    from sim.shoppers.calls import Calls

    @njit
    def first(a, x):
        return a[0] + x

    calls = Calls(check=True)
    assert calls(first, np.array([2, 3]), 1) == 3
    assert calls(first, np.array([5]), 1) == 6
    with pytest.raises(TypeError, match="argument types changed"):
        calls(first, np.array([2.5]), 1)
    other = Calls()  # several versions now: resolved by the types, without the check
    assert other(first, np.array([2.5]), 1) == 3.5
    assert other(first, np.array([1.5]), 2) == 3.5
    assert Calls()(first, np.array([7]), 1) == 8


def test_state_is_one_record_per_shopper():
    """Every field but the scanned next-event epoch is a view into one record per
    shopper; the fields do not overlap, and writing one leaves the others alone."""
    from sim.shoppers.state import new_state, record_layout, state_bytes

    layout, size = record_layout(coupons=6, series=3)
    spans = sorted(layout.values())
    assert all(a + n <= b for (a, n), (b, _) in itertools.pairwise(spans))
    assert spans[-1][0] + spans[-1][1] <= size and size % 8 == 0
    st = new_state(10, 6, 3)
    assert state_bytes(st) == 10 * (size + 2)
    for name, a in st._asdict().items():
        if name != "ev":
            assert a.strides[0] == size, name
    assert np.isinf(st.next_t).all() and np.isinf(st.recall_t).all()
    assert (st.last_epoch == -1).all() and not st.u8.any() and not st.held.any()
    st.f4[3, :] = 1.5
    st.held[3, :] = 7
    st.flash_won[3, :] = 9
    st.cand[3] = 2**32 - 1
    assert np.isinf(st.next_t[3]) and st.last_epoch[3] == -1 and st.seen[3] == 0
    assert (st.u8[3] == 0).all() and (st.held[3] == 7).all() and st.cand[3] == 2**32 - 1
    assert (st.f4[[2, 4]] == 0).all() and (st.flash_won[3] == 9).all()


def test_replicates_differ_and_repeat():
    plan = plan_of()
    a = ShopperModel(plan, 0, shoppers=3000).run()
    b = ShopperModel(plan, 1, shoppers=3000).run()
    a2 = ShopperModel(plan, 0, shoppers=3000).run()
    assert total(a, "sessions") != total(b, "sessions")
    np.testing.assert_array_equal(a["paid"], a2["paid"])


# ---------------------------------------------------------------------------
# visits against theory
# ---------------------------------------------------------------------------

PLAIN = (
    ("marketing.channels", []),
    ("promotions.messages", []),
    ("promotions.presale.enabled", False),
    ("population.segments[dormant].dormant_share", 0.0),
)


def test_session_count_matches_the_poisson_intensity():
    """With no lifts, a shopper's sessions are Poisson with mean activity x segment integral."""
    plan = plan_of(PLAIN)
    m = ShopperModel(plan, shoppers=N)
    expected = float(
        np.sum(m.state.activity.astype(np.float64) * plan.segments.visit_cum[m.state.seg, -1])
    )
    out = m.run()
    observed = total(out, "sessions")
    assert abs(observed - expected) < 4 * math.sqrt(expected), (observed, expected)


def test_session_count_with_a_channel_lift_matches_theory():
    """A channel lifts reached shoppers' intensity by its lift while it is active."""
    over = (*PLAIN[1:], ("marketing.channels", [
        {"name": "tv", "spend": 100_000, "lift": 2.0,
         "response": {"max_reach": 0.5, "half_saturation": 100_000},
         "start": dt.datetime(2026, 11, 10), "end": dt.datetime(2026, 11, 11)},
    ]))  # fmt: skip
    plan = plan_of(over)
    m = ShopperModel(plan, shoppers=N)
    key_i = m.keys[0]
    from sim import rng

    reached = np.array(
        [
            rng.uniform(np.uint64(rng.shopper_key(key_i, i)), 1000) < plan.channels.reach[0]
            for i in range(m.n)
        ]
    )
    cum = plan.segments.visit_cum
    hours = plan.channels.active[0]
    minutes = np.repeat(hours, 60)
    per_minute = np.diff(cum, axis=1) / plan.segments.max_lift.repeat(60, axis=1)
    base = per_minute.sum(axis=1)  # unlifted integral per segment
    boost = (per_minute * minutes).sum(axis=1)  # integral while the channel is on
    seg = m.state.seg
    a = m.state.activity.astype(np.float64)
    expected = float(np.sum(a * (base[seg] + reached * boost[seg] * (2.0 - 1.0))))
    observed = total(m.run(), "sessions")
    assert abs(observed - expected) < 4 * math.sqrt(expected), (observed, expected)


def test_depositors_visit_more_in_the_tail_window_as_theory_says():
    """A deposit moves a shopper into the majorant class carrying the reminder lift: in
    the tail window its sessions are Poisson with the lifted intensity, everyone else's
    with the plain one (tail payments off, so deposits are held through the window)."""
    over = (
        *PLAIN[:2],
        PLAIN[3],
        ("promotions.presale.tail_pay_probability", 0.0),
        ("promotions.presale.rush_hours", 0.0),
        ("promotions.presale.reminder_lift", 3.0),
        ("promotions.presale.uptake", 1.0),
    )
    plan = plan_of(over)
    pre = plan.extras.presale
    t0, t1 = int(pre["tail_start"]), int(pre["tail_end"])
    m = ShopperModel(plan, shoppers=N, log_every=1)
    m.advance_to(t0)
    held = m.state.deposit > 0
    assert held.sum() > 300
    a = m.state.activity.astype(np.float64)
    seg = m.state.seg.astype(int)
    log = m.run()["session_log"]
    cum = plan.segments.visit_cum
    base = (cum[:, 60 * t1] - cum[:, 60 * t0]) / 1.0  # no segment lifts in this plan
    assert np.all(plan.segments.max_lift[:, t0:t1] == 1.0)
    in_window = (log["hour"] >= t0) & (log["hour"] < t1) & (log["kind"] == 0)
    per_shopper = np.bincount(log["shopper"][in_window], minlength=m.n)
    for group, lift in ((held, 3.0), (~held, 1.0)):
        expected = float(np.sum(a[group] * base[seg[group]])) * lift
        observed = float(per_shopper[group].sum())
        assert abs(observed - expected) < 4 * math.sqrt(expected), (lift, observed, expected)


def test_own_intensity_never_exceeds_the_majorant():
    plan = plan_of()
    m = ShopperModel(plan, shoppers=2000)
    for e in range(0, plan.calendar.hours, 7):
        for i in range(0, m.n, 13):
            s = int(m.state.seg[i])
            L = K.lift(m.P, m.state, i, s, e + 0.5, e, np.uint64(0))
            M = K.majorant(m.P, K.class_row(m.P, m.state, i, s), s, e)
            assert M * (1 + 1e-12) >= L
            assert m.P.max_lift[s].max() * m.P.class_lift.max() >= M


# ---------------------------------------------------------------------------
# accounting identities
# ---------------------------------------------------------------------------


def test_order_and_money_identities():
    out = run()
    m = out["_model"]
    c = {n: m.counters[..., k].sum() for k, n in enumerate(COUNTER_NAMES)}
    assert c["orders"] == (
        c["checkouts"] - c["abandoned_payment"] + c["flash_wins"] + c["tails_paid"]
    )
    price = m.mechanisms[..., list(PRICE_MECHANISMS)].sum()
    assert m.counters[..., V_PAID].sum() == m.counters[..., V_GMV].sum() - price
    assert c["tails_paid"] + c["forfeits"] == c["deposits"]
    assert c["visitors"] <= c["sessions"]
    assert c["first_visits"] == out["unique_visitors"]
    assert out["unique_buyers"] <= min(out["unique_visitors"], c["orders"])


# ---------------------------------------------------------------------------
# mechanics
# ---------------------------------------------------------------------------


def test_deeper_threshold_raises_conversion_and_subsidy():
    base = run()
    deep = run(
        (("promotions.threshold.tiers", [{"spend": 300, "off": 90}, {"spend": 500, "off": 180}]),)
    )
    assert total(deep, "orders") > total(base, "orders")
    assert total(deep, "checkouts") / total(deep, "cart_adds") > total(base, "checkouts") / total(
        base, "cart_adds"
    )
    assert subsidy(deep, "threshold") > 1.5 * subsidy(base, "threshold")


def test_deeper_coupon_raises_conversion_and_subsidy():
    base = run()
    deep = run((("promotions.coupons[cross_20].face_value", 80.0),))
    assert total(deep, "orders") > total(base, "orders")
    assert subsidy(deep, "coupon") > subsidy(base, "coupon")


def test_padding_lifts_baskets_to_the_tiers():
    over = tuple(
        (f"population.segments[{s}].padding_propensity", 0.0) for s in ("new", "regular", "dormant")
    )
    none = run(over)
    base = run()
    assert total(none, "paddings") == 0
    assert total(base, "paddings") > 0
    aov = total(base, "gmv") / total(base, "orders")
    aov_none = total(none, "gmv") / total(none, "orders")
    assert aov > aov_none
    assert subsidy(base, "threshold") > subsidy(none, "threshold")


def test_no_padding_when_nothing_counts_towards_the_threshold():
    """A store-scope threshold that counts none of the basket (share 0) leaves nothing to
    pad towards, even for shoppers who pad any gap (reach 1): no division by zero."""
    over = (
        ("promotions.threshold.scope", "store"),
        ("behaviour.store_scope_share", 0.0),
        *((f"population.segments[{s}].padding_reach", 1.0) for s in ("new", "regular", "dormant")),
    )
    out = run(over)
    assert total(out, "paddings") == 0
    assert total(out, "orders") > 0 and total(out, "gmv") > 0
    assert subsidy(out, "threshold") == 0


def test_flash_slot_sells_to_the_earliest_attempts_and_is_never_oversold():
    plan = plan_of()
    m = ShopperModel(plan, shoppers=N)
    slots_seen = 0
    while m.epoch < plan.calendar.hours:
        e = m.epoch
        m.advance()
        pend = m.pending()
        is_flash = pend["kind"] == PEND_FLASH
        flash = pend["who"][is_flash]
        if len(flash) == 0:
            m.settle()
            continue
        t = pend["t"][is_flash].astype(np.float64)
        slot = pend["idx"][is_flash].copy()
        left = m.flash_left.copy()
        won_before = m.state.flash_won.sum(axis=1).copy()
        m.settle()
        won = m.state.flash_won.sum(axis=1) - won_before
        for f in np.unique(slot):
            mine = slot == f
            order = np.lexsort((flash[mine], t[mine]))  # by time, then shopper
            ids = flash[mine][order]
            k = min(left[f], len(ids))
            assert won[ids[:k]].tolist() == [1] * k, f"slot {f} in epoch {e}"
            assert not won[ids[k:]].any()
            slots_seen += 1
    assert slots_seen >= 3
    stock = plan.flash.stock
    assert (m.flash_stats[:, 1] <= stock).all()
    assert (m.flash_stats[:, 1] == stock).any(), "some slot should sell out in the smoke plan"
    sold_out = m.flash_stats[:, 1] == stock
    assert np.isfinite(m.flash_stats[sold_out, 2]).all()
    assert (m.flash_stats[sold_out, 2] < 1.0).all()
    # per-shopper limit across the series
    assert m.state.flash_won.max() <= plan.flash.limit.max()


def test_first_n_privilege_goes_to_the_first_n():
    out = run()
    n = int(plan_of().first_n.n[0])
    assert int(out["wins_by_first_n"][0]) == n
    assert np.isfinite(out["first_n_exhausted_at"][0])
    fn = plan_of().first_n
    assert out["first_n_exhausted_at"][0] >= fn.start[0]
    rebates = subsidy(out, "first_n")
    assert 0 < rebates <= n * fn.max_off[0] + 1e-9


def test_presale_deposits_tails_and_forfeits():
    out = run()
    m = out["_model"]
    assert total(out, "deposits") > 0 and total(out, "tails_paid") > 0
    forfeit_hours = np.flatnonzero(m.counters[..., V_FORFEITS].sum(axis=(1, 2)))
    assert set(forfeit_hours.tolist()) <= {m._forfeit_epoch}
    pre = plan_of().extras.presale
    inflation = round((pre["deposit_value"] - pre["deposit"]) * 100)
    assert m.mechanisms[..., M_PRESALE].sum() == inflation * m.counters[..., 16].sum()
    no = run((("promotions.presale.enabled", False),))
    assert total(no, "deposits") == 0 and subsidy(no, "presale") == 0


@pytest.mark.parametrize(
    ("override", "mechanisms"),
    [
        ("promotions.threshold.enabled", ["threshold"]),
        ("promotions.quantity.enabled", ["quantity"]),
        ("promotions.member.enabled", ["member"]),
        ("promotions.red_envelope.enabled", ["red_envelope"]),
        ("promotions.presale.enabled", ["presale", "presale_rush"]),
        ("promotions.flash[phone].enabled", ["flash"]),
        ("promotions.first_n[first_50_half].enabled", ["first_n"]),
        ("promotions.gifts[beauty_gift].enabled", ["gift"]),
        ("promotions.points.enabled", ["points", "lottery"]),
        ("promotions.instalments.enabled", ["instalments"]),
    ],
)
def test_switching_a_mechanism_off_zeroes_its_booked_cost(override, mechanisms):
    base = run()
    off = run(((override, False),))
    for mech in mechanisms:
        assert subsidy(off, mech) == 0.0, mech
    assert any(subsidy(base, mech) > 0 for mech in mechanisms)


def test_switching_coupons_off_zeroes_coupon_cost():
    over = tuple(
        (f"promotions.coupons[{c}].enabled", False) for c in ("cross_20", "wake_15", "invite_10")
    )
    off = run(over)
    assert subsidy(off, "coupon") == 0.0 and total(off, "uses_by_coupon") == 0
    assert subsidy(run(), "coupon") > 0


def test_limited_coupon_is_never_over_claimed():
    out = run((("promotions.coupons[cross_20].quantity", 5_000),))  # 500 simulated coupons
    assert int(out["claims_by_coupon"][0]) == 500
    assert int(out["claims_lost_by_coupon"][0]) > 0


def test_red_envelope_is_multiplied_on_the_peak_day():
    base = run()
    single = run((("promotions.red_envelope.peak_multiplier", 1.0),))
    assert subsidy(base, "red_envelope") > subsidy(single, "red_envelope")


def test_reengagement_message_raises_visits_of_its_segment_only_after_it_is_sent():
    on = run()
    off = run((("promotions.messages[wake].enabled", False),))
    plan = plan_of()
    send = int(plan.messages.send[0])
    dormant = plan.segments.names.index("dormant")
    # common random numbers: identical up to the send time
    np.testing.assert_array_equal(on["sessions"][:send], off["sessions"][:send])
    after_on = on["sessions"][send:, dormant].sum()
    after_off = off["sessions"][send:, dormant].sum()
    assert after_on > 1.5 * after_off
    assert int(on["messages_woken"].sum()) > 0
    assert on["messages_sent"][0, plan.segments.names.index("new")] == 0


def test_longer_delivery_promise_lowers_conversion():
    plan = plan_of()
    a = ShopperModel(plan, shoppers=N)
    b = ShopperModel(plan, shoppers=N)
    b.set_promise(np.full(len(plan.segments.region_names), 96.0))
    oa, ob = a.run(), b.run()
    assert total(ob, "orders") < total(oa, "orders")


def test_deferral_moves_purchases_to_the_peak():
    over = tuple(
        (f"population.segments[{s}].deferral_propensity", 0.0)
        for s in ("new", "regular", "dormant")
    )
    none = run(over)
    base = run()
    assert total(none, "deferrals") == 0 and total(base, "deferrals") > 0
    plan = plan_of()
    peak = plan.calendar.phase == plan.calendar.peak_phase
    share = base["gmv"][peak].sum() / total(base, "gmv")
    share_none = none["gmv"][peak].sum() / total(none, "gmv")
    assert share > share_none


def test_deep_discounts_are_returned_more():
    base = run()
    flat = run(behaviour=(("return_depth_weight", 0.0), ("impulse_return_weight", 0.0)))
    assert total(base, "returns") > total(flat, "returns")


def test_no_sessions_in_a_phase_without_traffic():
    out = run((("calendar.phases[0].traffic", 0.0),))
    preheat = plan_of().calendar.phase == 0
    assert out["sessions"][preheat].sum() == 0
    assert out["orders"][preheat].sum() == 0
    assert total(out, "orders") > 0


def test_first_n_books_at_most_n():
    out = run((("promotions.first_n[first_50_half].n", 100),))  # 10 simulated
    assert int(out["wins_by_first_n"][0]) == 10
    m = out["_model"]
    assert (m.mechanisms[..., M_FIRST_N] > 0).sum() <= 10


def test_behaviour_weights_come_from_the_scenario():
    """[behaviour] in the scenario drives the decision model (here: discounts stop mattering)."""
    base = run()
    flat = run((("behaviour.depth_weight", 0.0),))
    assert total(flat, "orders") < total(base, "orders")
    # same visits: the weight only changes decisions
    np.testing.assert_array_equal(flat["sessions"][:24], base["sessions"][:24])


def test_sampled_session_log_is_faithful_and_changes_nothing():
    plan = plan_of()
    plain = ShopperModel(plan, shoppers=5000).run()
    m = ShopperModel(plan, shoppers=5000, log_every=50)
    out = m.run()
    for k in ("sessions", "orders", "gmv", "paid"):
        np.testing.assert_array_equal(out[k], plain[k])
    log = out["session_log"]
    assert out["session_log_dropped"] == 0
    assert len(log) > 0 and set(np.unique(log["shopper"] % 50)) == {0}
    assert np.all(np.diff(log["seconds"]) >= 0)
    # the logged shoppers' sessions, as counted by the model
    sampled = np.isin(np.arange(5000), log["shopper"])
    assert log["sessions"].sum() == int((log["kind"] == 0).sum())
    # every logged order is a real order: GMV and paid in cents agree with the outcome
    orders = log[log["orders"] > 0]
    assert np.all(orders["gmv"] >= orders["paid"])
    assert sampled.sum() <= 100


def test_advance_to_matches_stepping():
    plan = plan_of()
    a = ShopperModel(plan, shoppers=3000)
    b = ShopperModel(plan, shoppers=3000)
    first = a.advance_to(30.5)
    assert a.epoch == 31
    stepped = sum(b.step() for _ in range(31))
    np.testing.assert_array_equal(first, stepped)
    a.advance_to(1e9)
    b.run()
    np.testing.assert_array_equal(a.counters, b.counters)


def test_prefetch_emits_the_instruction_and_changes_nothing():
    from numba import njit

    from sim.shoppers.intrinsics import prefetch

    @njit
    def total(a, rows):
        s = 0.0
        for q in range(rows.shape[0]):
            prefetch(a, rows[min(q + 2, rows.shape[0] - 1)])
            s += a[rows[q]].sum()
        return s

    a = np.arange(60.0).reshape(20, 3)
    rows = np.array([3, 7, 19, 0])
    assert total(a, rows) == a[rows].sum()
    asm = next(iter(total.inspect_asm().values()))
    assert "prefetch" in asm
