"""Monte Carlo runs, the Dataset, KPIs, paired comparison and the run/compare/kpis commands."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from sim import compile_plan, load_scenario
from sim import runner as sim_runner
from sim.cli import app
from sim.comparison import compare, counterfactual, paired
from sim.metrics import KPIS, MIN_PRECISION_REPLICATES, kpis, relative_half_width, summarize
from sim.replicate import Cancelled, simulate_replicate
from sim.results import load, save
from sim.runner import Interrupted, next_batch, precision_met, precision_step, run

SMOKE = "scenarios/smoke.toml"
N = 3000  # simulated shoppers in smoke runs


@pytest.fixture(scope="module")
def smoke() -> xr.Dataset:
    return run(SMOKE, replicates=4, shoppers=N)


# --- the Dataset ------------------------------------------------------------------------
def test_dataset_is_labelled(smoke: xr.Dataset) -> None:
    ds = smoke
    assert list(ds["replicate"].values) == [0, 1, 2, 3]
    assert ds["time"].dtype.kind == "M" and ds["time"].attrs["timezone"] == "Asia/Shanghai"
    assert str(ds["time"].values[0]).startswith("2026-11-08T00:00")
    assert ds["ftime"].size > ds["time"].size  # the fulfilment clock drains past the end
    assert set(ds["phase"].values) == {"preheat", "burst", "peak", "return"}
    for name, v in ds.data_vars.items():
        assert "units" in v.attrs and "long_name" in v.attrs, name
    for key in ("scenario_name", "scenario_hash", "seed", "promosim_version", "scenario_toml"):
        assert key in ds.attrs
    assert load_scenario(SMOKE).campaign.name == ds.attrs["scenario_name"]
    assert ds["gmv"].attrs["units"] == "CNY"


def test_figures_are_real_world(smoke: xr.Dataset) -> None:
    """Counts are scaled by the population represented (scale x shoppers / simulated)."""
    s = load_scenario(SMOKE).population
    assert smoke.attrs["population_scale"] == pytest.approx(s.scale * s.shoppers / N)
    orders = smoke["orders"].sum(["time", "segment", "region"])
    # a simulated order stands for population_scale real ones
    simulated = orders / smoke.attrs["population_scale"]
    np.testing.assert_allclose(simulated, np.round(simulated), rtol=0, atol=1e-6)


def test_netcdf_round_trip(smoke: xr.Dataset, tmp_path) -> None:
    path = save(smoke, tmp_path / "r.nc")
    xr.testing.assert_identical(load(path), smoke)
    xr.testing.assert_identical(xr.open_dataset(path).load(), smoke)  # plain xarray
    assert not list(tmp_path.glob(".*tmp"))


def test_replicate_is_the_same_alone_or_in_a_batch(smoke: xr.Dataset) -> None:
    alone = run(SMOKE, replicates=[2], shoppers=N)
    xr.testing.assert_identical(alone.sel(replicate=[2]), smoke.sel(replicate=[2]))
    assert not smoke["gmv"].sel(replicate=1).equals(smoke["gmv"].sel(replicate=2))


def test_dask_workers_give_bit_identical_results(smoke: xr.Dataset, monkeypatch) -> None:
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    par = run(SMOKE, replicates=4, shoppers=N, workers=2)
    xr.testing.assert_identical(par, smoke)
    # the workers get one numba thread each; this process keeps its own settings
    # (distributed's nannies, which run here, set them in os.environ to spawn workers)
    assert "NUMBA_NUM_THREADS" not in os.environ
    assert os.environ["OMP_NUM_THREADS"] == "3"
    client, cluster = sim_runner.local_cluster(2)
    try:
        got = client.run(lambda: os.environ.get("NUMBA_NUM_THREADS"))
        assert list(got.values()) == ["1", "1"]
        assert "NUMBA_NUM_THREADS" not in os.environ
        # Ctrl-C at the terminal reaches the workers too: they leave it to this process
        # (they printed dozens of lines of tracebacks when a sweep was interrupted)
        import signal

        got = client.run(lambda: signal.getsignal(signal.SIGINT) == signal.SIG_IGN)
        assert list(got.values()) == [True, True]
    finally:
        client.close()
        cluster.close()


def test_interrupted_run_keeps_finished_replicates(monkeypatch) -> None:
    monkeypatch.setattr(sim_runner, "lanes_for", lambda n, shoppers, mode: (1, 1))

    def stop(done: int, planned: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        run(SMOKE, replicates=5, shoppers=N, progress=stop)
    part = info.value.partial
    assert part is not None and list(part["replicate"].values) == [0, 1]
    assert part.attrs["complete"] == 0
    whole = run(SMOKE, replicates=2, shoppers=N)
    xr.testing.assert_equal(part, whole)


def test_interrupted_side_by_side_run_stops_the_running_replicates(monkeypatch) -> None:
    """Three replicates side by side: 0 finishes and the run is interrupted; 1 and 2,
    held until then, stop at their first epoch; the last ones never start."""
    real = sim_runner.simulate_replicate
    log: list[tuple[int, str]] = []

    def replicate(plan, r, **kw):  # type: ignore[no-untyped-def]
        if r > 0:
            kw["cancel"].wait(30.0)  # until the run is interrupted
        try:
            out = real(plan, r, **kw)
        except Cancelled:
            log.append((r, "cancelled"))
            raise
        log.append((r, "finished"))
        return out

    monkeypatch.setattr(sim_runner, "simulate_replicate", replicate)
    monkeypatch.setattr(sim_runner, "lanes_for", lambda n, shoppers, mode: (3, 1))

    def stop(done: int, planned: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        run(SMOKE, replicates=6, shoppers=N, progress=stop)
    part = info.value.partial
    assert part is not None and list(part["replicate"].values) == [0]
    assert [r for r, what in log if what == "finished"] == [0]
    cancelled = {r for r, what in log if what == "cancelled"}
    # 3 may have started on 0's thread before the interrupt: it stops too; 4, 5 never start
    assert {1, 2} <= cancelled <= {1, 2, 3}
    assert not [t for t in threading.enumerate() if t.name.startswith("promosim-lane")]
    monkeypatch.setattr(sim_runner, "simulate_replicate", real)
    xr.testing.assert_equal(part, run(SMOKE, replicates=1, shoppers=N))


def test_a_cancelled_replicate_stops_before_its_next_epoch() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        simulate_replicate(compile_plan(load_scenario(SMOKE), N), 0, cancel=cancel)


def test_replicates_side_by_side_equal_one_at_a_time(monkeypatch) -> None:
    monkeypatch.setattr(sim_runner, "lanes_for", lambda n, shoppers, mode: (1, 2))
    one = run(SMOKE, replicates=5, shoppers=N)
    seen: list[int] = []
    monkeypatch.setattr(sim_runner, "lanes_for", lambda n, shoppers, mode: (3, 1))
    side = run(SMOKE, replicates=5, shoppers=N, progress=lambda d, p: seen.append(d))
    xr.testing.assert_identical(side, one)
    assert seen == [1, 2, 3, 4, 5]


def test_lanes_follow_the_thread_budget_and_the_memory(monkeypatch) -> None:
    monkeypatch.setattr(sim_runner, "available_memory", lambda: 64 * 2**30)
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")
    assert sim_runner.lanes_for(8, 1000) == (1, 1)  # what Dask workers and the benchmarks set
    monkeypatch.setenv("NUMBA_NUM_THREADS", "4")
    assert sim_runner.lanes_for(8, 1000) == (4, 1)
    assert sim_runner.lanes_for(2, 1000) == (2, 2)
    assert sim_runner.lanes_for(1, 1000) == (1, 4)
    assert sim_runner.lanes_for(8, 1000, "per_order") == (1, 4)
    assert sim_runner.lanes_for(8, 10**9) == (1, 4)  # 200 GB a replicate: one at a time
    assert sim_runner.lanes_for(8, 50_000_000) == (3, 1)  # 10 GB each in 32 GB
    monkeypatch.setenv("NUMBA_NUM_THREADS", "lots")  # numba ignores it too
    assert sim_runner.thread_budget() >= 1


# --- KPIs -------------------------------------------------------------------------------
def test_kpi_identities(smoke: xr.Dataset) -> None:
    k = kpis(smoke)
    assert set(KPIS) <= set(k.data_vars)
    np.testing.assert_allclose(k["aov"], k["gmv"] / k["orders"])
    np.testing.assert_allclose(
        k["profit"],
        k["gross_margin"] - k["promotion_cost"] - k["marketing_spend"] - k["logistics_cost"],
    )
    np.testing.assert_allclose(k["roi"], k["gmv"] / (k["marketing_spend"] + k["subsidy"]))
    total = {v: smoke[v].sum(["time", "segment", "region"]) for v in ("cogs", "return_cogs")}
    assert (total["return_cogs"] > 0).all() and (total["return_cogs"] < total["cogs"]).all()
    restock = load_scenario(SMOKE).fulfilment.returns.restock_share
    np.testing.assert_allclose(
        k["gross_margin"],
        k["net_revenue"] - (total["cogs"] - restock * total["return_cogs"]),
    )
    phases = sum(k[f"gmv_{p}"] for p in ("preheat", "burst", "peak", "return"))
    np.testing.assert_allclose(phases, k["gmv"])
    subs = sum(k[v] for v in k.data_vars if str(v).startswith("subsidy_"))
    np.testing.assert_allclose(subs, k["subsidy"])
    assert ((k["fulfilment_rate"] > 0) & (k["fulfilment_rate"] <= 1)).all()
    assert (k["conversion"] < 1).all() and (k["delivery_p90"] >= k["delivery_p50"]).all()
    for v in k.data_vars.values():
        assert v.attrs["formula"] and v.attrs["long_name"]


def test_every_kpi_has_its_formula_in_the_docstring() -> None:
    for k in KPIS.values():
        assert (k.fn.__doc__ and "=" in k.fn.__doc__.splitlines()[0]) or "ROI" in k.fn.__doc__


def test_summary_statistics_match_numpy(smoke: xr.Dataset) -> None:
    k = kpis(smoke)
    s = summarize(k)
    x = k["gmv"].values
    assert float(s["gmv"].sel(stat="mean")) == pytest.approx(x.mean())
    assert float(s["gmv"].sel(stat="p50")) == pytest.approx(np.median(x))
    half = float(s["gmv"].sel(stat="ci_high") - s["gmv"].sel(stat="mean"))
    from scipy import stats

    assert half == pytest.approx(stats.t.ppf(0.975, 3) * x.std(ddof=1) / 2)
    assert relative_half_width(k["gmv"]) == pytest.approx(half / x.mean())


def test_probability_of_target_is_the_share_of_replicates() -> None:
    ds = run(SMOKE, replicates=6, shoppers=N)
    k = kpis(ds)
    target = load_scenario(SMOKE).campaign.targets.gmv
    assert float(k["target_reached"].mean()) == pytest.approx(np.mean(k["gmv"].values >= target))


def test_incremental_roi_against_the_counterfactual() -> None:
    s = load_scenario(SMOKE)
    cf = counterfactual(s)
    plan = compile_plan(cf)
    assert not plan.discounts.threshold_active.any() and not len(plan.flash.open)
    assert float(np.sum(plan.channels.spend)) == 0
    ds = run(SMOKE, replicates=3, shoppers=N, incremental=True)
    k = kpis(ds)
    dcf = run(cf, replicates=3, shoppers=N)
    kcf = kpis(dcf)
    assert float(kcf["subsidy"].max()) == 0 and float(kcf["marketing_spend"].max()) == 0
    np.testing.assert_allclose(ds["counterfactual_gmv"], kcf["gmv"])
    expected = (k["gmv"] - kcf["gmv"]) / (k["marketing_spend"] + k["subsidy"])
    np.testing.assert_allclose(k["incremental_roi"], expected)


def test_adaptive_replication_stops_at_the_precision() -> None:
    ds = run(SMOKE, replicates=3, shoppers=N, precision=0.02, max_replicates=40)
    rel = relative_half_width(kpis(ds)["gmv"])
    assert ds.attrs["precision_reached"] == pytest.approx(rel)
    assert ds.attrs["precision_met"] == int(rel <= 0.02)
    assert rel <= 0.02 or ds.sizes["replicate"] == 40
    assert ds.sizes["replicate"] >= MIN_PRECISION_REPLICATES
    assert list(ds["replicate"].values) == list(range(ds.sizes["replicate"]))


ROOMY = "fulfilment.sites[0].storage=100000000"  # smoke's hub never full: no overload


def test_adaptive_replication_does_not_chase_an_undefined_precision() -> None:
    """No overload: a mean of 0 has no relative precision. The run goes on to the minimum
    number of replicates (a KPI that was 0 in the first few may not stay 0: smoke's own
    hub overloads in some replicates and not in others), then stops and says the target
    was not met (it used to run on to the cap, and then to stop after the first batch)."""
    roomy = load_scenario(SMOKE, [ROOMY])
    ds = run(roomy, replicates=3, shoppers=N, precision=0.02, kpi="overload_hours")
    assert ds.sizes["replicate"] == MIN_PRECISION_REPLICATES
    assert ds.attrs["precision_met"] == 0 and np.isinf(ds.attrs["precision_reached"])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--kpi", "overload_hours", "--set", ROOMY], "no relative precision can be reached"),
        (["--max-replicates", "4"], "NOT met (stopped at 4 replicates, the cap"),
    ],
)
def test_run_says_when_the_precision_target_is_not_met(args: list[str], says: str) -> None:
    base = ["run", SMOKE, "--replicates", "2", "--shoppers", str(N), "--precision", "0.01%"]
    res = runner.invoke(app, [*base, *args])
    assert res.exit_code == 0, res.output
    assert says in " ".join(res.output.split())


def test_the_probability_of_the_target_has_an_exact_interval() -> None:
    """12 replicates out of 12 at the target: P in [0.025^(1/12), 1] = [0.735, 1], not the
    collapsed [1, 1] of Student's t."""
    from sim.metrics import summarize

    k = xr.Dataset({"target_reached": ("replicate", np.ones(12))})
    k["target_reached"].attrs["indicator"] = 1
    s = summarize(k)["target_reached"]
    assert float(s.sel(stat="ci_low")) == pytest.approx(0.025 ** (1 / 12))
    assert float(s.sel(stat="ci_high")) == 1.0
    k["target_reached"][:3] = 0.0  # 9 of 12: Clopper-Pearson from the beta quantiles
    from scipy.stats import beta

    s = summarize(k)["target_reached"]
    assert float(s.sel(stat="ci_low")) == pytest.approx(beta.ppf(0.025, 9, 4))
    assert float(s.sel(stat="ci_high")) == pytest.approx(beta.ppf(0.975, 10, 3))


