"""Fault tests with real processes: a Dask worker killed mid-point (slow)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from sim.sweep import open_sweep
from sim.sweep import store as st

psutil = pytest.importorskip("psutil")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from sim.cli import main; main()", *args]


def _run_and_kill_a_worker(args: list[str], store) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        _cli(*args),
        start_new_session=True,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and not killed:
        if store.exists() and st.status(store)[0].sum() >= 1:
            workers = [
                p
                for p in psutil.Process(proc.pid).children(recursive=True)
                if "spawn_main" in " ".join(p.cmdline())
            ]
            busy = [w for w in workers if w.cpu_percent(interval=0.2) > 50]
            if busy:
                os.kill(busy[0].pid, signal.SIGKILL)  # a worker mid-point
                killed = busy[0].pid
        time.sleep(0.1)
    return proc, killed


@pytest.mark.slow
def test_killed_worker_is_retried_and_nothing_is_lost(smoke_path, tmp_path):
    base = [
        "sweep",
        str(smoke_path),
        "--param",
        "promotions.member.rate=0.01,0.03,0.05,0.07",
        "--replicates",
        "3",
        "--shoppers",
        "6000",
        "--workers",
        "2",
    ]
    store = tmp_path / "w.zarr"
    proc, killed = _run_and_kill_a_worker([*base, "--store", str(store)], store)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert killed, "no busy worker found to kill"
    assert proc.returncode == 0, err
    assert "4 ok, 0 invalid, 0 failed, 0 pending" in out
    clean_store = tmp_path / "clean.zarr"
    clean = subprocess.run(
        _cli(*base, "--store", str(clean_store)), capture_output=True, text=True, timeout=300
    )
    assert clean.returncode == 0, clean.stderr
    a, b = open_sweep(store), open_sweep(clean_store)
    for v in ("kpis", "error", "status", "done"):
        np.testing.assert_array_equal(a[v].values, b[v].values)
