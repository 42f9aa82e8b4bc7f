"""Monte Carlo runs: replicates of a plan, serially or in parallel on Dask, to a Dataset.

Replicate r draws from streams spawned from the scenario seed with
``SeedSequence(seed, spawn_key=(r, stream))``, so replicate 7 is the same whether
it runs alone, in a batch, serially or on a Dask worker; and two scenarios run
with the same seed share their random numbers (common random numbers).
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim.plan import Plan, compile_plan, for_shoppers
from sim.replicate import Mode, simulate_replicate
from sim.results import reduce_replicate, to_dataset
from sim.scenario import Scenario, load_scenario
from sim.shoppers.team import thread_budget

Progress = Callable[[int, int], None]
"""Called as progress(replicates done, replicates planned)."""

ScenarioLike = str | os.PathLike[str] | Scenario | Plan

_PLANS: dict[tuple[str, int], Plan] = {}  # per-process cache: (content hash, shoppers)


def as_plan(scenario: ScenarioLike) -> Plan:
    """A compiled plan from a scenario file, a Scenario or a Plan."""
    if isinstance(scenario, Plan):
        return scenario
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(Path(scenario))
    return compile_plan(scenario)


def _task(
    scenario: Scenario, key: str, replicate: int, seed: int, shoppers: int, mode: Mode
) -> dict[str, Any]:
    """One replicate, run where it is scheduled: a Dask worker compiles the plan (for
    ``shoppers`` simulated shoppers) once per scenario and keeps it."""
    plan = _PLANS.get((key, shoppers))
    if plan is None:
        plan = _PLANS[(key, shoppers)] = compile_plan(scenario, shoppers)
    out = simulate_replicate(plan, replicate, seed=seed, fulfilment=mode)
    return reduce_replicate(out)


def run(
    scenario: ScenarioLike,
    replicates: int | Sequence[int] | None = None,
    seed: int | None = None,
    workers: int | None = None,
    *,
    shoppers: int | None = None,
    precision: float | None = None,
    kpi: str = "gmv",
    max_replicates: int = 200,
    fulfilment: Mode = "cohort",
    incremental: bool = False,
    client: Any = None,
    progress: Progress | None = None,
    lanes: int | None = None,
) -> xr.Dataset:
    """Run Monte Carlo replicates of a scenario and return the labelled results.

    Parameters
    ----------
    scenario
        A scenario file, a validated :class:`Scenario` or a compiled :class:`Plan`.
    replicates
        How many (default: ``campaign.replicates``), or the replicate numbers to run.
    seed
        Master seed (default: ``campaign.seed``).
    workers
        Dask worker processes on this machine (one numba thread each); ``None`` or 1
        runs in this process on every core: several replicates at once, one thread
        each, when there are enough of them (see :func:`lanes_for`), else one at a
        time with the shopper model's threads on every core. Results are
        bit-identical either way.
    shoppers
        Simulated shoppers (default: ``population.shoppers``); real-world figures
        are rescaled so the population represented is unchanged.
    precision
        Adaptive replication: keep adding replicates (in batches) until the 95%
        confidence half-width of the mean ``kpi`` is within this fraction of the
        mean, up to ``max_replicates``.
    kpi
        The KPI ``precision`` refers to (a name from :data:`sim.metrics.KPIS`).
    fulfilment
        Fulfilment mode: ``"cohort"``, ``"per_order"`` (small cases) or ``"off"``.
    incremental
        Also run the counterfactual (every promotion and channel off, same seed and
        replicates) and keep its GMV and cost per replicate, for incremental ROI.
    client
        An existing ``dask.distributed.Client`` to run on (overrides ``workers``).
    progress
        Callback ``progress(done, planned)``.
    lanes
        In process: how many replicates run side by side (default: :func:`lanes_for`;
        1: one at a time, on all the threads). A sweep point, itself one of many tasks
        on a Dask worker, runs its replicates one at a time.

    Returns
    -------
    xarray.Dataset
        See :func:`sim.results.to_dataset`.

    Examples
    --------
    >>> ds = run("scenarios/smoke.toml", replicates=2, shoppers=2000)  # doctest: +SKIP
    >>> ds.sizes["replicate"]  # doctest: +SKIP
    2
    """
    plan = for_shoppers(as_plan(scenario), shoppers)  # compiled once for this many shoppers
    seed = plan.seed if seed is None else int(seed)
    if replicates is None:
        ids = list(range(plan.scenario.campaign.replicates))
    elif isinstance(replicates, int):
        ids = list(range(replicates))
    else:
        ids = [int(r) for r in replicates]
    if not ids or min(ids) < 0 or len(set(ids)) < len(ids):
        raise ValueError(f"replicates must be at least one distinct number >= 0; got {replicates}")
    n = plan.shoppers if shoppers is None else int(shoppers)
    done: dict[int, dict[str, Any]] = {}  # replicate -> reduced output, of the plan itself
    with _Executor(workers, client, lanes) as ex:
        try:
            ds = _replicates(plan, ex, ids, seed, shoppers, n, fulfilment, progress, done,
                             precision, kpi, max_replicates)  # fmt: skip
        except KeyboardInterrupt:
            done.update(ex.finished)
            keep = sorted(done)
            partial = to_dataset(plan, [done[r] for r in keep], keep, seed, n) if keep else None
            if partial is not None:
                partial.attrs["complete"] = 0
            raise Interrupted(partial, len(ids)) from None
        if incremental:
            try:
                _counterfactual(ds, plan, ex, seed, shoppers, n, fulfilment, progress)
            except KeyboardInterrupt:  # the plan's own replicates are finished: keep them
                ds.attrs["complete"] = 0
                raise Interrupted(ds, len(ids)) from None
    return ds


def _replicates(
    plan: Plan,
    ex: _Executor,
    ids: list[int],
    seed: int,
    shoppers: int | None,
    n: int,
    fulfilment: Mode,
    progress: Progress | None,
    done: dict[int, dict[str, Any]],
    precision: float | None,
    kpi: str,
    max_replicates: int,
) -> xr.Dataset:
    """Run ``ids``, then (with ``precision``) more in batches until the KPI is precise."""
    batch = ids
    while True:
        planned = len(done) + len(batch)
        for r, res in zip(batch, ex.map(plan, batch, seed, shoppers, fulfilment, progress,
                                        planned, len(done)), strict=True):  # fmt: skip
            done[r] = res
        keep = sorted(done)
        ds = to_dataset(plan, [done[r] for r in keep], keep, seed, n)
        if precision is None:
            return ds
        from sim.metrics import kpis, relative_half_width

        values = kpis(ds)[kpi]
        rel = relative_half_width(values)
        usable = int(np.isfinite(values.values).sum())
        met, step = precision_step([rel], precision, len(keep), max_replicates, usable)
        batch = list(range(keep[-1] + 1, keep[-1] + 1 + step))
        if not batch:
            ds.attrs["precision_target"] = float(precision)
            ds.attrs["precision_kpi"] = kpi
            ds.attrs["precision_reached"] = float(rel)
            ds.attrs["precision_met"] = int(met)
            return ds


def next_batch(n: int, max_replicates: int) -> int:
    """How many replicates a precision rule adds after ``n``: half as many again (at least
    4, and at least up to ``MIN_PRECISION_REPLICATES``), within ``max_replicates`` in all."""
    from sim.metrics import MIN_PRECISION_REPLICATES

    step = max(n // 2, 4, MIN_PRECISION_REPLICATES - n)
    return max(0, min(step, max_replicates - n))


def precision_met(rel: Sequence[float], precision: float, n: int) -> bool:
    """Is every relative half-width in ``rel`` within ``precision``, with at least
    ``MIN_PRECISION_REPLICATES`` replicates?"""
    from sim.metrics import MIN_PRECISION_REPLICATES

    return n >= MIN_PRECISION_REPLICATES and all(np.isfinite(r) and r <= precision for r in rel)


def precision_step(
    rel: Sequence[float],
    precision: float,
    n: int,
    max_replicates: int,
    usable: int | None = None,
) -> tuple[bool, int]:
    """One decision of the precision rule after ``n`` replicates, given the relative
    half-widths ``rel`` (one per scenario) and the fewest replicates with a value of the
    KPI in any scenario (``usable``, default ``n``): whether the target is met, and how
    many replicates to add (0: stop, because it is met, because of the cap, or because a
    half-width is still undefined after ``MIN_PRECISION_REPLICATES``: a KPI that was 0
    in the first few replicates, overload hours or the target reached, may not stay 0)."""
    from sim.metrics import MIN_PRECISION_REPLICATES

    met = precision_met(rel, precision, n if usable is None else usable)
    undefined = n >= MIN_PRECISION_REPLICATES and not all(np.isfinite(r) for r in rel)
    return met, 0 if met or undefined else next_batch(n, max_replicates)


def _counterfactual(
    ds: xr.Dataset,
    plan: Plan,
    ex: _Executor,
    seed: int,
    shoppers: int | None,
    n: int,
    fulfilment: Mode,
    progress: Progress | None,
) -> None:
    """Add the no-promotion counterfactual's GMV and cost per replicate (same seed)."""
    from sim.comparison import counterfactual
    from sim.metrics import gmv, marketing_spend, subsidy

    ids = [int(r) for r in ds["replicate"].values]
    cf = compile_plan(counterfactual(plan.scenario), plan.shoppers)
    res = ex.map(cf, ids, seed, shoppers, fulfilment, progress, 2 * len(ids), len(ids))
    dcf = to_dataset(cf, res, ids, seed, n)
    cur = ds.attrs["currency"]
    ds["counterfactual_gmv"] = gmv(dcf).assign_attrs(
        units=cur, long_name="GMV with every promotion and channel off"
    )
    ds["counterfactual_cost"] = (marketing_spend(dcf) + subsidy(dcf)).assign_attrs(
        units=cur, long_name="Marketing spend + subsidy with every promotion and channel off"
    )