def test_precision_rule_edges() -> None:
    # a share of replicates that was 1 every time is not known exactly (Clopper-Pearson)
    always = xr.DataArray(np.ones(12), attrs={"indicator": 1})
    low = 0.025 ** (1 / 12)  # the exact 95% interval is [0.025^(1/12), 1]
    assert relative_half_width(always) == pytest.approx((1 - low) / 2)
    assert not precision_met([0.0], 0.01, MIN_PRECISION_REPLICATES - 1)
    assert precision_met([0.0, 0.009], 0.01, MIN_PRECISION_REPLICATES)
    assert not precision_met([0.005, np.inf], 0.01, 50)
    # an undefined half-width (a mean of 0 so far) stops the rule only once it has the
    # minimum number of replicates: before, it adds them
    assert precision_step([np.inf], 0.1, 3, 40) == (False, MIN_PRECISION_REPLICATES - 3)
    assert precision_step([np.inf], 0.1, MIN_PRECISION_REPLICATES, 40) == (False, 0)
    # the minimum counts replicates with a value of the KPI, not replicates run
    assert precision_step([0.001], 0.01, 12, 40) == (True, 0)
    assert precision_step([0.001], 0.01, 12, 40, usable=8) == (False, 6)
    # batches: up to the minimum first, then half as many again, within the cap (a count)
    assert next_batch(3, 200) == MIN_PRECISION_REPLICATES - 3
    assert next_batch(40, 200) == 20
    assert next_batch(190, 200) == 10 and next_batch(200, 200) == 0


