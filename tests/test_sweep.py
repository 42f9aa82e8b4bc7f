"""Sweeps on a real Dask LocalCluster: points, common random numbers, resume, CLI, sensitivity."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from sim.cli import app
from sim.metrics import kpis
from sim.runner import local_cluster, run
from sim.scenario import load_scenario
from sim.scenario.loader import load_raw
from sim.sweep import SweepError, open_sweep, sensitivity, sweep, tornado
from sim.sweep import store as st
from sim.sweep.execute import execute, point_task, prepare
from sim.sweep.store import locked

GRID = ["promotions.member.rate=0.02,0.08", "fulfilment.promise_hours=-1,36"]
KW = {"replicates": 2, "shoppers": 2000, "progress": False}


@pytest.fixture(scope="module")
def client():
    c, cluster = local_cluster(2)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def grid_store(client, tmp_path_factory, smoke_path):
    path = tmp_path_factory.mktemp("sweep") / "grid.zarr"
    ds = sweep(smoke_path, GRID, store=path, client=client, hourly=True, **KW)
    return path, ds


def test_points_are_the_scenario_runs_with_common_random_numbers(grid_store, smoke_path):
    _, ds = grid_store
    assert ds.sizes == {
        "point": 4,
        "replicate": 2,
        "kpi": ds.sizes["kpi"],
        "parameter": 2,
        "time": 120,
    }
    assert ds["status"].values.tolist() == [st.INVALID, st.OK, st.INVALID, st.OK]
    assert "fulfilment.promise_hours: Input should be greater than 0 (given: -1)" in str(
        ds["error"].values[0]
    )
    # point 3 is exactly the scenario run on its own with the same seed and replicates
    direct = run(
        load_scenario(smoke_path, ["promotions.member.rate=0.08", "fulfilment.promise_hours=36"]),
        replicates=2,
        shoppers=2000,
        seed=7,
    )
    k = kpis(direct)
    for name in ("gmv", "profit", "orders", "fulfilment_rate"):
        np.testing.assert_array_equal(ds["kpis"].sel(point=3, kpi=name).values, k[name].values)
    np.testing.assert_array_equal(
        ds["gmv_hourly"].sel(point=3).values, direct["gmv"].sum(["segment", "region"]).values
    )
    # same replicate numbers at every point: the member rate's effect is sharp
    gmv = ds["kpis"].sel(kpi="gmv")
    assert ds["replicate"].values.tolist() == [0, 1]
    assert ds["promotions.member.rate"].values.tolist() == [0.02, 0.02, 0.08, 0.08]
    assert np.isfinite(gmv.sel(point=[1, 3])).all()


def test_rerun_computes_only_points_without_done(grid_store, client, smoke_path, tmp_path):
    path, ds = grid_store
    copy = tmp_path / "copy.zarr"
    import shutil

    shutil.copytree(path, copy)
    g = st._open_group(copy)
    g["kpis"][3] = np.full(g["kpis"].shape[1:], -1.0)  # a half-written point ...
    g["done"][3] = 0  # ... whose flag was never set
    prep = prepare(smoke_path, GRID, replicates=2, shoppers=2000, hourly=True)
    with locked(copy):
        stats = execute(prep, copy, client=client, progress=False)
    assert stats["todo"] == [3]
    again = open_sweep(copy)
    for v in ("kpis", "gmv_hourly", "orders_hourly", "error", "status", "done", "param_value"):
        np.testing.assert_array_equal(again[v].values, ds[v].values)
    with locked(copy):
        assert execute(prep, copy, client=client, progress=False)["todo"] == []


def test_resuming_with_other_code_warns(grid_store, client, smoke_path, tmp_path):
    """The spec says what is computed, the code fingerprint by what: a store whose points
    came from other code can still be resumed, but not silently."""
    import shutil

    from sim._version import code_fingerprint

    path, _ = grid_store
    assert st.read_attrs(path)["promosim_code"] == code_fingerprint()
    copy = tmp_path / "old_code.zarr"
    shutil.copytree(path, copy)
    st._open_group(copy).attrs["promosim_code"] = "000000000000"
    prep = prepare(smoke_path, GRID, replicates=2, shoppers=2000, hourly=True)
    logged: list[str] = []
    with locked(copy):
        execute(prep, copy, client=client, progress=False, log=logged.append)
    assert any("other promosim code (code 000000000000" in m for m in logged)
    logged.clear()
    with locked(path):
        execute(prep, path, client=client, progress=False, log=logged.append)
    assert not any("other promosim code" in m for m in logged)


def test_sweep_commands_refuse_what_is_not_a_store(tmp_path, smoke_path):
    runner = CliRunner()
    plain = tmp_path / "plain"
    plain.mkdir()
    res = runner.invoke(app, ["sweep-export", str(plain), "--out", str(tmp_path / "x.nc")])
    assert res.exit_code == 2 and "not a sweep store" in res.output, res.output
    args = ["sweep", str(smoke_path), "-p", "promotions.member.rate=0.02,0.08"]
    res = runner.invoke(app, [*args, "--store", str(tmp_path / "nodir" / "s.zarr")])
    assert res.exit_code == 2 and "does not exist" in res.output, res.output
    assert not (tmp_path / "nodir").exists()


def test_a_different_sweep_is_refused(grid_store, client, smoke_path):
    path, _ = grid_store
    with pytest.raises(SweepError, match="holds a different sweep"):
        sweep(smoke_path, GRID, store=path, client=client, **{**KW, "replicates": 3})


def test_a_grid_of_lists_resumes_with_another_n(grid_store, client, smoke_path):
    """--n only spaces ranges: the same grid of lists with another --n is the same sweep
    (it was refused, the spec having recorded the first --n)."""
    path, ds = grid_store
    again = sweep(smoke_path, GRID, store=path, client=client, hourly=True, n=7, **KW)
    np.testing.assert_array_equal(again["kpis"].values, ds["kpis"].values)


def test_a_point_whose_task_never_finishes_stays_pending(smoke_path, tmp_path, monkeypatch):
    """A task that Dask cannot finish (its workers died past the retries, the scheduler
    went away) is not the point's fault: nothing is written, the point stays pending and
    a rerun computes it (point_task reports a point's own errors as FAILED itself)."""
    from dask.distributed import Client, LocalCluster

    import sim.sweep.execute as ex

    def lost(*args, **kwargs):  # what the driver sees of a task that could not finish
        raise RuntimeError("worker lost")

    prep = prepare(smoke_path, ["promotions.member.rate=0.02,0.08"], replicates=1, shoppers=500)
    path = tmp_path / "s.zarr"
    logged: list[str] = []
    with (
        LocalCluster(processes=False, n_workers=1, threads_per_worker=1) as cluster,
        Client(cluster) as c,
    ):
        monkeypatch.setattr(ex, "point_task", lost)
        with locked(path):
            stats = execute(prep, path, client=c, progress=False, log=logged.append)
        assert sorted(stats["lost"]) == [0, 1] and stats["computed"] == 0
        assert not st.status(path)[0].any()
        assert any("point 1: not computed (RuntimeError: worker lost)" in m for m in logged)
        monkeypatch.undo()
        with locked(path):
            again = execute(prep, path, client=c, progress=False, log=logged.append)
    assert sorted(again["todo"]) == [0, 1] and again["lost"] == []
    assert st.status(path)[0].all()


def test_a_failing_point_is_recorded():
    raw, _ = load_raw(Path(__file__).parent.parent / "scenarios" / "smoke.toml")
    out = point_task(raw, {"population.shoppers": "many"}, [0], 7, 1000, ["gmv"], None)
    assert out["status"] == st.FAILED
    assert out["error"].startswith("ValidationError") and "population.shoppers" in out["error"]


def test_export_and_status_commands(grid_store, tmp_path):
    path, ds = grid_store
    runner = CliRunner()
    res = runner.invoke(app, ["sweep-export", str(path), "--out", str(tmp_path / "s.nc")])
    assert res.exit_code == 0, res.output
    nc = xr.open_dataset(tmp_path / "s.nc")
    np.testing.assert_array_equal(nc["kpis"].values, ds["kpis"].values)
    assert nc.attrs["spec_sha256"] == ds.attrs["spec_sha256"]
    res = runner.invoke(app, ["sweep-status", str(path)])
    assert res.exit_code == 0 and "2 ok, 2 invalid, 0 failed, 0 pending" in res.output


def test_sensitivity_morris(client, smoke_path, tmp_path):
    params = ["promotions.member.rate=0.0:0.1", "population.segments[new].visit_rate=0.2:0.6"]
    ds = sweep(
        smoke_path,
        params,
        "morris",
        2,
        store=tmp_path / "m.zarr",
        client=client,
        replicates=1,
        shoppers=1500,
        progress=False,
    )
    assert ds.sizes["point"] == 2 * 3 and bool(ds["done"].all())
    res = sensitivity(ds, ["gmv", "profit"])
    assert res["value"].dims == ("kpi", "parameter", "index")
    assert res["index"].values.tolist() == ["mu_star", "sigma", "mu"]
    assert np.isfinite(res["value"].sel(index="mu_star")).all()
    bars = tornado(res, "gmv")
    assert bars.dims == ("parameter",) and (np.diff(bars.values) <= 0).all()
    assert res["value"].sel(kpi="gmv").dims == ("parameter", "index")
    out = CliRunner().invoke(app, ["sensitivity", str(tmp_path / "m.zarr"), "--kpi", "gmv"])
    assert out.exit_code == 0 and "visit_rate" in out.output and "[new]" in out.output


def test_sobol_intervals_are_seeded_whatever_the_seed(client, smoke_path, tmp_path):
    """SALib's Sobol' bootstrap ignores a seed of 0 (numpy's global generator then)."""
    params = ["promotions.member.rate=0.0:0.1", "promotions.red_envelope.task_probability=0.1:0.5"]
    ds = sweep(
        smoke_path, params, "sobol", 4, store=tmp_path / "s.zarr", client=client,
        replicates=1, shoppers=1000, progress=False, seed=0,
    )  # fmt: skip
    a, b = sensitivity(ds, ["gmv"]), sensitivity(ds, ["gmv"])
    assert np.isfinite(a["conf"].values).all()
    xr.testing.assert_identical(a, b)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--param", "promotions.member.rate"], "KEY=V1,V2"),
        (["--param", "promotions.member.rate=0:0.1"], "needs --n"),
        (["--param", "promotions.nope=1,2", "--design", "lhs", "--n", "2"], "unknown key"),
        (["--param", "a=1,2", "--workers", "2", "--scheduler", "tcp://x:1"], "choose one"),
        (["--param", "a=1,2", "--design", "box"], "unknown design"),
        (["--param", "population.shoppers=1000,2000", "--shoppers", "500"], "--shoppers"),
    ],
)
def test_sweep_command_errors(args, says, smoke_path, tmp_path):
    res = CliRunner().invoke(
        app, ["sweep", str(smoke_path), "--store", str(tmp_path / "x.zarr"), *args]
    )
    assert res.exit_code == 2, res.output
    assert says in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.zarr").exists()


