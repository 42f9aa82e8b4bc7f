"""Running a sweep on Dask: one task per point, each point written as it finishes.

Every point runs the same replicate numbers with the same seed (common random
numbers across points), serially inside its Dask task (``sim.run.run(...,
workers=None)``: one worker process, one numba thread). The driver writes each
finished point's region into the store as results arrive, ``done`` last; a rerun
of the same sweep computes only the points whose ``done`` flag is not set.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim.scenario.loader import ScenarioError, apply_override, load_raw, validate
from sim.scenario.models import Scenario
from sim.sweep import store as st
from sim.sweep.design import (
    Design,
    Param,
    SweepError,
    make_design,
    parse_param,
    point_label,
    resolve,
)

Progress = Callable[[int, int], None]
"""Called as progress(points done, points in the sweep)."""

RETRIES = 2
"""Dask retries of a point task that errs outside the simulation (a point that raises
inside it is recorded at once, since a rerun would raise again)."""


@dataclass
class Prepared:
    """A sweep ready to run: the design, its points validated, the store's contents."""

    path: Path
    raw: dict[str, Any]
    base: Scenario
    design: Design
    replicates: list[int]
    seed: int
    shoppers: int | None
    hourly: bool
    kpis: list[tuple[str, str, str]]
    times: np.ndarray | None
    invalid: dict[int, str]
    spec: dict[str, Any]

    @property
    def points(self) -> list[dict[str, Any]]:
        """One override mapping per point."""
        return self.design.points


def prepare(
    scenario: str | os.PathLike[str],
    params: Sequence[str | Param],
    design: str = "grid",
    n: int | None = None,
    *,
    replicates: int | Sequence[int] | None = None,
    seed: int | None = None,
    shoppers: int | None = None,
    hourly: bool = False,
    overrides: Sequence[str] = (),
    levels: int = 4,
    second_order: bool = False,
) -> Prepared:
    """Read the scenario, build the design and validate every point (see :func:`sweep`)."""
    from sim.metrics import KPIS
    from sim.plan import compile_plan
    from sim.scenario import content_hash

    path = Path(scenario)
    try:
        raw, origin = load_raw(path, list(overrides))
        base = validate(copy.deepcopy(raw), copy.deepcopy(origin), str(path))
    except ScenarioError as err:
        raise SweepError([str(e) for e in err.errors]) from None
    except OSError as err:
        raise SweepError([f"{path}: cannot read the scenario ({err.strerror or err})"]) from None
    parsed: list[Param] = []
    problems: list[str] = []
    for p in params:
        try:
            parsed.append(p if isinstance(p, Param) else parse_param(p))
        except SweepError as err:
            problems += err.errors
    if problems:
        raise SweepError(problems)
    from sim.scenario.loader import to_toml_dict

    resolved = resolve(parsed, to_toml_dict(base))
    if shoppers is not None and any(p.key == "population.shoppers" for p in resolved):
        raise SweepError(
            [
                "--shoppers: every point would run with this many simulated shoppers, so the "
                "swept population.shoppers would change nothing; drop one of them"
            ]
        )
    seed = base.campaign.seed if seed is None else int(seed)
    d = make_design(resolved, design, n, seed, levels=levels, second_order=second_order)
    if isinstance(replicates, int) or replicates is None:
        ids = list(range(base.campaign.replicates if replicates is None else replicates))
    else:
        ids = [int(r) for r in replicates]
    if not ids:
        raise SweepError(["--replicates: a sweep needs at least one replicate"])
    invalid: dict[int, str] = {}
    for i, point in enumerate(d.points):
        data, org = copy.deepcopy((raw, origin))
        try:
            for key, value in point.items():
                apply_override(data, org, key, value)
            validate(data, org, str(path))
        except ScenarioError as err:
            invalid[i] = "invalid scenario: " + "; ".join(
                str(e).replace("--set: ", "--param: ") for e in err.errors
            )
    if invalid and len(invalid) == len(d.points):
        raise SweepError(
            [
                f"every point is invalid, e.g. point 0: {invalid[0]}",
                "nothing was written; check the --param paths and ranges (promosim keys)",
            ]
        )
    plan = compile_plan(base)
    cur = base.campaign.currency
    names = [
        (k.name, cur if k.units == "currency" else k.units, k.long_name) for k in KPIS.values()
    ]
    for ph in dict.fromkeys(plan.calendar.phase_names):
        names.append((f"gmv_{ph}", cur, f"GMV in the {ph} phase"))
    for m in plan.mechanisms:
        names.append((f"subsidy_{m}", cur, f"Subsidy booked to {m}"))
    times = None
    if hourly:
        times = np.array(
            [plan.clock.local_at(h) for h in range(plan.calendar.hours)], dtype="datetime64[ns]"
        )
    spec = {
        "format": st.FORMAT,
        "scenario_hash": content_hash(base),
        "params": [p.text() for p in resolved],
        "design": d.kind,
        "design_options": d.options,
        "points": len(d.points),
        "points_sha256": st.spec_sha256({"points": [point_label(p) for p in d.points]}),
        "seed": seed,
        "replicates": ids,
        "shoppers": shoppers,
        "hourly": hourly,
        "kpis": [k[0] for k in names],
    }
    return Prepared(path, raw, base, d, ids, seed, shoppers, hourly, names, times, invalid, spec)