# --- comparison -------------------------------------------------------------------------
def test_variance_reduction_when_the_difference_has_no_spread() -> None:
    """A constant difference: CRN removed all the spread (inf, shown as exact); two
    constant scenarios: there was none to remove (NaN, shown as -)."""
    base = np.array([1.0, 2.0, 4.0])
    cmp = xr.Dataset(
        {
            "gmv": (("scenario", "replicate"), np.stack([base, base + 1])),
            "orders": (("scenario", "replicate"), np.ones((2, 3))),
        },
        coords={"scenario": ["a", "b"], "replicate": np.arange(3)},
    )
    vr = paired(cmp).sel(scenario="b", stat="var_reduction")
    assert np.isposinf(float(vr.sel(kpi="gmv"))) and np.isnan(float(vr.sel(kpi="orders")))


def test_paired_statistics_match_a_hand_computation() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(100, 10, 8)
    other = base + 2 + rng.normal(0, 1, 8)
    cmp = xr.Dataset(
        {"gmv": (("scenario", "replicate"), np.stack([base, other]))},
        coords={"scenario": ["a", "b"], "replicate": np.arange(8)},
    )
    p = paired(cmp).sel(scenario="b", kpi="gmv")
    d = other - base
    from scipy import stats

    assert float(p.sel(stat="diff")) == pytest.approx(d.mean())
    assert float(p.sel(stat="p_value")) == pytest.approx(stats.ttest_rel(other, base).pvalue)
    vr = (base.var(ddof=1) + other.var(ddof=1)) / d.var(ddof=1)
    assert float(p.sel(stat="var_reduction")) == pytest.approx(vr)


