"""The plan compiler, tested on its own."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sim.clock import Clock
from sim.plan import DIURNAL_PROFILES, MINUTES, alias_table, compile_plan, hill
from sim.scenario import load_scenario


@pytest.fixture(scope="module")
def smoke(smoke_path):
    return compile_plan(load_scenario(smoke_path))


@pytest.fixture(scope="module")
def baseline(baseline_path):
    return compile_plan(load_scenario(baseline_path))


def test_clock_handles_daylight_saving():
    # New York falls back on 1 Nov 2026: that local day has 25 hours
    c = Clock("America/New_York", dt.datetime(2026, 10, 31), dt.datetime(2026, 11, 2))
    assert c.hours == 49
    assert list(c.hour_of_day[24:28]) == [0, 1, 1, 2]
    assert c.to_hours(dt.datetime(2026, 11, 1, 3)) == 28.0
    assert c.local_at(28.0) == dt.datetime(2026, 11, 1, 3)


def test_clock_mask_is_half_open():
    c = Clock("UTC", dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2))
    m = c.mask(dt.datetime(2026, 1, 1, 3, 30), dt.datetime(2026, 1, 1, 5))
    assert np.flatnonzero(m).tolist() == [3, 4]


@pytest.mark.parametrize("weights", [[0.5, 0.25, 0.25], [0.1, 0.0, 0.6, 0.3], [1.0]])
def test_alias_table_reproduces_the_distribution_exactly(weights):
    p = np.array(weights)
    prob, alias = alias_table(p)
    n = len(p)
    # exact probability of each outcome under the alias draw
    exact = np.zeros(n)
    for k in range(n):
        exact[k] += prob[k] / n
        exact[alias[k]] += (1 - prob[k]) / n
    np.testing.assert_allclose(exact, p / p.sum(), atol=1e-12)


def test_hill_curve():
    assert hill(0.0, 10.0, 1.0, 0.6) == 0.0
    assert hill(10.0, 10.0, 1.0, 0.6) == pytest.approx(0.3)
    assert hill(1e12, 10.0, 2.0, 0.6) == pytest.approx(0.6)
    assert hill(20.0, 10.0, 2.0, 0.6) > hill(20.0, 10.0, 1.0, 0.6)


def test_calendar_tables(smoke):
    cal = smoke.calendar
    assert cal.hours == 120
    assert cal.minute_intensity.shape == (120 * MINUTES,)
    assert cal.phase_names == ("preheat", "burst", "peak", "return")
    assert cal.phase.tolist() == [0] * 48 + [1] * 24 + [2] * 24 + [3] * 24
    assert (cal.peak_start, cal.peak_end) == (72.0, 96.0)
    # traffic = diurnal x phase, spikes x3 for 15 minutes at 00, 10, 20
    diurnal = np.array(DIURNAL_PROFILES["ecommerce"])
    diurnal = diurnal / diurnal.mean()
    h = 72 + 14  # 14:00 on the peak day: no spike, no countdown... except last_24h (x1.1)
    assert cal.traffic[h] == pytest.approx(diurnal[14] * 3.0 * 1.1)
    m0 = (72 + 10) * MINUTES
    base = diurnal[10] * 3.0 * 1.1
    assert cal.minute_intensity[m0] == pytest.approx(3 * base)
    assert cal.minute_intensity[m0 + 14] == pytest.approx(3 * base)
    assert cal.minute_intensity[m0 + 15] == pytest.approx(base)
    assert cal.traffic[72 + 10] == pytest.approx(base * (1 + 2 * 15 / 60))


def test_category_day_boosts_its_category(smoke):
    cal = smoke.calendar
    beauty = smoke.categories.names.index("beauty")
    day = cal.local_time.astype("datetime64[D]") == np.datetime64("2026-11-10")
    assert set(cal.category_profile[day].tolist()) == {1}
    assert set(cal.category_profile[~day].tolist()) == {0}
    assert cal.category_prob[1, beauty] > cal.category_prob[0, beauty]
    np.testing.assert_allclose(cal.category_prob.sum(axis=1), 1.0)


def test_windows_and_tiers(smoke):
    d = smoke.discounts
    assert d.threshold_spend.tolist() == [300.0, 500.0]
    assert d.threshold_off.tolist() == [50.0, 100.0]
    assert np.flatnonzero(d.threshold_active).tolist() == list(range(48, 96))
    assert d.member_active.all() and d.member_rate == 0.05
    assert not d.price_cut_active.any()


def test_coupons_are_scaled_and_timed(smoke):
    c = smoke.coupons
    assert c.names == ("cross_20", "wake_15", "invite_10")
    assert c.stock.tolist() == [2000, -1, -1]  # 20,000 real / scale 10
    assert c.claim_end[0] == 72.0 and c.use_start[0] == 48.0
    assert c.claimable.tolist() == [True, False, False]


def test_flash_slots(smoke, baseline):
    f = smoke.flash
    # burst and peak days, 00/10/20 -> 6 slots, opening in time order
    assert f.open.tolist() == [48.0, 58.0, 68.0, 72.0, 82.0, 92.0]
    assert f.stock.tolist() == [20] * 6 and (f.price == 1499.5).all()
    assert f.slot_ptr[48] == 0 and f.slot_ptr[49] == 1 and f.slot_ptr[-1] == 6
    # baseline: the one-yuan slot opens at 00:00 on 11 Nov together with the hourly phone
    b = baseline.flash
    peak0 = b.open == baseline.calendar.peak_start
    assert sorted(b.series[peak0].tolist()) == [0, 1]
    assert np.all(np.diff(b.open) >= 0)


def test_scaled_count_that_rounds_to_zero_is_noted(smoke_path):
    plan = compile_plan(load_scenario(smoke_path, {"promotions.flash[0].stock": 4}))
    assert (plan.flash.stock == 0).all()
    assert any("rounds to 0" in n for n in plan.notes)


def test_visit_majorant_covers_every_lift(smoke):
    seg = smoke.segments
    assert seg.visit_cum.shape == (3, 120 * MINUTES + 1)
    assert np.all(np.diff(seg.visit_cum, axis=1) >= 0)
    assert np.all(seg.max_lift >= 1.0)
    # the dormant segment gets the wake-up message lift after it is sent
    dormant = seg.names.index("dormant")
    send = int(smoke.messages.send[0])
    assert seg.max_lift[dormant, send + 1] >= 2.0
    assert seg.max_lift[seg.names.index("new"), send + 1] < seg.max_lift[dormant, send + 1]


def test_class_majorant_integrates_the_class_intensity(baseline):
    """The class cumulative at each regime start is the integral of the segment part x
    the class part; the class part of a reach pattern is the product of the lifts of the
    active channels in it that reach the segment, times the presale lifts with a deposit."""
    seg, ch = baseline.segments, baseline.channels
    per_minute = np.diff(seg.visit_cum, axis=1)
    hour = np.arange(per_minute.shape[1]) // MINUTES
    Q, _, _, J = seg.class_lift.shape
    assert len(ch.names) == Q.bit_length() - 1 and len(seg.regime_start) == J + 1
    assert np.all(np.diff(seg.regime_start) > 0)
    for q, s, d in [(0, 0, 0), (Q - 1, 1, 1), (0b101101, 2, 0), (0b010011, 4, 1)]:
        lam = per_minute[s] * seg.class_lift[q, s, d, seg.regime_of[hour]]
        expected = np.concatenate([[0.0], np.cumsum(lam)])[seg.regime_start * MINUTES]
        np.testing.assert_allclose(seg.class_cum[q, s, d], expected, rtol=1e-9)
        for j, h in enumerate(seg.regime_start[:-1]):
            on = [c for c in range(len(ch.names)) if (q >> c) & 1]
            lift = np.prod([ch.lift[c] for c in on if ch.active[c, h] and ch.segments[c, s]])
            np.testing.assert_allclose(seg.class_lift[q, s, 0, j], lift, rtol=1e-12)
    # with a deposit, the tail window carries the reminder lift
    tail = seg.class_lift[0, 0, 1] / seg.class_lift[0, 0, 0]
    assert tail.max() >= 2.0 and tail.min() == 1.0


def test_deferral_signal_points_at_the_peak(baseline):
    cal = baseline.calendar
    lull = cal.phase == cal.phase_names.index("lull")
    peak = cal.phase == cal.peak_phase
    assert baseline.depth[peak].min() > baseline.depth[lull].max()
    assert (baseline.depth_ahead[lull] > baseline.depth[lull]).all()


def test_plan_arrays_are_read_only(smoke):
    with pytest.raises(ValueError):
        smoke.calendar.traffic[0] = 1.0


def test_plan_is_a_pure_function_of_the_scenario(smoke_path):
    a = compile_plan(load_scenario(smoke_path))
    b = compile_plan(load_scenario(smoke_path))
    assert a.scenario_hash == b.scenario_hash
    np.testing.assert_array_equal(a.segments.visit_cum, b.segments.visit_cum)