# ---------------------------------------------------------------------------
# the task
# ---------------------------------------------------------------------------


def point_task(
    raw: dict[str, Any],
    point: dict[str, Any],
    replicates: list[int],
    seed: int,
    shoppers: int | None,
    kpi_names: list[str],
    hours: int | None,
) -> dict[str, Any]:
    """Run one sweep point (all its replicates, serially) and reduce it to KPIs.

    Runs on a Dask worker. A point that raises returns ``status=FAILED`` and the
    error with the last frames of its traceback, instead of raising: a rerun would
    raise again, and the sweep goes on.
    """
    from sim.metrics import kpis
    from sim.runner import run
    from sim.scenario.loader import _origin_of  # the raw data's origins, for apply_override

    t0 = time.perf_counter()
    try:
        data = copy.deepcopy(raw)
        origin = _origin_of(data, "--param")
        for key, value in point.items():
            apply_override(data, origin, key, value)
        scenario = Scenario.model_validate(data)
        t1 = time.perf_counter()
        ds = run(
            scenario, replicates=replicates, seed=seed, workers=None, shoppers=shoppers, lanes=1
        )  # fmt: skip (one task of many on the worker: one at a time)
        t2 = time.perf_counter()
        k = kpis(ds)
        values = np.full((len(replicates), len(kpi_names)), np.nan)
        for j, name in enumerate(kpi_names):
            if name in k:
                values[:, j] = k[name].values
            elif name.startswith("subsidy_"):
                values[:, j] = 0.0  # kpis() leaves out mechanisms with nothing booked
        out: dict[str, Any] = {"kpis": values, "status": st.OK, "error": ""}
        if hours is not None:
            if ds.sizes["time"] != hours:
                raise ValueError(
                    f"the point's calendar has {ds.sizes['time']} hours, the sweep's "
                    f"{hours}: hourly series need the same calendar at every point"
                )
            for name, var in (("gmv_hourly", "gmv"), ("orders_hourly", "orders")):
                out[name] = ds[var].sum(["segment", "region"]).transpose("replicate", "time").values
        out["sim_seconds"] = t2 - t1
    except Exception as exc:
        tb = "".join(traceback.format_exception(exc, limit=-3)).strip()
        out = {"status": st.FAILED, "error": f"{type(exc).__name__}: {exc}\n{tb}"}
    out["task_seconds"] = time.perf_counter() - t0
    return out


# ---------------------------------------------------------------------------
# clusters
# ---------------------------------------------------------------------------


