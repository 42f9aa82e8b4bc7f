"""The sweep store: created whole, points written with `done` last, resumable, guarded."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from sim.sweep import store as st
from sim.sweep.design import SweepError

SPEC = {"format": 1, "params": ["a=1,2,3"], "design": "grid", "seed": 1}


def _make(path, invalid=None, hourly=False):
    n = 3
    st.create(
        path,
        SPEC,
        {"title": "t", "seed": 1},
        replicates=[0, 1],
        kpis=[("gmv", "CNY", "GMV"), ("roi", "1", "ROI")],
        parameters=["a"],
        param_value=np.array([[1.0], [2.0], [3.0]]),
        param_label=np.array([["1"], ["2"], ["3"]]),
        design_sample=np.array([[1.0], [2.0], [3.0]]),
        invalid=invalid or {},
        times=np.arange("2026-11-11T00", "2026-11-11T04", dtype="datetime64[h]").astype(
            "datetime64[ns]"
        )
        if hourly
        else None,
    )
    return n


def test_create_write_open(tmp_path):
    path = tmp_path / "s.zarr"
    _make(path, invalid={2: "invalid scenario: a: too big"}, hourly=True)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary folder left
    done, status, _ = st.status(path)
    assert done.tolist() == [False, False, True]
    assert status.tolist() == [st.PENDING, st.PENDING, st.INVALID]
    w = st.Writer(path)
    k = np.array([[1.5, 0.5], [2.5, 0.25]])
    hourly = np.arange(8.0).reshape(2, 4)
    w.write(0, {"kpis": k, "gmv_hourly": hourly, "orders_hourly": hourly, "status": st.OK})
    w.write(1, {"status": st.FAILED, "error": "ValueError: boom"})
    ds = st.open_sweep(path)
    assert ds["done"].values.tolist() == [True, True, True]
    np.testing.assert_array_equal(ds["kpis"].sel(point=0).values, k)
    assert np.isnan(ds["kpis"].sel(point=1).values).all()
    assert ds["error"].values.tolist() == ["", "ValueError: boom", "invalid scenario: a: too big"]
    assert ds["kpi"].values.tolist() == ["gmv", "roi"]
    assert ds["kpi_units"].values.tolist() == ["CNY", "1"]
    assert ds["a"].values.tolist() == [1.0, 2.0, 3.0]  # the parameter as a coordinate
    assert str(ds["time"].values[1]).startswith("2026-11-11T01")
    np.testing.assert_array_equal(ds["gmv_hourly"].sel(point=0).values, hourly)
    assert ds.attrs["spec_sha256"] == st.spec_sha256(SPEC)


def test_done_is_written_last(tmp_path):
    """A driver killed between the KPI write and the flag leaves the point pending."""
    path = tmp_path / "s.zarr"
    _make(path)
    w = st.Writer(path)

    class Boom(Exception):
        pass

    class Exploding:
        def __setitem__(self, key, value):
            raise Boom

    w.arrays["status"] = Exploding()
    with pytest.raises(Boom):
        w.write(0, {"kpis": np.ones((2, 2)), "status": st.OK})
    done, _, _ = st.status(path)
    assert not done[0]  # the KPIs were written, the flag was not: recomputed on resume


def test_another_spec_is_refused(tmp_path):
    path = tmp_path / "s.zarr"
    _make(path)
    st.check_spec(path, dict(SPEC))
    with pytest.raises(SweepError, match=r"holds a different sweep") as err:
        st.check_spec(path, {**SPEC, "seed": 2})
    assert any("seed: store has 1, this sweep 2" in line for line in err.value.errors)
    (tmp_path / "plain").mkdir()
    with pytest.raises(SweepError, match="not a"):
        st.read_spec(tmp_path / "plain")


def test_a_grid_with_the_same_points_is_the_same_sweep(tmp_path):
    """A grid of lists records the --n it was given, which only spaces ranges: a rerun
    with another --n (same points) resumes; other points or a range design are refused."""
    path = tmp_path / "s.zarr"
    spec = {**SPEC, "design_options": {"n": 5}, "points": 3, "points_sha256": "abc"}
    st.create(
        path, spec, {"title": "t", "seed": 1}, replicates=[0], kpis=[("gmv", "CNY", "GMV")],
        parameters=["a"], param_value=np.array([[1.0], [2.0], [3.0]]),
        param_label=np.array([["1"], ["2"], ["3"]]), design_sample=np.array([[1.0], [2.0], [3.0]]),
        invalid={},
    )  # fmt: skip
    st.check_spec(path, {**spec, "design_options": {"n": 9}})
    with pytest.raises(SweepError, match="holds a different sweep"):
        st.check_spec(path, {**spec, "design_options": {"n": 9}, "points_sha256": "def"})
    with pytest.raises(SweepError, match="holds a different sweep"):
        st.check_spec(path, {**spec, "design": "lhs", "design_options": {"n": 9}})


def test_lock_keeps_a_second_driver_out(tmp_path):
    path = tmp_path / "s.zarr"
    with (
        st.locked(path),
        pytest.raises(SweepError, match="in use by another sweep"),
        st.locked(path),
    ):
        pass
    assert not (tmp_path / "s.zarr.lock").exists()
    # a lock left by a dead process on this host is taken over
    dead = os.fork()
    if dead == 0:  # pragma: no cover
        os._exit(0)
    os.waitpid(dead, 0)
    (tmp_path / "s.zarr.lock").write_text(f"{socket.gethostname()} {dead}\n")
    with st.locked(path):
        pass