def test_paired_table_on_a_negative_reference_and_a_missing_one() -> None:
    """A loss made smaller is a positive relative change (it was -50%: 'better' and '50%
    worse' on the same row); a scenario keeps its own mean where the reference has no
    value (it was NaN, and its row left the table)."""
    cmp = xr.Dataset(
        {
            "profit": (("scenario", "replicate"), [[-100.0, -110, -90], [-50.0, -60, -40]]),
            "fulfilment_rate": (("scenario", "replicate"), [[np.nan] * 3, [0.9, 0.8, 0.7]]),
        },
        coords={"scenario": ["a", "b"], "replicate": [0, 1, 2]},
    )
    p = paired(cmp).sel(scenario="b")
    assert float(p.sel(kpi="profit", stat="diff")) == pytest.approx(50.0)
    assert float(p.sel(kpi="profit", stat="rel_diff")) == pytest.approx(0.5)
    assert float(p.sel(kpi="fulfilment_rate", stat="mean")) == pytest.approx(0.8)
    assert np.isnan(float(p.sel(kpi="fulfilment_rate", stat="diff")))


def test_best_plan_reads_the_variables_own_direction() -> None:
    """A subsidy per mechanism is a cost (its attrs say so; it is not in KPIS)."""
    from sim.comparison import best

    cmp = xr.Dataset(
        {"subsidy_coupon": (("scenario", "replicate"), [[1.0, 2, 3], [2.0, 3, 4]])},
        coords={"scenario": ["a", "b"], "replicate": [0, 1, 2]},
    )
    cmp["subsidy_coupon"].attrs["higher_is_better"] = 0
    assert best(cmp, "subsidy_coupon") == "a"