def jobqueue_cluster(
    kind: str,
    *,
    queue: str | None = None,
    cores: int | None = None,
    memory: str | None = None,
    walltime: str | None = None,
    account: str | None = None,
    jobs: int = 1,
    prologue: Sequence[str] = (),
    **extra: Any,
) -> Any:
    """A dask-jobqueue cluster (SLURM or PBS) of one-thread worker processes.

    Options left as None come from Dask's configuration (``jobqueue.slurm.*`` or
    ``jobqueue.pbs.*``, e.g. in ``~/.config/dask/jobqueue.yaml``). Each job runs
    ``cores`` worker processes of one thread each, with ``NUMBA_NUM_THREADS=1``
    exported by the job script's prologue (Dask does not set it).

    Parameters
    ----------
    kind
        ``"slurm"`` or ``"pbs"``.
    queue, cores, memory, walltime, account
        Per job: partition/queue, cores, memory (``"16GB"``), wall time
        (``"02:00:00"``), account/project to charge.
    jobs
        Batch jobs to submit (``jobs x cores`` workers).
    prologue
        More shell lines for the job script (``module load ...``, ``source venv``).
    extra
        Passed to the cluster class as is.
    """
    import dask

    try:
        import dask_jobqueue
    except ImportError:
        raise SweepError(
            ["--jobqueue needs dask-jobqueue: pip install 'promosim[cluster]'"]
        ) from None
    classes = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}
    if kind not in classes:
        raise SweepError([f"--jobqueue: unknown '{kind}'; allowed: {', '.join(classes)}"])
    cores = cores or dask.config.get(f"jobqueue.{kind}.cores", None)
    if not cores:
        raise SweepError(
            [
                f"--jobqueue {kind}: give --cores (per job), or set jobqueue.{kind}.cores in "
                "Dask's configuration"
            ]
        )
    kw: dict[str, Any] = {
        "queue": queue,
        "memory": memory,
        "walltime": walltime,
        "account": account,
    }
    kw = {k: v for k, v in kw.items() if v is not None}
    env = ["export NUMBA_NUM_THREADS=1", "export OMP_NUM_THREADS=1", "export MKL_NUM_THREADS=1"]
    configured = dask.config.get(f"jobqueue.{kind}.job-script-prologue", None) or []
    cluster = classes[kind](
        cores=int(cores),
        processes=int(cores),  # one thread per worker process: numba must not share a process
        job_script_prologue=[*env, *configured, *prologue],
        **kw,
        **extra,
    )
    if jobs:
        cluster.scale(jobs=jobs)
    return cluster


@contextlib.contextmanager
def connect(
    workers: int | None = None,
    scheduler: str | None = None,
    jobqueue: str | None = None,
    jobqueue_options: dict[str, Any] | None = None,
    client: Any = None,
) -> Iterator[Any]:
    """A Dask client: the one given, a scheduler's, a job-queue cluster's, or a LocalCluster's."""
    import dask
    from dask.distributed import Client

    if client is not None:
        yield client
        return
    cluster: Any = None
    with dask.config.set({"distributed.scheduler.allowed-failures": RETRIES + 1}):
        if scheduler is not None:
            try:
                client = Client(scheduler, timeout="20s")
            except OSError as exc:
                raise SweepError([f"--scheduler {scheduler}: cannot connect ({exc})"]) from None
        elif jobqueue is not None:
            cluster = jobqueue_cluster(jobqueue, **(jobqueue_options or {}))
            client = Client(cluster)
        else:
            from sim.runner import local_cluster

            client, cluster = local_cluster(workers or os.cpu_count() or 1)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _check_threads(client: Any, say: Callable[[str], None]) -> None:
    workers = client.scheduler_info().get("workers", {})
    many = sorted({w.get("nthreads", 1) for w in workers.values() if w.get("nthreads", 1) > 1})
    if many:
        say(
            f"warning: workers with {many[0]} threads: numba's threads may clash. Start them "
            "with --nthreads 1 and NUMBA_NUM_THREADS=1 (see docs/sweeps.md)"
        )


# ---------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------