def test_other_command_errors(grid_store, smoke_path, tmp_path):
    path, _ = grid_store
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "sweep",
            str(smoke_path),
            "--store",
            str(path),
            "--param",
            GRID[0],
            "--param",
            GRID[1],
            "--replicates",
            "3",
            "--shoppers",
            "2000",
        ],
    )
    assert res.exit_code == 2 and "holds a different sweep" in res.output
    assert "replicates: store has [0, 1], this sweep [0, 1, 2]" in res.output
    res = runner.invoke(app, ["sensitivity", str(path)])
    assert res.exit_code == 2 and "this sweep is a grid" in res.output
    prep = prepare(smoke_path, ["promotions.member.rate=0.02,0.08"], replicates=1)
    from sim.sweep.execute import init_store

    init_store(prep, tmp_path / "new.zarr")
    res = runner.invoke(
        app, ["sweep-export", str(tmp_path / "new.zarr"), "--out", str(tmp_path / "n.nc")]
    )
    assert res.exit_code == 2 and "2 of 2 points are not done" in res.output
    assert not (tmp_path / "n.nc").exists()


def test_jobqueue_job_script_sets_numba_threads():
    pytest.importorskip("dask_jobqueue")
    from sim.sweep import jobqueue_cluster

    cluster = jobqueue_cluster(
        "slurm",
        queue="short",
        cores=8,
        memory="16GB",
        walltime="01:00:00",
        jobs=0,
        prologue=["module load python"],
    )
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "export NUMBA_NUM_THREADS=1" in script and "module load python" in script
    assert "#SBATCH -p short" in script and "--nworkers 8" in script and "--nthreads 1" in script


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from sim.cli import main; main()", *args]