def test_table_numbers_keep_what_matters() -> None:
    """A variance reduction below 1 is not printed as 1x; a difference of 0.4 site-hours
    is not printed as 0."""
    from sim.render import diff_fmt, vr_fmt

    assert vr_fmt(0.5) == "0.5x" and vr_fmt(1062.7) == "1,063x" and vr_fmt(np.inf) == "exact"
    assert diff_fmt(0.4, "site-hours", "CNY", 3.0, signed=True) == "+0.4"
    assert diff_fmt(-3.0, "site-hours", "CNY", 3.0) == "-3"
    assert diff_fmt(0.25, "1", "CNY", 2_000_000, signed=True) == "+0.2"


def test_common_random_numbers_sharpen_a_small_plan_change() -> None:
    """A 10% deeper top threshold tier: the paired interval is much tighter than independent."""
    base = load_scenario(SMOKE)
    deeper = load_scenario(SMOKE, ["promotions.threshold.tiers[1].off=110"])
    cmp = compare(base, deeper, replicates=8, shoppers=N)
    vr = float(cmp["paired"].sel(scenario=cmp["scenario"][1], kpi="gmv", stat="var_reduction"))
    assert vr > 5
    same = compare(base, base, replicates=3, shoppers=N)
    assert float(abs(same["paired"].sel(kpi="gmv", stat="diff")).max()) == 0