def sweep(
    scenario: str | os.PathLike[str],
    params: Sequence[str | Param],
    design: str = "grid",
    n: int | None = None,
    *,
    replicates: int | Sequence[int] | None = None,
    seed: int | None = None,
    shoppers: int | None = None,
    store: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    jobqueue: str | None = None,
    jobqueue_options: dict[str, Any] | None = None,
    client: Any = None,
    hourly: bool = False,
    overrides: Sequence[str] = (),
    levels: int = 4,
    second_order: bool = False,
    retry_failed: bool = False,
    progress: bool | Progress = True,
    log: Callable[[str], None] | None = None,
) -> xr.Dataset:
    """Run a parameter sweep on Dask and return its results (resuming an existing store).

    Parameters
    ----------
    scenario
        The base scenario file.
    params
        ``"KEY=V1,V2,..."`` or ``"KEY=LOW:HIGH"`` (dotted scenario paths as in ``--set``),
        or :class:`Param` objects.
    design
        ``grid``, ``lhs``, ``sobol-seq``, ``sobol`` or ``morris`` (:mod:`sim.sweep.design`).
    n
        Levels of each range (grid), points (lhs, sobol-seq), base samples (sobol,
        a power of 2) or trajectories (morris).
    replicates
        Replicates per point (default ``campaign.replicates``) or their numbers: the
        same at every point, so points share their random numbers.
    seed
        Master seed of the simulation and of the design (default ``campaign.seed``).
    shoppers
        Simulated shoppers per replicate (default the scenario's).
    store
        The Zarr store (a folder). An existing store of the same sweep is resumed:
        only points whose ``done`` flag is not set run. A store of another sweep is
        refused. None: a temporary store, deleted once the results are loaded.
    workers
        Worker processes of the embedded LocalCluster (default: one per core).
    scheduler
        Address of an existing Dask scheduler (``tcp://host:8786``).
    jobqueue, jobqueue_options
        ``"slurm"`` or ``"pbs"`` and the options of :func:`jobqueue_cluster`.
    client
        An existing ``dask.distributed.Client`` (overrides the three above).
    hourly
        Also store the hourly GMV and orders per point and replicate.
    overrides
        ``--set`` overrides applied to the base scenario (every point).
    levels, second_order
        Morris levels; Sobol' second-order indices.
    retry_failed
        Run again the points that failed (status 3) in an existing store.
    progress
        True: a progress bar with ETA on stderr; a callable ``progress(done, total)``;
        False: silent.
    log
        Where messages (the dashboard's address) go; default stderr when ``progress``.

    Returns
    -------
    xarray.Dataset
        The store's contents (:func:`sim.sweep.store.open_sweep`): ``kpis`` with dims
        ``(point, replicate, kpi)``, ``error``, ``status``, ``done``, parameter values.

    Raises
    ------
    SweepError
        Bad parameters, design or scenario; a store of another sweep.

    Examples
    --------
    >>> ds = sweep("scenarios/smoke.toml", ["promotions.member.rate=0.02,0.08"],
    ...            replicates=4, shoppers=3000, store="member.zarr")  # doctest: +SKIP
    >>> ds["kpis"].sel(kpi="gmv").mean("replicate")  # doctest: +SKIP
    """
    if log is None:
        log = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)
    prep = prepare(
        scenario,
        params,
        design,
        n,
        replicates=replicates,
        seed=seed,
        shoppers=shoppers,
        hourly=hourly,
        overrides=overrides,
        levels=levels,
        second_order=second_order,
    )
    tmpdir = None
    if store is None:
        tmpdir = tempfile.mkdtemp(prefix="promosim-sweep-")
        path = Path(tmpdir) / "sweep.zarr"
    else:
        path = Path(store)
    try:
        with st.locked(path):
            execute(
                prep,
                path,
                workers=workers,
                scheduler=scheduler,
                jobqueue=jobqueue,
                jobqueue_options=jobqueue_options,
                client=client,
                retry_failed=retry_failed,
                progress=progress,
                log=log,
            )
        return st.open_sweep(path)
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


def init_store(prep: Prepared, path: Path, log: Callable[[str], None] = print) -> None:
    """Create the store for ``prep``, or check that an existing one holds the same sweep
    (and warn if its points were computed by other code: the new ones would mix with
    them)."""
    from sim._version import code_fingerprint

    if path.exists():
        st.check_spec(path, prep.spec)
        old = st.read_attrs(path).get("promosim_code")
        if old is not None and old != code_fingerprint():
            log(
                f"warning: {path}'s points were computed by other promosim code (code "
                f"{old}, this is {code_fingerprint()}); the points computed now will sit "
                "next to them. Start a new store to keep one version of the code."
            )
        return
    d = prep.design  # (a missing folder was refused by st.locked, which the caller holds)
    keys = [p.key for p in d.params]
    from sim._version import __version__
    from sim.scenario import to_toml
    from sim.sweep.design import _numeric, toml_scalar

    value = np.array([[_numeric(pt[k]) for k in keys] for pt in d.points], float)
    label = np.array([[toml_scalar(pt[k]) for k in keys] for pt in d.points], dtype=str)
    b = prep.base
    attrs = {
        "title": f"promosim sweep: {b.campaign.name}",
        "scenario_name": b.campaign.name,
        "scenario_hash": prep.spec["scenario_hash"],
        "scenario_toml": to_toml(b),
        "design": d.kind,
        "seed": prep.seed,
        "currency": b.campaign.currency,
        "timezone": b.campaign.timezone,
        "promosim_version": __version__,
        "promosim_code": code_fingerprint(),
    }
    if all(p.is_range for p in d.params):
        import json

        attrs["salib_problem"] = json.dumps(d.problem())
    st.create(
        path,
        prep.spec,
        attrs,
        replicates=prep.replicates,
        kpis=prep.kpis,
        parameters=keys,
        param_value=value.reshape(len(d.points), len(keys)),
        param_label=label.reshape(len(d.points), len(keys)),
        design_sample=d.sample,
        invalid=prep.invalid,
        times=prep.times,
    )


