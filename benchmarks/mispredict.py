"""What a random decision costs this machine: the price of a mispredicted branch.

    python benchmarks/mispredict.py

A session of the shopper model takes about ten decisions on random draws
(``if uniform(key, counter) < p``). No branch predictor can learn such a branch:
it misses on about min(p, 1 - p) of the draws. This VM has no hardware counters
(``perf stat -e branch-misses`` is not supported), so the cost is measured
directly: a loop over the project's own generator (``sim.rng.uniform``) whose
branch, taken with probability p, guards a store (so it cannot be compiled into
a select). The extra time at p = 0.5 over the mean of p = 0 and p = 1 (both
predicted perfectly) is the cost of a miss on half of the draws. The loop's
iterations are independent, so the figure counts the pipeline's penalty and the
overlap with the next draws that a miss throws away; in code whose work overlaps
less, a miss may cost less.

Prints the figures, and as its last line one JSON object; also writes
benchmarks/results/mispredict.json. Keys: ns_per_iteration (median of five runs,
by p), ns_per_mispredict.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim import rng as R  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import provenance  # noqa: E402

N = 20_000_000
PS = (0.0, 0.1, 0.5, 1.0)


@njit(cache=True, nogil=True)
def _loop(n: int, p: float, key: np.uint64, out: np.ndarray) -> int:
    y = 0
    for i in range(n):
        u = R.uniform(key, i)
        if u < p:
            out[i & 1023] += u  # a store: the branch cannot become a select
        else:
            y ^= i
    return y


def main() -> None:
    started = provenance()  # the code and machine as the run starts
    key = np.uint64(12345)
    out = np.zeros(1024)
    for p in PS:
        _loop(1000, p, key, out)  # compile / load the cache
    runs: dict[float, list[float]] = {p: [] for p in PS}
    for _ in range(5):  # interleaved: the machine's speed drifts
        for p in PS:
            t = time.perf_counter()
            _loop(N, p, key, out)
            runs[p].append((time.perf_counter() - t) / N * 1e9)
    med = {p: statistics.median(v) for p, v in runs.items()}
    extra = med[0.5] - (med[0.0] + med[1.0]) / 2
    per_miss = extra / 0.5
    for p in PS:
        print(f"p = {p:<4}  {med[p]:6.2f} ns per draw and branch")
    print(f"a mispredicted branch: {per_miss:.1f} ns (p = 0.5 misses on about half of the draws)")
    result = {
        "benchmark": "mispredict",
        **started,
        "ns_per_iteration": {str(p): round(v, 2) for p, v in med.items()},
        "ns_per_mispredict": round(per_miss, 1),
    }
    line = json.dumps(result)
    print(line)
    dest = ROOT / "benchmarks" / "results" / "mispredict.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
