"""End-to-end Monte Carlo throughput on the bundled Double 11 baseline.

    python benchmarks/end_to_end.py           # 10 M-shopper replicate, 2 workers, CRN (minutes)
    python benchmarks/end_to_end.py --quick   # smaller sizes, about a minute once compiled

Prints its figures, and as its last line one JSON object; also writes
benchmarks/results/end_to_end.json. Ratios are measured in the same run.

Keys: replicate_seconds_10m (one warm baseline replicate, shoppers + fulfilment,
in process on every core; at 10 M shoppers, or the --quick size), speedup_2_workers
(replicates per second on a Dask LocalCluster of 2 single-threaded workers / in
this process with one thread: the median over eight sets of runs made back to back,
in rotating order, each set's ratio in speedup_2_workers_pairs), peak_rss_mb,
crn_variance_reduction (a 10% deeper top threshold tier: (Var A + Var B) / Var(A - B)
of GMV over paired replicates),
fulfilment_share (share of the replicate's time in the fulfilment model),
speedup_in_process (the same ratio for this process on every core, replicates side by
side: sim.runner.lanes_for), speedup_2_processes (the machine's own ceiling for the
two arms above, measured in the same sets: two independent Python processes with one
thread each, each running half of the replicates with sim.run, started together),
dask_efficiency and in_process_efficiency (shares of that ceiling: each arm's time
against the ceiling arm's, set by set, median; a median of per-set ratios, so it can
be below 1 while the arm's median speed-up is above the ceiling's).
"""

from __future__ import annotations

import argparse
import json
import os

# OpenBLAS's idle threads spin on the cores the kernels use (seen in perf profiles)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim import compile_plan, load_scenario  # noqa: E402
from sim.comparison import compare  # noqa: E402
from sim.replicate import simulate_replicate  # noqa: E402
from sim.runner import local_cluster, run  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ceiling import concurrent_runs  # noqa: E402
from provenance import provenance  # noqa: E402

