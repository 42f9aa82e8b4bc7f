"""Fulfilment-model cost on the bundled Double 11 baseline: cohort vs per-order mode.

    python benchmarks/fulfilment.py            # per-order at 1 M orders (a few minutes)
    python benchmarks/fulfilment.py --quick    # per-order at 100 k orders, extrapolated

Prints its figures, and as its last line one JSON object; also writes
benchmarks/results/fulfilment.json (fulfilment_quick.json with --quick).

Keys: volume_time_ratio (cohort-mode wall time with 10x the orders / with 1x, the
same hourly pattern scaled; target <= 1.2), per_order_speedup (per-order / cohort
wall time at 1 M orders; target >= 100; ``per_order_extrapolated`` says whether the
per-order time was measured at a smaller volume and scaled linearly),
fulfilment_share (share of an end-to-end simulate_replicate spent in fulfilment,
from out["timing"], at 2 M shoppers; target <= 0.10). Times are medians of repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim import compile_plan, load_scenario  # noqa: E402
from sim.fulfilment.cohort import CohortFulfilment  # noqa: E402
from sim.fulfilment.per_order import PerOrderFulfilment  # noqa: E402
from sim.replicate import simulate_replicate  # noqa: E402
from sim.shoppers.model import ShopperModel  # noqa: E402
from sim.shoppers.tables import V_ORDERS, V_RETURNS, V_TAILS  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import provenance  # noqa: E402

BASELINE = ROOT / "scenarios" / "double11_baseline.toml"


def hourly_pattern(plan: Any, shoppers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orders, presale tails and returns per hour and region from one shopper run."""
    m = ShopperModel(plan, shoppers=shoppers)
    for _ in range(plan.calendar.hours):
        m.step()
    c = m.counters  # [H, segment, region, variable]
    m.close()
    return (
        c[:, :, :, V_ORDERS].sum(axis=1).astype(float),
        c[:, :, :, V_TAILS].sum(axis=1).astype(float),
        c[:, :, :, V_RETURNS].sum(axis=1).astype(float),
    )


def feed(model: Any, orders: np.ndarray, tails: np.ndarray, returns: np.ndarray) -> float:
    """Feed the pattern hour by hour as simulate_replicate does (promise included)."""
    t0 = time.perf_counter()
    for h in range(len(orders)):
        model.add_orders(h, orders[h], tails[h], returns[h])
        model.run_until(h + 1)
        model.promise()
    model.finish()
    model.results()
    return time.perf_counter() - t0


def median_time(make: Any, pattern: tuple[np.ndarray, ...], k: float, repeats: int) -> float:
    return statistics.median(feed(make(), *(a * k for a in pattern)) for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="per-order at 100 k orders; 1 repeat")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the cohort timings")
    args = ap.parse_args()
    plan = compile_plan(load_scenario(BASELINE))
    tables = plan.fulfilment
    reps = 2 if args.quick else args.repeats
    result: dict[str, Any] = {
        **provenance(),
        "scenario": BASELINE.name,
        "quick": args.quick,
    }

    pattern = hourly_pattern(plan, 100_000)
    unit = pattern[0].sum()
    one_m = tuple(a * (1e6 / unit) for a in pattern)  # 1 M orders, the baseline's pattern
    print(f"pattern: {plan.calendar.hours} campaign hours, horizon {tables.horizon} h, "
          f"{len(tables.site_names)} sites, {len(tables.region_names)} regions")  # fmt: skip

    # cohort mode: 1x and 10x the orders (1 M and 10 M)
    def cohort() -> CohortFulfilment:
        return CohortFulfilment(tables)

    feed(cohort(), *one_m)  # warm up
    t1 = median_time(cohort, one_m, 1.0, reps)
    t10 = median_time(cohort, one_m, 10.0, reps)
    result["cohort_s_1m"] = t1
    result["cohort_s_10m"] = t10
    result["volume_time_ratio"] = t10 / t1
    print(f"cohort mode: {t1:.3f} s at 1 M orders, {t10:.3f} s at 10 M "
          f"-> volume_time_ratio {t10 / t1:.2f} (target <= 1.2)")  # fmt: skip

    # per-order mode at 1 M orders (or smaller, extrapolated linearly)
    n_po = 100_000 if args.quick else 1_000_000
    seed = np.random.SeedSequence(11)
    t0 = time.perf_counter()
    feed(PerOrderFulfilment(tables, seed=seed), *(a * (n_po / 1e6) for a in one_m))
    t_po = time.perf_counter() - t0
    extrapolated = n_po != 1_000_000
    t_po_1m = t_po * 1e6 / n_po
    result["per_order_orders"] = n_po
    result["per_order_s"] = t_po
    result["per_order_orders_per_s"] = n_po / t_po
    result["per_order_extrapolated"] = extrapolated
    result["per_order_speedup"] = t_po_1m / t1
    note = f" -> 1 M extrapolated linearly: {t_po_1m:.0f} s" if extrapolated else ""
    print(f"per-order mode: {t_po:.1f} s at {n_po:,} orders ({n_po / t_po:,.0f} orders/s)"
          f"{note} -> per_order_speedup {t_po_1m / t1:.0f} (target >= 100)")  # fmt: skip

    # end to end: share of simulate_replicate spent in fulfilment
    shoppers = 200_000 if args.quick else 2_000_000
    simulate_replicate(plan, 0, shoppers=20_000)  # compile
    shares, timings = [], []
    for _ in range(1 if args.quick else 3):
        out = simulate_replicate(plan, 0, shoppers=shoppers)
        tm = out["timing"]
        timings.append(tm)
        shares.append(tm["fulfilment"] / (tm["shoppers"] + tm["fulfilment"]))
    result["end_to_end_shoppers"] = shoppers
    result["end_to_end_timing"] = timings
    result["fulfilment_share"] = statistics.median(shares)
    tm = timings[shares.index(statistics.median(shares))] if len(shares) % 2 else timings[0]
    print(f"simulate_replicate at {shoppers:,} shoppers: shoppers {tm['shoppers']:.1f} s, "
          f"fulfilment {tm['fulfilment']:.2f} s -> fulfilment_share "
          f"{result['fulfilment_share']:.3f} (target <= 0.10)")  # fmt: skip

    name = "fulfilment_quick.json" if args.quick else "fulfilment.json"
    out_path = ROOT / "benchmarks" / "results" / name
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict | list)}))


if __name__ == "__main__":
    main()