def test_driver_killed_mid_sweep_resumes_to_identical_results(client, smoke_path, tmp_path):
    """SIGKILL the `promosim sweep` process once a point is written; rerun; compare."""
    store = tmp_path / "k.zarr"
    args = [
        "sweep",
        str(smoke_path),
        "--param",
        "promotions.member.rate=0.01,0.07",
        "--param",
        "population.segments[new].visit_rate=0.3,0.5",
        "--replicates",
        "2",
        "--shoppers",
        "3000",
        "--store",
        str(store),
        "--workers",
        "2",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        _cli(*args),
        start_new_session=True,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if store.exists():
                done = int(st.status(store)[0].sum())
                if done >= 1:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the cluster it started (its own session)
    before = int(st.status(store)[0].sum())
    assert 1 <= before < 4
    assert (tmp_path / "k.zarr.lock").exists()  # a stale lock of a dead process: taken over
    out = subprocess.run(_cli(*args), capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"computed {4 - before} point(s)" in out.stdout
    resumed = open_sweep(store)
    clean = sweep(
        smoke_path,
        [args[3], args[5]],
        store=tmp_path / "clean.zarr",
        client=client,
        replicates=2,
        shoppers=3000,
        progress=False,
    )
    assert resumed.attrs["spec_sha256"] == clean.attrs["spec_sha256"]
    for v in ("kpis", "error", "status", "done", "param_value"):
        np.testing.assert_array_equal(resumed[v].values, clean[v].values)