BASELINE = ROOT / "scenarios" / "double11_baseline.toml"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    started = provenance()  # the code and machine as the run starts
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    args = ap.parse_args()
    big = 1_000_000 if args.quick else 10_000_000
    par_shoppers = 200_000 if args.quick else 500_000
    par_reps = 4 if args.quick else 6
    crn_shoppers, crn_reps = (100_000, 6) if args.quick else (300_000, 10)

    plan = compile_plan(load_scenario(BASELINE))
    simulate_replicate(plan, shoppers=20_000)  # compile / load numba's cache
    rows = []

    # 1. one replicate, warm, in process on every core (the median of three: the machine
    # is noisy)
    reps = []
    for r in range(3):
        t0 = time.perf_counter()
        out = simulate_replicate(plan, r, shoppers=big)
        reps.append((time.perf_counter() - t0, out["timing"]["fulfilment"]))
        del out
    rep_s, fulfil_s = sorted(reps)[1]
    share = fulfil_s / rep_s
    rss = peak_rss_mb()
    rows.append(("replicate (shoppers + fulfilment)", f"{big:,} shoppers", f"{rep_s:.1f} s"))
    rows.append(("  of which fulfilment", "", f"{fulfil_s:.2f} s ({share:.1%})"))

    # 2. replicates per second: 2 single-thread Dask workers, and this process on every
    # core (replicates side by side, one thread each: sim.runner.lanes_for), against one
    # thread in process; run back to back in sets (the machine's speed drifts from
    # minute to minute: ratios within a set are steadier than ratios of runs minutes
    # apart) in rotating order, so that a drift within a set favours none; the median
    # of eight sets' ratios
    client, cluster = local_cluster(2)
    arms: dict[str, list[float]] = {"serial": [], "dask": [], "process": [], "ceiling": []}

    user_threads = os.environ.get("NUMBA_NUM_THREADS")

    def one(arm: str) -> float:
        if arm == "ceiling":
            halves = [range(0, par_reps, 2), range(1, par_reps, 2)]
            return concurrent_runs(BASELINE, par_shoppers, halves)
        if arm == "serial":
            os.environ["NUMBA_NUM_THREADS"] = "1"  # the in-process model: one thread
        try:
            return timed(
                lambda: run(plan, par_reps, shoppers=par_shoppers,
                            client=client if arm == "dask" else None), 1,
            )[0]  # fmt: skip
        finally:
            if user_threads is None:
                os.environ.pop("NUMBA_NUM_THREADS", None)
            else:
                os.environ["NUMBA_NUM_THREADS"] = user_threads

    try:
        run(plan, 2, shoppers=20_000, client=client)  # workers load numba's cache
        order = list(arms)
        for k in range(8):  # each arm first, second, third and fourth twice
            for arm in order[k % 4 :] + order[: k % 4]:
                arms[arm].append(one(arm))
    finally:
        client.close()
        cluster.close()
    serial, para, inproc, ceil = arms["serial"], arms["dask"], arms["process"], arms["ceiling"]
    ratios = [a / b for a, b in zip(serial, para, strict=True)]
    speedup = statistics.median(ratios)
    in_ratios = [a / b for a, b in zip(serial, inproc, strict=True)]
    in_speedup = statistics.median(in_ratios)
    ceil_ratios = [a / b for a, b in zip(serial, ceil, strict=True)]
    ceiling = statistics.median(ceil_ratios)
    dask_eff = statistics.median(c / p for c, p in zip(ceil, para, strict=True))
    in_eff = statistics.median(c / p for c, p in zip(ceil, inproc, strict=True))
    rows.append((f"{par_reps} replicates, 1 thread in process", f"{par_shoppers:,} shoppers",
                 f"{statistics.median(serial):.1f} s"))  # fmt: skip
    rows.append((f"{par_reps} replicates, 2 Dask workers", "",
                 f"{statistics.median(para):.1f} s ({speedup:.2f}x)"))  # fmt: skip
    rows.append((f"{par_reps} replicates, in process on 2 cores", "",
                 f"{statistics.median(inproc):.1f} s ({in_speedup:.2f}x)"))  # fmt: skip
    rows.append((f"{par_reps} replicates, 2 processes of 1 thread", "the machine's ceiling",
                 f"{statistics.median(ceil):.1f} s ({ceiling:.2f}x)"))  # fmt: skip
    rows.append(("  Dask / in process, share of the ceiling", "",
                 f"{dask_eff:.2f} / {in_eff:.2f}"))  # fmt: skip

    # 3. common random numbers on a small plan change
    deeper = load_scenario(BASELINE, ["promotions.threshold.tiers[1].off=110"])
    cmp = compare(plan, compile_plan(deeper), replicates=crn_reps, shoppers=crn_shoppers)
    p = cmp["paired"].sel(scenario=cmp["scenario"][1], kpi="gmv")
    vr = float(p.sel(stat="var_reduction"))
    rows.append(("CRN variance reduction, GMV", f"{crn_reps} pairs at {crn_shoppers:,}",
                 f"{vr:.0f}x (diff {float(p.sel(stat='rel_diff')):+.2%})"))  # fmt: skip

    result = {
        "benchmark": "end_to_end",
        **started,
        "quick": bool(args.quick),
        "replicate_shoppers": big,
        "replicate_seconds_10m": round(rep_s, 2) if not args.quick else None,
        "replicate_seconds": round(rep_s, 2),
        "replicate_seconds_all": [round(x[0], 2) for x in reps],
        "fulfilment_share": round(share, 4),
        "speedup_2_workers": round(speedup, 3),
        "speedup_2_workers_pairs": [round(x, 3) for x in ratios],
        "seconds_serial_1_thread": round(statistics.median(serial), 2),
        "seconds_2_workers": round(statistics.median(para), 2),
        "seconds_in_process_2_cores": round(statistics.median(inproc), 2),
        "speedup_in_process": round(in_speedup, 3),
        "speedup_in_process_sets": [round(x, 3) for x in in_ratios],
        "seconds_2_processes": round(statistics.median(ceil), 2),
        "speedup_2_processes": round(ceiling, 3),
        "speedup_2_processes_sets": [round(x, 3) for x in ceil_ratios],
        "dask_efficiency": round(dask_eff, 3),
        "in_process_efficiency": round(in_eff, 3),
        "peak_rss_mb": round(rss, 1),
        "crn_variance_reduction": round(vr, 1),
        "targets": {
            "replicate_seconds_10m": "<= 10",
            "speedup_2_workers": ">= 1.8",
            "crn_variance_reduction": ">= 5",
        },
    }
    w = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:>26}  {r[2]}")
    line = json.dumps(result)
    print(line)
    if not args.quick:
        dest = ROOT / "benchmarks" / "results" / "end_to_end.json"
        dest.parent.mkdir(exist_ok=True)
        dest.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
