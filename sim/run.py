"""Monte Carlo runs: replicates of a plan, serially or in parallel on Dask, to a Dataset.

Replicate r draws from streams spawned from the scenario seed with
``SeedSequence(seed, spawn_key=(r, stream))``, so replicate 7 is the same whether
it runs alone, in a batch, serially or on a Dask worker; and two scenarios run
with the same seed share their random numbers (common random numbers).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim.plan import Plan, compile_plan
from sim.replicate import Mode, simulate_replicate
from sim.results import reduce_replicate, to_dataset
from sim.scenario import Scenario, load_scenario

Progress = Callable[[int, int], None]
"""Called as progress(replicates done, replicates planned)."""

ScenarioLike = str | os.PathLike[str] | Scenario | Plan

_PLANS: dict[str, Plan] = {}  # per-process cache of compiled plans, keyed by content hash


def as_plan(scenario: ScenarioLike, overrides: Sequence[str] | None = None) -> Plan:
    """A compiled plan from a path, a Scenario or a Plan (``overrides`` as in ``--set``)."""
    if isinstance(scenario, Plan):
        return scenario
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(Path(scenario), list(overrides or ()))
    elif overrides:
        raise ValueError("overrides apply to scenario files; pass a path")
    return compile_plan(scenario)


def _task(
    scenario: Scenario, replicate: int, seed: int, shoppers: int | None, mode: Mode
) -> dict[str, Any]:
    """One replicate, run where it is scheduled (a Dask worker builds its own plan)."""
    from sim.scenario import content_hash

    key = content_hash(scenario)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = compile_plan(scenario)
    out = simulate_replicate(plan, replicate, seed=seed, shoppers=shoppers, fulfilment=mode)
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
    client: Any = None,
    progress: Progress | None = None,
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
        runs in this process, with the shopper model's threads on every core.
        Results are bit-identical either way.
    shoppers
        Simulated shoppers (default: ``population.shoppers``); real-world figures
        are rescaled so the population represented is unchanged.
    precision
        Adaptive replication: keep adding replicates (in batches) until the 95%
        confidence half-width of the mean ``kpi`` is within this fraction of the
        mean, up to ``max_replicates``.
    kpi
        The KPI ``precision`` refers to (a name from :data:`sim.kpis.KPIS`).
    fulfilment
        Fulfilment mode: ``"cohort"``, ``"per_order"`` (small cases) or ``"off"``.
    client
        An existing ``dask.distributed.Client`` to run on (overrides ``workers``).
    progress
        Callback ``progress(done, planned)``.

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
    plan = as_plan(scenario)
    seed = plan.seed if seed is None else int(seed)
    if replicates is None:
        ids = list(range(plan.scenario.campaign.replicates))
    elif isinstance(replicates, int):
        ids = list(range(replicates))
    else:
        ids = [int(r) for r in replicates]
    n = plan.shoppers if shoppers is None else int(shoppers)
    with _Executor(workers, client) as ex:
        results = ex.map(plan, ids, seed, shoppers, fulfilment, progress, len(ids))
        ds = to_dataset(plan, results, ids, seed, n)
        if precision is not None:
            from sim.kpis import kpis, relative_half_width

            while len(ids) < max_replicates:
                rel = relative_half_width(kpis(ds)[kpi])
                if np.isfinite(rel) and rel <= precision:
                    break
                more = list(
                    range(
                        ids[-1] + 1,
                        min(ids[-1] + 1 + max(len(ids) // 2, 4), ids[0] + max_replicates),
                    )
                )
                if not more:
                    break
                planned = len(ids) + len(more)
                results += ex.map(
                    plan, more, seed, shoppers, fulfilment, progress, planned, len(ids)
                )
                ids += more
                ds = to_dataset(plan, results, ids, seed, n)
            ds.attrs["precision_target"] = float(precision)
            ds.attrs["precision_kpi"] = kpi
    return ds


class _Executor:
    """Runs replicate tasks in this process or on Dask (a LocalCluster it owns, or a client)."""

    def __init__(self, workers: int | None, client: Any) -> None:
        self.client = client
        self.cluster: Any = None
        self.own = False
        self.workers = workers

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
        out: list[dict[str, Any]] = []
        if self.client is None:
            for k, r in enumerate(ids):
                out.append(
                    reduce_replicate(
                        simulate_replicate(plan, r, seed=seed, shoppers=shoppers, fulfilment=mode)
                    )
                )
                if progress:
                    progress(done0 + k + 1, planned)
            return out
        from dask.distributed import as_completed

        scen = self.client.scatter(plan.scenario, broadcast=True)
        futures = [
            self.client.submit(
                _task,
                scen,
                r,
                seed,
                shoppers,
                mode,
                pure=False,
                key=f"replicate-{r}-{seed}-{os.getpid()}-{id(self)}-{done0}",
            )
            for r in ids
        ]
        index = {f.key: k for k, f in enumerate(futures)}
        results: list[Any] = [None] * len(ids)
        done = done0
        for fut in as_completed(futures):
            results[index[fut.key]] = fut.result()
            done += 1
            if progress:
                progress(done, planned)
        return results


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
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            host="127.0.0.1",
        )
    return Client(cluster), cluster