class Interrupted(KeyboardInterrupt):
    """A run was interrupted; ``partial`` holds the replicates finished by then (or None)."""

    def __init__(self, partial: xr.Dataset | None, planned: int) -> None:
        super().__init__()
        self.partial = partial
        self.planned = planned


class _Executor:
    """Runs replicate tasks in this process or on Dask (a LocalCluster it owns, or a client)."""

    def __init__(self, workers: int | None, client: Any, lanes: int | None = None) -> None:
        self.client = client
        self.lanes = lanes
        self.cluster: Any = None
        self.own = False
        self.workers = workers
        self.finished: dict[int, dict[str, Any]] = {}  # of the current map(), by replicate

    def __enter__(self) -> _Executor:
        if self.client is None and self.workers is not None and self.workers > 1:
            self.client, self.cluster = local_cluster(self.workers)
            self.own = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.own:
            self.client.close()
            self.cluster.close()

    def map(
        self,
        plan: Plan,
        ids: list[int],
        seed: int,
        shoppers: int | None,
        mode: Mode,
        progress: Progress | None,
        planned: int,
        done0: int = 0,
    ) -> list[dict[str, Any]]:
        self.finished = {}
        if self.client is None:
            if self.lanes is None:
                lanes, threads = lanes_for(len(ids), plan.shoppers, mode)
            else:
                lanes = max(1, min(self.lanes, len(ids)))
                threads = max(1, thread_budget() // lanes)
            # ``lanes`` replicates at a time in this process, each on ``threads`` threads
            # (one lane: one at a time, on all of them). The shopper kernels release the
            # GIL, so while one replicate runs Python (its fulfilment model, the code
            # between kernels) the others' kernels go on. Replicates start in order, the
            # last round's on more threads (lane_threads). Interrupted, the running ones
            # stop at their next epoch; those that finished, even while the others were
            # stopping, are kept in ``finished``.
            cancel = threading.Event()
            pool = concurrent.futures.ThreadPoolExecutor(lanes, thread_name_prefix="promosim-lane")
            running: dict[concurrent.futures.Future[dict[str, Any]], int] = {}
            out: list[Any] = [None] * len(ids)
            done = done0
            try:
                for k, (r, th) in enumerate(zip(ids, lane_threads(len(ids), lanes, threads),
                                                strict=True)):  # fmt: skip
                    running[pool.submit(_lane_task, plan, r, seed, shoppers, mode, th, cancel)] = k
                for fut in concurrent.futures.as_completed(running):
                    k = running[fut]
                    out[k] = self.finished[ids[k]] = fut.result()
                    done += 1
                    if progress:
                        progress(done, planned)
            except BaseException:
                cancel.set()
                pool.shutdown(wait=True, cancel_futures=True)
                for fut, k in running.items():  # finished while the others stopped: keep them
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        self.finished.setdefault(ids[k], fut.result())
                raise
            pool.shutdown()
            return out
        from dask.distributed import as_completed

        scen = self.client.scatter(plan.scenario, broadcast=True)
        futures = [
            self.client.submit(
                _task,
                scen,
                plan.scenario_hash,
                r,
                seed,
                plan.shoppers,
                mode,
                pure=False,
                key=f"replicate-{r}-{seed}-{uuid.uuid4().hex}",
            )
            for r in ids
        ]
        index = {f.key: k for k, f in enumerate(futures)}
        results: list[Any] = [None] * len(ids)
        done = done0
        for fut in as_completed(futures):
            results[index[fut.key]] = fut.result()
            self.finished[ids[index[fut.key]]] = results[index[fut.key]]
            done += 1
            if progress:
                progress(done, planned)
        return results


def lane_threads(replicates: int, lanes: int, threads: int) -> list[int]:
    """Threads for each replicate run side by side: ``threads`` each, but the last round,
    with fewer replicates than lanes (``replicates % lanes`` of them, started about
    together), shares all the lanes' threads.

    Examples
    --------
    >>> lane_threads(5, 2, 1)  # 0-3 two at a time; 4 alone, on both threads
    [1, 1, 1, 1, 2]
    >>> lane_threads(7, 3, 2)  # 6 alone on the three lanes' 6 threads
    [2, 2, 2, 2, 2, 2, 6]
    """
    last = replicates % lanes
    out = [threads] * replicates
    for k in range(replicates - last, replicates):
        out[k] = max(threads, threads * lanes // last)
    return out


def _lane_task(
    plan: Plan,
    replicate: int,
    seed: int,
    shoppers: int | None,
    mode: Mode,
    threads: int,
    cancel: threading.Event,
) -> dict[str, Any]:
    out = simulate_replicate(
        plan, replicate, seed=seed, shoppers=shoppers, threads=threads, fulfilment=mode,
        cancel=cancel,
    )  # fmt: skip
    return reduce_replicate(out)


LANE_BYTES_PER_SHOPPER = 200
"""A generous bound on one replicate's memory per simulated shopper in cohort mode (the
state and the epoch's tables are about 70 bytes a shopper, plus about 14 MB whatever
the size; the rest is headroom), for :func:`lanes_for`."""


def available_memory() -> int | None:
    """Bytes this process can still allocate: Linux's MemAvailable, or what is left of
    its cgroup's memory limit (a container, a batch job) if that is less; None when
    unknown."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    try:  # cgroup v2
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current") as f:
                left = int(limit) - int(f.read().strip())
            avail = left if avail is None else min(avail, left)
    except (OSError, ValueError):
        pass
    return avail


def lanes_for(replicates: int, shoppers: int, mode: Mode = "cohort") -> tuple[int, int]:
    """How many replicates to run at once in this process, and threads for each.

    One replicate per thread of :func:`thread_budget` while there are replicates for
    every one and half the available memory holds them (the threads then shared among
    them); else one at a time with all the threads. Per-order fulfilment (every order
    a SimPy process: about 9 kB a simulated shopper, and Python all along) always runs
    one at a time.
    """
    budget = thread_budget()
    lanes = min(budget, replicates) if mode != "per_order" else 1
    avail = available_memory()
    if avail is not None and lanes > 1:
        lanes = min(lanes, avail // 2 // max(1, shoppers * LANE_BYTES_PER_SHOPPER))
    lanes = max(1, lanes)
    return lanes, max(1, budget // lanes)


def local_cluster(workers: int, threads: int = 1) -> tuple[Any, Any]:
    """A Dask LocalCluster of worker processes with one numba thread each.

    Numba's workqueue threading layer aborts when several Dask threads call
    parallel kernels at once, and Dask does not set ``NUMBA_NUM_THREADS`` for its
    workers: so one thread per worker and the variable set before they spawn.
    The dashboard binds to localhost.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    env = {"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for k in ("NUMBA_CACHE_DIR",):
        if k in os.environ:
            env[k] = os.environ[k]
    # the nannies run in this process and set these in its os.environ before spawning
    # (distributed's nanny.py): put this process's own values back, or its later runs
    # in process would see NUMBA_NUM_THREADS=1 (one thread, one replicate at a time)
    ours = {k: os.environ.get(k) for k in env}
    try:
        conf = {"distributed.nanny.pre-spawn-environ": env, "distributed.worker.preload": [
            "sim._worker"  # the workers leave Ctrl-C to this process
        ]}  # fmt: skip
        with dask.config.set(conf):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",
                host="127.0.0.1",
            )
    finally:
        for k, v in ours.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Client(cluster), cluster