# --- model sanity on the bundled baseline ----------------------------------------------------
BASELINE = "scenarios/double11_baseline.toml"
BIG = 250_000


@pytest.fixture(scope="module")
def baseline() -> xr.Dataset:
    return run(BASELINE, replicates=2, shoppers=BIG)


def test_orders_spike_at_the_flash_hours_and_peak_at_midnight_on_the_11th(
    baseline: xr.Dataset,
) -> None:
    o = baseline["orders"].sum(["segment", "region"]).mean("replicate")
    assert str(o["time"].values[int(np.argmax(o.values))]).startswith("2026-11-11T00:00")
    v, hod = o.values, o["time"].dt.hour.values
    days = o["time"].dt.strftime("%m-%d").values
    burst = np.isin(days, ["11-01", "11-02", "11-03"])
    for h0 in (0, 10, 20):  # a spike: above the hours before and after it, every burst day
        idx = np.flatnonzero((hod == h0) & burst)
        assert (v[idx] > v[idx - 1]).all() and (v[idx] > v[idx + 1]).all(), h0


def test_peak_day_carries_more_gmv_than_the_opening_burst(baseline: xr.Dataset) -> None:
    k = kpis(baseline)
    assert (k["gmv_peak"] > k["gmv_burst"]).all()


def test_threshold_tiers_raise_aov_and_subsidy(baseline: xr.Dataset) -> None:
    off = run(load_scenario(BASELINE, ["promotions.threshold.enabled=false"]), 2, shoppers=BIG)
    k, k0 = kpis(baseline), kpis(off)
    assert (k0["aov"] < k["aov"]).all()
    assert (k0["subsidy"] < k["subsidy"]).all()
    assert "subsidy_threshold" not in k0


def test_flash_heavy_without_surge_overloads_more(baseline: xr.Dataset) -> None:
    heavy = run("scenarios/double11_flash_heavy.toml", replicates=2, shoppers=BIG)
    k, kh = kpis(baseline), kpis(heavy)
    assert (kh["overload_hours"] > k["overload_hours"]).all()
    assert float(heavy["fulfilment_surge_staff"].sum()) == 0
    assert float(baseline["fulfilment_surge_staff"].sum()) > 0


# --- the commands -----------------------------------------------------------------------------
runner = CliRunner()


