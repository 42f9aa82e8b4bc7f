"""The machine's own ceiling for parallel replicates: independent one-thread processes.

Used by end_to_end.py and sweep.py. On a VM whose second vCPU changes speed from
minute to minute, a speed-up measured for Dask workers means little alone; run in
the same minutes, the same work split over independent processes (no Dask, no
threads, nothing shared) says what the machine gave two workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# one process: runs a replicate of the same size first (a fresh process's first
# replicate is slower: numba loads from its cache the kernels the run needs; the other
# arms' processes are warm), says it is ready, waits for the go, runs its replicates
# with one thread and says it is done
_CHILD = """
import sys
from sim import compile_plan, load_scenario
from sim.runner import run
plan = compile_plan(load_scenario(sys.argv[1]))
run(plan, 1, shoppers=int(sys.argv[2]))
print("ready", flush=True)
sys.stdin.readline()
run(plan, [int(r) for r in sys.argv[3].split(",")], shoppers=int(sys.argv[2]))
print("done", flush=True)
"""


def concurrent_runs(
    scenario: Path, shoppers: int, shares: Sequence[Sequence[int]], timeout: float = 1800.0
) -> float:
    """Seconds for one independent one-thread process per share (a list of replicate
    numbers) to run its share with ``sim.run``: from the go, given to all once all are
    ready, until all are done (an interpreter's exit is not work). Processes still
    running after ``timeout`` seconds in all are killed and the benchmark fails with a
    message that says so (Ctrl-C kills them too)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=path)
    procs: list[subprocess.Popen[str]] = []
    expired = threading.Event()

    def kill_all() -> None:  # the watchdog: a hung process must not hang the benchmark
        expired.set()
        for p in procs:
            if p.poll() is None:
                p.kill()

    def expect(k: int, word: str) -> None:
        p = procs[k]
        assert p.stdout is not None
        line = p.stdout.readline().strip()
        if line != word and expired.is_set():
            raise RuntimeError(
                f"ceiling processes ({scenario.name} at {shoppers:,} shoppers) still running "
                f"after {timeout:.0f} s: killed"
            )
        if line != word:
            p.kill()
            code = p.wait()
            raise RuntimeError(
                f"ceiling process {k} ({len(shares[k])} replicates of {scenario.name} at "
                f"{shoppers:,} shoppers) printed {line!r} instead of {word!r} and exited "
                f"with code {code}; its traceback is above"
            )

    watchdog = threading.Timer(timeout, kill_all)
    watchdog.daemon = True
    watchdog.start()
    try:
        for share in shares:
            argv = [sys.executable, "-c", _CHILD, str(scenario), str(shoppers)]
            argv.append(",".join(map(str, share)))
            procs.append(
                subprocess.Popen(
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
                )
            )
        for k in range(len(procs)):
            expect(k, "ready")
        t0 = time.perf_counter()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for k in range(len(procs)):
            expect(k, "done")
        dt = time.perf_counter() - t0
        for p in procs:
            p.wait()
        return dt
    finally:
        watchdog.cancel()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
