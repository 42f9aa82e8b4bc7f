"""Shopper-model throughput and memory on the bundled Double 11 baseline.

    python benchmarks/shoppers.py            # 1 M and 10 M shoppers, 3 runs each (minutes)
    python benchmarks/shoppers.py --quick    # a small version, under a minute once compiled
    python benchmarks/shoppers.py --big      # also 100 M shoppers for 24 epochs (memory)

Prints its figures, and as its last line one JSON object; also writes
benchmarks/results/shoppers.json. All ratios are measured in the same run.

Keys: sessions_per_s (both threads, largest size), sessions_per_shopper,
peak_rss_mb, bytes_per_shopper (state + accumulators), reference_ratio
(numba / the pure-Python reference, same logic, small N, one thread; the median
of three back-to-back pairs),
mesa_ratio (numba / a Mesa model of the same decisions, busiest hours),
rng_limit_fraction (sessions/s divided by the RNG-bound limit: uniform draws/s
of the generator on the same threads / draws per session).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

# OpenBLAS's idle threads spin on the cores the kernels use (seen in perf profiles)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim import compile_plan, load_scenario, rng  # noqa: E402
from sim.shoppers import ShopperModel  # noqa: E402
from sim.shoppers.state import state_bytes  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import provenance  # noqa: E402

BASELINE = ROOT / "scenarios" / "double11_baseline.toml"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_model(plan, shoppers: int, threads: int, epochs: int | None = None) -> dict:
    t0 = time.perf_counter()
    m = ShopperModel(plan, shoppers=shoppers, threads=threads)
    t1 = time.perf_counter()
    n_epochs = plan.calendar.hours if epochs is None else epochs
    for _ in range(n_epochs):
        m.step()
    t2 = time.perf_counter()
    sessions = int(m.counters[..., 0].sum())
    accum = sum(
        a.nbytes
        for a in (
            m.counters, m.mechanisms, m._part, m._part_mech, m._part_cpn, m._part_msg,
            m._scratch, m._pend_count, m._resume, m._bits, *m._pend,
        )
    )  # fmt: skip
    m.close()
    return {
        "shoppers": shoppers,
        "threads": threads,
        "epochs": n_epochs,
        "init_s": t1 - t0,
        "run_s": t2 - t1,
        "sessions": sessions,
        "candidates": int(m.state.cand.astype(np.int64).sum()),
        "sessions_per_s": sessions / (t2 - t1),
        "sessions_per_shopper": sessions / shoppers,
        "state_bytes_per_shopper": state_bytes(m.state) / shoppers,
        "bytes_per_shopper": (state_bytes(m.state) + accum) / shoppers,
    }


def median_run(plan, shoppers: int, threads: int, repeats: int) -> dict:
    """The run with the median time of `repeats` (the machine is noisy); all times kept."""
    runs = sorted((run_model(plan, shoppers, threads) for _ in range(repeats)),
                  key=lambda r: r["run_s"])  # fmt: skip
    med = dict(runs[len(runs) // 2])
    med["run_s_all"] = [r["run_s"] for r in runs]
    return med


def rng_draws_per_s(threads: int, n: int = 20_000_000, repeats: int = 3) -> float:
    """Uniform draws per second of the counter-based generator, on `threads` threads
    (median of `repeats`)."""
    from concurrent.futures import ThreadPoolExecutor

    out = [np.empty(n) for _ in range(threads)]
    key = rng.stream_keys(1, 0)[0]
    rng.fill_uniform(key, 0, 0, out[0][:10])  # compile
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda k: rng.fill_uniform(key, k, 0, out[k]), range(threads)))
        rates.append(threads * n / (time.perf_counter() - t))
    return float(np.median(rates))


def draws_per_session(plan, shoppers: int) -> float | None:
    """Exact uniform draws per session, counted on the pure-Python reference."""
    try:
        from sim.shoppers import reference
    except ImportError:
        return None
    counts = {"n": 0}
    names = ("uniform", "uniform_open", "exponential", "normal", "poisson_small", "alias_draw")
    per_call = {"normal": 2}
    originals = {}
    mod = reference.R if hasattr(reference, "R") else reference.rng

    for name in names:
        f = getattr(mod, name)
        originals[name] = f

        def counted(*a, _f=f, _name=name):
            counts["n"] += per_call.get(_name, 1)
            return _f(*a)

        setattr(mod, name, counted)
    try:
        out = reference.ReferenceModel(plan, shoppers=shoppers).run()
    finally:
        for name, f in originals.items():
            setattr(mod, name, f)
    return counts["n"] / max(int(np.sum(out["sessions"])), 1)


def reference_ratio(shoppers: int) -> dict | None:
    try:
        from sim.shoppers.reference import ReferenceModel
    except ImportError:
        return None
    plan = compile_plan(load_scenario(ROOT / "scenarios" / "smoke.toml"))
    # three pairs run back to back (the machine's speed drifts): a reference run, then
    # the median of five numba runs (a short run); the median of the pairs' ratios
    ref_times, nb_times = [], []
    for _ in range(3):
        t = time.perf_counter()
        ref = ReferenceModel(plan, shoppers=shoppers).run()
        ref_times.append(time.perf_counter() - t)
        times = []
        for _ in range(5):
            m = ShopperModel(plan, shoppers=shoppers, threads=1)
            t = time.perf_counter()
            out = m.run()
            times.append(time.perf_counter() - t)
        nb_times.append(float(np.median(times)))
    s = int(np.sum(out["sessions"]))
    assert s == int(np.sum(ref["sessions"])), "reference and numba disagree"
    ratios = [a / b for a, b in zip(ref_times, nb_times, strict=True)]
    return {"shoppers": shoppers, "sessions": s, "reference_s": float(np.median(ref_times)),
            "numba_s": float(np.median(nb_times)), "ratio": float(np.median(ratios)),
            "ratio_pairs": ratios}  # fmt: skip


def mesa_ratio(plan, shoppers: int, numba_sessions_per_s_1thread: float) -> dict | None:
    try:
        from benchmarks.mesa_shoppers import mesa_sessions_per_second
    except ImportError:
        try:
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from mesa_shoppers import mesa_sessions_per_second  # type: ignore[no-redef]
        except ImportError:
            return None
    try:
        res = mesa_sessions_per_second(plan, shoppers)
    except RuntimeError as exc:  # mesa not installed
        print(f"mesa: {exc}", file=sys.stderr)
        return None
    res["ratio"] = numba_sessions_per_s_1thread / res["sessions_per_s"]
    return res


def big_only(plan, threads: int) -> None:
    """100 M shoppers for 24 epochs: does the state fit in 8 GB?"""
    run_model(plan, 2_000, 1, epochs=3)  # compile
    big = run_model(plan, 100_000_000, threads, epochs=24)
    big["peak_rss_mb"] = peak_rss_mb()
    print(
        f"100 M shoppers, 24 epochs: {big['run_s']:.1f} s (init {big['init_s']:.1f} s), "
        f"state {big['state_bytes_per_shopper']:.1f} B/shopper, "
        f"peak RSS {big['peak_rss_mb']:.0f} MB"
    )
    out = ROOT / "benchmarks" / "results" / "shoppers.json"
    result = json.loads(out.read_text()) if out.exists() else {}
    big["provenance"] = provenance()  # may differ from the main run's
    result["big"] = big
    result["peak_rss_mb_100m"] = big["peak_rss_mb"]
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"peak_rss_mb_100m": big["peak_rss_mb"], "shoppers": big["shoppers"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes; under a minute")
    ap.add_argument("--big", action="store_true", help="also 100 M shoppers for 24 epochs")
    ap.add_argument(
        "--big-only",
        action="store_true",
        help="only the 100 M check, merged into the recorded results/shoppers.json",
    )
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeats", type=int, default=3, help="runs per size; the median is kept")
    args = ap.parse_args()
    plan = compile_plan(load_scenario(BASELINE))
    if args.big_only:
        big_only(plan, args.threads)
        return
    sizes = [200_000] if args.quick else [1_000_000, 10_000_000]

    # warm up (compile) on a tiny run so timings exclude compilation
    run_model(plan, 2_000, 1, epochs=3)
    result: dict = provenance()
    runs = []
    for n in sizes:
        for th in sorted({1, args.threads}):
            r = median_run(plan, n, th, max(1, args.repeats))
            runs.append(r)
            print(
                f"{n:>11,} shoppers {th} thread(s): {r['sessions']:>12,} sessions in "
                f"{r['run_s']:7.2f} s (median of {len(r['run_s_all'])}) = "
                f"{r['sessions_per_s'] / 1e6:6.2f} M/s "
                f"(init {r['init_s']:.2f} s, {r['sessions_per_shopper']:.1f} sessions/shopper, "
                f"{r['candidates'] / r['sessions']:.2f} candidates/session, "
                f"{r['bytes_per_shopper']:.1f} B/shopper)"
            )
    top = [r for r in runs if r["shoppers"] == sizes[-1]]
    best = max(top, key=lambda r: r["sessions_per_s"])
    one = min(top, key=lambda r: r["threads"])
    result["runs"] = runs
    result["sessions_per_s"] = best["sessions_per_s"]
    result["sessions_per_shopper"] = best["sessions_per_shopper"]
    result["bytes_per_shopper"] = best["bytes_per_shopper"]
    result["thread_speedup"] = best["sessions_per_s"] / one["sessions_per_s"]

    draws = rng_draws_per_s(best["threads"])
    dps = draws_per_session(compile_plan(load_scenario(BASELINE)), 1_000)
    result["rng_draws_per_s"] = draws
    result["draws_per_session"] = dps
    result["rng_limit_fraction"] = (
        best["sessions_per_s"] / (draws / dps) if dps is not None else None
    )
    print(f"RNG: {draws / 1e6:.0f} M draws/s on {best['threads']} thread(s); "
          f"{dps if dps is None else round(dps, 1)} draws/session")  # fmt: skip

    ref = reference_ratio(2_000 if args.quick else 5_000)
    result["reference"] = ref
    result["reference_ratio"] = ref["ratio"] if ref else None
    if ref:
        print(f"reference: {ref['reference_s']:.2f} s vs numba {ref['numba_s']:.3f} s "
              f"-> ratio {ref['ratio']:.0f}")  # fmt: skip

    mesa = mesa_ratio(plan, 5_000 if args.quick else 20_000, one["sessions_per_s"])
    result["mesa"] = mesa
    result["mesa_ratio"] = mesa["ratio"] if mesa else None
    if mesa:
        print(f"mesa: {mesa['sessions_per_s']:.0f} sessions/s -> ratio {mesa['ratio']:.0f}")

    if args.big:
        big = run_model(plan, 100_000_000, args.threads, epochs=24)
        big["peak_rss_mb"] = peak_rss_mb()
        big["provenance"] = provenance()
        result["big"] = big
        result["peak_rss_mb_100m"] = big["peak_rss_mb"]
        print(
            f"100 M shoppers, 24 epochs: {big['run_s']:.1f} s, peak RSS {big['peak_rss_mb']:.0f} MB"
        )
    result["peak_rss_mb"] = peak_rss_mb()
    result["quick"] = args.quick
    out = (
        ROOT / "benchmarks" / "results" / ("shoppers_quick.json" if args.quick else "shoppers.json")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if "big" not in result and out.exists():
        # the 100 M check (--big-only, minutes of set-up) is kept from the file, with
        # the provenance it was recorded with, rather than dropped by a run without it
        kept = json.loads(out.read_text())
        for key in ("big", "peak_rss_mb_100m"):
            if key in kept:
                result[key] = kept[key]
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict | list)}))


if __name__ == "__main__":
    main()