def test_run_then_kpis(tmp_path) -> None:
    out = tmp_path / "r.nc"
    res = runner.invoke(
        app, ["run", SMOKE, "--replicates", "3", "--shoppers", str(N), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "GMV" in res.output and "95% CI" in res.output and str(out) in res.output
    again = runner.invoke(app, ["kpis", str(out)])
    assert again.exit_code == 0 and "GMV" in again.output
    ds = load(out)
    assert ds.sizes["replicate"] == 3


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", SMOKE, "--precision", "150%"], "--precision"),
        (["run", SMOKE, "--kpi", "gvm"], "unknown KPI"),
        (["run", "missing.toml"], "missing.toml"),
        (["run", SMOKE, "--set", "population.shoppers=-1"], "population.shoppers"),
        (["run", SMOKE, "--out", f"{SMOKE}/r.nc"], "--out"),
        (["kpis", "missing.nc"], "missing.nc"),
        (["compare", SMOKE], "at least two"),
        (["run", SMOKE, "--seed", str(2**63)], "--seed"),
        (["simulate", SMOKE, "--seed", "-1"], "--seed"),
        (["compare", SMOKE, SMOKE, "--seed", str(2**63)], "--seed"),
        (["run", SMOKE, "--out", "/proc/promosim/r.nc"], "--out"),  # a folder nobody writes
        (["compare", SMOKE, SMOKE, "--out", "/proc/c.nc"], "--out"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(args: list[str], words: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert words in res.output
    assert "Traceback" not in res.output


def test_results_survive_a_failed_save(tmp_path, monkeypatch, capsys) -> None:
    """A save that fails after the run (a full disk) puts the results in a temporary
    folder and says where, rather than losing them."""
    import sim.results
    from sim.cli import save_results

    real, tried = sim.results.save, []

    def full_disk(ds: xr.Dataset, path):  # type: ignore[no-untyped-def]
        if not tried:
            tried.append(path)
            raise OSError(28, "No space left on device")
        return real(ds, path)

    monkeypatch.setattr(sim.results, "save", full_disk)
    out = tmp_path / "r.nc"
    ds = xr.Dataset({"gmv": ("replicate", [1.0, 2.0])})
    where = save_results(ds, out)
    assert tried == [out] and where != out and where.name == "r.nc"
    xr.testing.assert_identical(load(where), ds)
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(where) in err
    where.unlink()
    where.parent.rmdir()


def test_kpis_refuses_a_file_that_is_not_results(tmp_path) -> None:
    path = tmp_path / "x.nc"
    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(path)
    res = runner.invoke(app, ["kpis", str(path)])
    assert res.exit_code == 2 and "not promosim results" in res.output


def test_compare_command_marks_the_best_plan(tmp_path) -> None:
    variant = tmp_path / "deeper.toml"
    variant.write_text(
        f'base = "{__import__("pathlib").Path(SMOKE).resolve()}"\n'
        '[campaign]\nname = "Smoke, deeper tier"\n'
        "[promotions.threshold]\ntiers = [{ spend = 300, off = 50 }, { spend = 500, off = 110 }]\n"
    )
    res = runner.invoke(
        app, ["compare", SMOKE, str(variant), "--replicates", "3", "--shoppers", str(N)]
    )
    assert res.exit_code == 0, res.output
    assert "vs Smoke test" in res.output and "best plan by profit:" in res.output


def test_a_longer_delivery_promise_lowers_conversion() -> None:
    """Couriers cut to a tenth: the quoted promise grows and fewer visitors buy (paired)."""
    slow = load_scenario(
        SMOKE,
        ["fulfilment.couriers[0].count=30", "fulfilment.couriers[1].count=20"],
    )
    fast, late = run(SMOKE, 3, shoppers=N), run(slow, 3, shoppers=N)
    H = fast.sizes["time"]
    promise = late["fulfilment_promise"].isel(ftime=slice(0, H)).mean()
    assert float(promise) > 2 * float(fast["fulfilment_promise"].isel(ftime=slice(0, H)).mean())
    k, kl = kpis(fast), kpis(late)
    assert (kl["conversion"] < k["conversion"]).all()
    assert (kl["fulfilment_rate"] < k["fulfilment_rate"]).all()
    # without the feedback the shoppers do not see it: identical sales
    from sim.replicate import simulate_replicate

    plan = compile_plan(slow)
    a = simulate_replicate(plan, shoppers=N, feedback=False)
    b = simulate_replicate(compile_plan(load_scenario(SMOKE)), shoppers=N, feedback=False)
    assert np.array_equal(a["orders"], b["orders"])


@pytest.mark.parametrize("shoppers", [3000, 40_000])
def test_limited_stock_keeps_its_real_size_with_fewer_or_more_shoppers(shoppers: int) -> None:
    """Simulating fewer (or more) shoppers than the scenario's: each stands for more (or
    fewer) real ones, and flash stock, first-N and coupon quantities stay real-world."""
    s = load_scenario(SMOKE)
    ds = run(SMOKE, replicates=1, shoppers=shoppers)
    scale = ds.attrs["population_scale"]
    assert scale == pytest.approx(s.population.scale * s.population.shoppers / shoppers)
    for f in s.promotions.flash:
        assert float(ds["flash_slot_wins"].max()) <= f.stock + scale / 2
    for fn in s.promotions.first_n:
        assert float(ds["wins_by_first_n"].max()) <= fn.n + scale / 2
    for c in s.promotions.coupons:
        if c.quantity is not None:
            got = float(ds["claims_by_coupon"].sel(coupon=c.name).max())
            assert got <= c.quantity + scale / 2


def test_utc_coordinate_is_unique_and_hourly(smoke: xr.Dataset) -> None:
    for dim, coord in (("time", "utc"), ("ftime", "futc")):
        step = np.diff(smoke[coord].values).astype("timedelta64[s]").astype(int)
        assert (step == 3600).all(), dim


def test_trucks_cost_money_after_the_campaign_only_when_they_carry_orders() -> None:
    s = load_scenario(SMOKE, ["fulfilment.linehaul[0].cost_per_departure=1000"])
    ds = run(s, replicates=1, shoppers=N)
    cost = ds["fulfilment_linehaul_cost"].sum(["replicate", "site"]).values
    shipped = ds["fulfilment_shipped"].sum(["replicate", "site"]).values
    H = ds.sizes["time"]
    after = np.arange(len(cost)) >= H
    assert cost[~after].sum() > 0
    assert (cost[after & (shipped == 0)] == 0).all()


def test_formats_follow_what_a_kpi_is() -> None:
    from sim.render import diff_fmt, fmt

    assert fmt(1.2, "1") == "1.20"  # a ratio (ROI), not 120%
    assert fmt(0.193, "%") == "19.3%"
    assert diff_fmt(0.3, "1", "CNY", ref=1.2, signed=True) == "+0.3"
    assert diff_fmt(0.012, "%", "CNY", ref=0.2, signed=True) == "+1.2 pp"
    assert fmt(31e9, "CNY", "CNY") == "31 bn"
    k = kpis(run(SMOKE, replicates=2, shoppers=N))
    assert k["conversion"].attrs["display"] == "percent" and not k["roi"].attrs["display"]


def test_no_best_plan_when_the_kpi_is_undefined_everywhere() -> None:
    from sim.comparison import best

    cmp = xr.Dataset(
        {
            "fulfilment_rate": (("scenario", "replicate"), np.full((2, 3), np.nan)),
            "profit": (("scenario", "replicate"), [[1.0, 2, 3], [2.0, 3, 4]]),
        },
        coords={"scenario": ["a", "b"], "replicate": [0, 1, 2]},
    )
    assert best(cmp, "fulfilment_rate") is None
    assert best(cmp, "profit") == "b"


def test_an_interrupted_comparison_keeps_its_paired_replicates() -> None:
    """Ctrl-C (here: a progress callback that raises it) keeps the replicates every plan
    has finished, paired and marked partial, equal to those of an uninterrupted
    comparison; the plans take turns by blocks, so there are some to keep."""
    base = load_scenario(SMOKE)
    deeper = load_scenario(SMOKE, ["promotions.threshold.tiers[1].off=110"])

    def stop(done: int, planned: int) -> None:
        if done >= 21:  # block 1 of both plans (8 + 8), and 5 of block 2's first plan
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as got:
        compare(base, deeper, replicates=40, shoppers=N, progress=stop)
    part = got.value.partial
    assert part is not None and part.attrs["complete"] == 0
    assert list(part["replicate"].values) == list(range(8))
    whole = compare(base, deeper, replicates=8, shoppers=N)
    xr.testing.assert_equal(part["gmv"], whole["gmv"])
    xr.testing.assert_equal(part["paired"], whole["paired"])