def execute(
    prep: Prepared,
    path: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    jobqueue: str | None = None,
    jobqueue_options: dict[str, Any] | None = None,
    client: Any = None,
    retry_failed: bool = False,
    progress: bool | Progress = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Compute the store's missing points on Dask; returns timing figures, the points
    it set out to compute (``todo``) and those whose tasks never finished (``lost``: left
    pending for a rerun).

    The store must be locked by the caller (:func:`sim.sweep.store.locked`).
    """
    init_store(prep, path, log)
    writer = st.Writer(path)
    done, status, _ = st.status(path)
    if retry_failed:
        failed = [int(i) for i in np.flatnonzero(status == st.FAILED)]
        writer.reset(failed)
        done[failed] = False
    todo = [int(i) for i in np.flatnonzero(~done)]
    total = len(prep.points)
    stats: dict[str, Any] = {
        "computed": 0,
        "sim_seconds": 0.0,
        "task_seconds": 0.0,
        "write_seconds": 0.0,
        "todo": list(todo),
        "lost": [],
    }
    if not todo:
        return stats
    from dask.distributed import as_completed

    with contextlib.ExitStack() as stack:
        client = stack.enter_context(
            connect(workers, scheduler, jobqueue, jobqueue_options, client)
        )
        log(f"dashboard: {client.dashboard_link}")
        if jobqueue is not None:
            log("waiting for the first worker (batch jobs queued)...")
            client.wait_for_workers(1)
        _check_threads(client, log)
        bar = stack.enter_context(_Bar(progress, total, total - len(todo), prep.base.campaign.name))
        raw = client.scatter(prep.raw, broadcast=True)
        hours = None if prep.times is None else len(prep.times)
        names = [k[0] for k in prep.kpis]
        tag = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                point_task,
                raw,
                prep.points[i],
                prep.replicates,
                prep.seed,
                prep.shoppers,
                names,
                hours,
                key=f"sweep-point-{i}-{tag}",
                retries=RETRIES,
            ): i
            for i in todo
        }
        t0 = time.perf_counter()
        for fut in as_completed(futures):
            i = futures.pop(fut)
            try:
                res = fut.result()
            except Exception as exc:
                # the task never finished (its workers died past the retries, the
                # scheduler went away, the future was cancelled): not the point's fault,
                # which point_task reports as FAILED itself. Nothing is written, so the
                # point stays pending and a rerun of the same command computes it.
                fut.release()
                stats["lost"].append(i)
                log(f"point {i}: not computed ({type(exc).__name__}: {exc}); left pending")
                bar.advance()
                continue
            fut.release()
            tw = time.perf_counter()
            writer.write(i, res)
            stats["write_seconds"] += time.perf_counter() - tw
            stats["computed"] += 1
            stats["sim_seconds"] += res.get("sim_seconds", 0.0)
            stats["task_seconds"] += res.get("task_seconds", 0.0)
            bar.advance()
        stats["wall_seconds"] = time.perf_counter() - t0
        stats["workers"] = len(client.scheduler_info().get("workers", {}))
    return stats


class _Bar:
    """A rich progress bar with ETA (or a callback, or nothing)."""

    def __init__(self, progress: bool | Progress, total: int, done: int, label: str) -> None:
        self.cb: Progress | None = None if isinstance(progress, bool) else progress
        self.rich = progress is True
        self.total, self.done, self.label = total, done, label
        self.bar: Any = None

    def __enter__(self) -> _Bar:
        if self.rich:
            from sim.render import progress_bar

            self.bar = progress_bar("points")
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=self.total, completed=self.done)
        if self.cb:
            self.cb(self.done, self.total)
        return self

    def advance(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        if self.cb:
            self.cb(self.done, self.total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
