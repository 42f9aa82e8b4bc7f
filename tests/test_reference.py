"""The numba shopper model against its pure-Python reference (sim.shoppers.reference).

Both draw the same counter-based random numbers for the same decisions, so on the
same plan, seed and replicate every integer output must be equal and money
(integer cents / 100) must agree to 1e-9 relative (in fact it is equal).
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim import compile_plan, load_scenario
from sim.plan import Plan
from sim.shoppers import ShopperModel
from sim.shoppers import reference as reference_module
from sim.shoppers.reference import ReferenceModel
from sim.shoppers.tables import PEND_CLAIM

SMOKE = Path(__file__).resolve().parent.parent / "scenarios" / "smoke.toml"
D = dt.datetime

OVERRIDES: dict[str, dict[str, Any]] = {
    "smoke": {},
    # contested actions: limited coupons run out, first-N by count and by minutes
    # (unlimited), flash slots sell out with two units per shopper
    # (real-world counts: at 1,500 simulated shoppers each stands for 133 real ones)
    "contested": {
        "promotions.coupons[cross_20].quantity": 20_000,
        "promotions.coupons[cross_20].stacks_with_threshold": False,
        "promotions.first_n": [
            {"name": "half", "start": D(2026, 11, 11), "n": 4_000, "discount": 0.5, "max_off": 200},
            {"name": "first_90", "start": D(2026, 11, 11, 10), "minutes": 90, "discount": 0.1},
        ],
        "promotions.flash[phone].stock": 700,
        "promotions.flash[phone].limit_per_shopper": 2,
    },
    # other pricing: price cut, per-multiple store-scope threshold, bogo bundle
    "pricing": {
        "promotions.threshold.mode": "per_multiple",
        "promotions.threshold.scope": "store",
        "promotions.price_cut.rate": 0.1,
        "promotions.gifts": [
            {"name": "bogo", "kind": "bogo", "value": 0.5, "take_up": 0.4, "min_spend": 100},
            {"name": "gift", "min_spend": 299, "value": 20, "categories": ["beauty"]},
        ],
    },
    # mechanisms switched off
    "off": {
        "promotions.presale.enabled": False,
        "promotions.flash[phone].enabled": False,
        "promotions.threshold.enabled": False,
        "promotions.cart_recall.enabled": False,
        "promotions.red_envelope.enabled": False,
        "promotions.first_n[first_50_half].enabled": False,
    },
    # several messages, listed in send order
    "messages": {
        "promotions.messages": [
            {"name": "early", "send_at": D(2026, 11, 9, 12), "segments": ["dormant", "new"],
             "reach": 0.8, "wake": 0.4},
            {"name": "mid", "send_at": D(2026, 11, 10, 20), "segments": ["dormant"],
             "dormant_only": True, "reach": 0.7, "wake": 0.5, "coupon": "wake_15"},
            {"name": "late", "send_at": D(2026, 11, 11, 9), "reach": 0.6, "lift": 3.0,
             "coupon": "wake_15"},
        ],
    },
    # ten channels (two past the eight kept as reach bits), some with windows and
    # segments: many reach patterns and regimes of the class majorant
    "channels": {
        "marketing.budget": 5_000_000,
        "marketing.channels": [
            {"name": f"c{k}", "kind": ("social", "kol", "search", "email", "push")[k % 5],
             "spend": 20_000 + 5_000 * k, "lift": 1.1 + 0.07 * k,
             "response": {"max_reach": 0.3 + 0.04 * k, "half_saturation": 40_000},
             **({"start": D(2026, 11, 9, 6 + k)} if k % 3 == 1 else {}),
             **({"end": D(2026, 11, 11, 3 + k)} if k % 3 == 2 else {}),
             **({"segments": ["new", "dormant"]} if k % 4 == 3 else {})}
            for k in range(10)
        ],
    },
}  # fmt: skip


@cache
def plan_for(case: str) -> Plan:
    return compile_plan(load_scenario(SMOKE, OVERRIDES[case]))


def run_both(
    plan: Plan,
    replicate: int,
    shoppers: int,
    behaviour: dict[str, float] | None = None,
    promise: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    model = ShopperModel(plan, replicate, shoppers=shoppers, threads=1, behaviour=behaviour)
    if promise is not None:
        model.set_promise(promise)
    fast = model.run()
    ref = ReferenceModel(plan, replicate, shoppers=shoppers, behaviour=behaviour, promise=promise)
    return fast, ref.run()


def assert_same(fast: dict[str, Any], ref: dict[str, Any]) -> None:
    assert set(fast) == set(ref)
    for name, a in fast.items():
        b = ref[name]
        if not isinstance(a, np.ndarray):
            assert a == b, name
            continue
        assert isinstance(b, np.ndarray), name
        assert a.shape == b.shape and a.dtype == b.dtype, name
        if a.dtype.kind in "iub":
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:  # money (cents / 100) and times
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("replicate", [0, 1])
@pytest.mark.parametrize("shoppers", [300, 1500])
def test_smoke_equal(replicate: int, shoppers: int) -> None:
    fast, ref = run_both(plan_for("smoke"), replicate, shoppers)
    assert fast["orders"].sum() > 0
    assert_same(fast, ref)


@pytest.mark.parametrize("case", ["contested", "pricing", "off", "messages", "channels"])
def test_overrides_equal(case: str) -> None:
    fast, ref = run_both(plan_for(case), 1, 1000)
    assert_same(fast, ref)


def test_contested_case_exercises_settlement() -> None:
    """The contested scenario really loses coupon claims and sells out flash slots."""
    _, ref = run_both(plan_for("contested"), 0, 1500)
    assert ref["claims_lost_by_coupon"].sum() > 0
    assert np.isfinite(ref["flash_sellout_hours"]).any()
    assert ref["wins_by_first_n"].min() > 0


@pytest.mark.parametrize("chunk, width", [(16384, None), (256, 1)])
def test_coupons_held_equal_hour_by_hour(chunk: int, width: int | None) -> None:
    """The epoch kernel books limited claims as granted and the settlement takes back the
    lost ones: between the two halves of an hour each shopper holds what the reference's
    shopper holds plus its claims pending in the hour, after the settlement exactly what
    it holds, and the outputs (claims, claims lost) are the reference's. Also with many
    small chunks (the settlement's parallel first pass over several groups) and a
    pending table one row wide (widened and resumed many times)."""
    plan = plan_for("contested")
    model = ShopperModel(plan, 0, shoppers=1500, threads=1, chunk=chunk, pending_width=width)
    ref = ReferenceModel(plan, 0, shoppers=1500)

    def ref_held() -> np.ndarray:
        return np.array([sh.coupons for sh in ref.shoppers], dtype=np.int64)

    taken_back = 0
    while model.epoch < model.hours:
        model.advance()
        ref.advance()
        pend = model.pending()
        claim = pend["kind"] == PEND_CLAIM
        pending = np.zeros(model.state.held.shape, np.int64)
        for who, bits in zip(pend["who"][claim], pend["idx"][claim], strict=True):
            pending[who] += (int(bits) >> np.arange(pending.shape[1])) & 1
        np.testing.assert_array_equal(model.state.held - pending, ref_held())
        granted = model.state.held.astype(np.int64)
        model.settle()
        ref.close_hour()
        np.testing.assert_array_equal(model.state.held, ref_held(), err_msg=f"hour {ref.epoch}")
        # a claim row is its shopper's only settlement action: what it holds less is a
        # claim taken back (the last hour also delivers the messages not yet delivered)
        rows = np.unique(pend["who"][claim])
        taken_back += int((granted[rows] - model.state.held[rows]).sum())
    fast, slow = model.results(), ref.results()
    assert taken_back == fast["claims_lost_by_coupon"].sum() > 0
    assert_same(fast, slow)


def test_every_order_returned_refunds_exactly_what_was_paid() -> None:
    """With every order returned, the refunds equal what the shoppers paid, to the cent:
    a first-N rebate, settled after the order was booked as returned, lowers the refund
    as it lowers the amount paid (it used to be refunded in full)."""
    every = {f"population.segments[{s}].return_propensity": 1.0 for s in range(3)}
    plan = compile_plan(load_scenario(SMOKE, every))
    fast, ref = run_both(plan, 0, 1500)
    assert_same(fast, ref)
    assert fast["wins_by_first_n"].sum() > 0 and fast["returns"].sum() == fast["orders"].sum()
    assert fast["return_money"].sum() == pytest.approx(fast["paid"].sum(), rel=0, abs=1e-6)


def test_consolation_while_first_n_runs_out_equal() -> None:
    """Every flash loser tries a consolation purchase in the epoch in which a first-N
    privilege runs out: the kernel decides the flash winners in time order and makes
    the consolation purchases afterwards, in parallel, each seeing the privileges open
    at its attempt; the reference does it all in time order."""
    case = dict(OVERRIDES["contested"])
    case["promotions.first_n"] = [  # a strong pull while it is open, gone when it runs out
        {"name": "half", "start": D(2026, 11, 11), "n": 4_000, "discount": 0.5, "utility": 8.0}
    ]
    plan = compile_plan(load_scenario(SMOKE, case))
    fast, ref = run_both(plan, 0, 1500, behaviour={"consolation": 1.0})
    assert_same(fast, ref)
    out = float(fast["first_n_exhausted_at"][0])
    assert np.isfinite(out)  # the privilege ran out
    epoch = np.floor(out)
    same_epoch = (np.floor(plan.flash.open) == epoch) & np.isfinite(fast["flash_sellout_hours"])
    assert same_epoch.any()  # a slot of that epoch sold out, so it had losers


def test_consolation_with_more_first_n_than_a_mask_holds_equal() -> None:
    """With more than 64 first-N privileges the open ones do not fit a 64-bit mask: the
    sorted pass then makes the flash losers' consolation purchases itself, in time order
    (no deferral), and the results are still the reference's."""
    case = dict(OVERRIDES["contested"])
    # privilege 64 (the last) is the only one open in the peak day's first hour and runs
    # out in it; the first opens at 01:00 and stays open: a mask that wrapped bit 64 onto
    # bit 0 would show the last open to the consolation purchases of later flash slots
    case["promotions.first_n"] = [
        {"name": "half", "start": D(2026, 11, 11, 1), "n": 400_000, "discount": 0.3, "utility": 4.0}
    ] + [
        {"name": f"p{k}", "start": D(2026, 11, 11, 1 + k % 22), "n": 200 + 50 * (k % 5),
         "discount": 0.05 + 0.002 * k}
        for k in range(63)
    ] + [
        {"name": "last", "start": D(2026, 11, 11), "n": 300, "discount": 0.6, "utility": 8.0}
    ]  # fmt: skip
    plan = compile_plan(load_scenario(SMOKE, case))
    model = ShopperModel(plan, 0, shoppers=1500, threads=1, behaviour={"consolation": 1.0})
    assert len(model.first_n_left) == 65  # more than the mask holds: no deferral
    fast = model.run()
    ref = ReferenceModel(plan, 0, shoppers=1500, behaviour={"consolation": 1.0}).run()
    assert_same(fast, ref)
    assert np.isfinite(fast["flash_sellout_hours"]).any()  # flash slots had losers
    gone = fast["first_n_exhausted_at"]
    assert np.isfinite(gone[64]) and not np.isfinite(gone[0])


def test_seed_behaviour_and_promise_equal() -> None:
    """Another seed, other behavioural constants, a long delivery promise."""
    plan = plan_for("smoke")
    behaviour = {"depth_weight": 8.0, "consolation": 0.9, "promise_weight": 0.6}
    promise = np.array([60.0, 30.0])
    model = ShopperModel(plan, 0, seed=11, shoppers=800, threads=1, behaviour=behaviour)
    model.set_promise(promise)
    fast = model.run()
    ref = ReferenceModel(plan, 0, seed=11, shoppers=800, behaviour=behaviour, promise=promise)
    assert_same(fast, ref.run())


def test_messages_out_of_send_order_equal() -> None:
    # messages listed out of send order: both models report them in the plan's order
    overrides = {
        "promotions.messages": list(reversed(OVERRIDES["messages"]["promotions.messages"]))
    }
    plan = compile_plan(load_scenario(SMOKE, overrides))
    fast, ref = run_both(plan, 0, 1000)
    assert_same(fast, ref)


def test_reference_does_not_use_the_kernels() -> None:
    tree = ast.parse(inspect.getsource(reference_module))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
            imported.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not any("kernels" in name for name in imported), imported
