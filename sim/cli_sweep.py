"""The sweep commands of ``promosim``: sweep, sweep-status, sweep-export, sensitivity.

Registered on :data:`sim.cli.app` when :mod:`sim.cli` imports this module.
Errors exit with code 2 and a message on stderr, without a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from sim.cli import MAX_SHOPPERS, SEED_MAX, SetOption, app, check_out, save_results
from sim.sweep.design import DESIGNS, SweepError


def _sweep_fail(err: SweepError) -> typer.Exit:
    for line in err.errors:
        sys.stderr.write(f"error: {line}\n")
    return typer.Exit(code=2)


def _console() -> Console:
    return Console(width=max(110, Console().width))


@app.command("sweep")
def sweep_cmd(
    file: Annotated[Path, typer.Argument(help="Base scenario file (TOML).")],
    params: Annotated[
        list[str],
        typer.Option(
            "--param",
            "-p",
            help="A swept field: KEY=V1,V2,... (TOML scalars) or KEY=LOW:HIGH, with a dotted "
            "path as in --set, e.g. promotions.member.rate=0.03:0.08. Repeatable.",
            metavar="KEY=VALUES",
        ),
    ],
    store: Annotated[
        Path, typer.Option(help="Zarr store (a folder); rerun the command to resume it.")
    ],
    design: Annotated[str, typer.Option(help=f"Design: {', '.join(DESIGNS)}.")] = "grid",
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            help="Grid: levels per range. lhs/sobol-seq: points. sobol: base samples "
            "(power of 2; N(D+2) points). morris: trajectories (N(D+1) points).",
            min=1,
        ),
    ] = None,
    replicates: Annotated[
        int | None, typer.Option(help="Replicates per point (default: campaign.replicates).", min=1)
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed of the simulation and the design.", min=0, max=SEED_MAX),
    ] = None,
    shoppers: Annotated[
        int | None,
        typer.Option(help="Simulated shoppers (default: the scenario's).", min=1, max=MAX_SHOPPERS),
    ] = None,
    overrides: SetOption = None,
    hourly: Annotated[bool, typer.Option(help="Also store hourly GMV and orders.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(help="LocalCluster worker processes (default: one per core).", min=1),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Run on an existing Dask scheduler, e.g. tcp://host:8786.")
    ] = None,
    jobqueue: Annotated[
        str | None, typer.Option(help="Run on a batch cluster through dask-jobqueue: slurm or pbs.")
    ] = None,
    queue: Annotated[str | None, typer.Option(help="--jobqueue: partition/queue.")] = None,
    cores: Annotated[int | None, typer.Option(help="--jobqueue: cores per job.", min=1)] = None,
    memory: Annotated[
        str | None, typer.Option(help="--jobqueue: memory per job, e.g. 16GB.")
    ] = None,
    walltime: Annotated[
        str | None, typer.Option(help="--jobqueue: wall time, e.g. 02:00:00.")
    ] = None,
    account: Annotated[str | None, typer.Option(help="--jobqueue: account to charge.")] = None,
    jobs: Annotated[int, typer.Option(help="--jobqueue: batch jobs to submit.", min=1)] = 1,
    prologue: Annotated[
        list[str] | None,
        typer.Option(help="--jobqueue: a shell line for the job script (repeatable)."),
    ] = None,
    levels: Annotated[int, typer.Option(help="Morris: grid levels (even).", min=2)] = 4,
    second_order: Annotated[
        bool, typer.Option(help="Sobol design: also second-order indices (N(2D+2) points).")
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option(help="Recompute points that failed in an earlier run.")
    ] = False,
) -> None:
    """Run a parameter sweep on Dask into a Zarr store; rerun the same command to resume.

    Every point runs the same replicate numbers (common random numbers). Points
    whose scenario is invalid, or that fail, are recorded with their message and
    the sweep goes on.
    """
    from sim.sweep.execute import execute, prepare
    from sim.sweep.store import locked

    chosen = [
        x
        for x in (workers and "--workers", scheduler and "--scheduler", jobqueue and "--jobqueue")
        if x
    ]
    if len(chosen) > 1:
        sys.stderr.write(f"error: {' and '.join(chosen)}: choose one way to run\n")
        raise typer.Exit(code=2)
    jq: dict[str, Any] = {
        "queue": queue,
        "cores": cores,
        "memory": memory,
        "walltime": walltime,
        "account": account,
        "jobs": jobs,
        "prologue": prologue or [],
    }
    console = _console()
    try:
        prep = prepare(
            file,
            params,
            design,
            n,
            replicates=replicates,
            seed=seed,
            shoppers=shoppers,
            hourly=hourly,
            overrides=overrides or [],
            levels=levels,
            second_order=second_order,
        )
        npts = len(prep.points)
        console.print(
            f"{prep.base.campaign.name}: {prep.design.kind} design, {npts} points x "
            f"{len(prep.replicates)} replicates; store {store}",
            markup=False,
        )
        with locked(store):
            try:
                stats = execute(
                    prep,
                    store,
                    workers=workers,
                    scheduler=scheduler,
                    jobqueue=jobqueue,
                    jobqueue_options=jq,
                    retry_failed=retry_failed,
                    log=lambda m: console.print(m, markup=False),
                )
            except KeyboardInterrupt:
                sys.stderr.write(
                    f"interrupted: finished points are kept in {store}; "
                    "rerun the same command to compute the rest\n"
                )
                raise typer.Exit(code=130) from None
    except SweepError as err:
        raise _sweep_fail(err) from None
    if stats["computed"] == 0:
        console.print("  nothing to compute: every point is done already", markup=False)
    else:
        console.print(
            f"  computed {stats['computed']} point(s) in {stats['wall_seconds']:.1f} s "
            f"on {stats['workers']} worker(s)",
            markup=False,
        )
    _print_status(store, console)
    if stats["lost"]:
        sys.stderr.write(
            f"error: {len(stats['lost'])} point(s) could not run (their workers or the "
            f"scheduler were lost) and are still pending; rerun the same command to "
            f"compute them\n"
        )
        raise typer.Exit(code=1)


def _print_status(store: Path, console: Console, limit: int = 20) -> None:
    import numpy as np

    from sim.sweep.store import FAILED, INVALID, OK, status

    done, code, error = status(store)
    n = len(done)
    counts = {
        "ok": int((code == OK).sum()),
        "invalid": int((code == INVALID).sum()),
        "failed": int((code == FAILED).sum()),
        "pending": int((~done).sum()),
    }
    console.print(
        f"  {n} points: " + ", ".join(f"{v} {k}" for k, v in counts.items()), markup=False
    )
    bad = np.flatnonzero(done & (code != OK))
    for i in bad[:limit]:
        first = str(error[i]).splitlines()[0] if error[i] else ""
        console.print(f"  point {i}: {first}", markup=False)
    if bad.size > limit:
        console.print(f"  ... and {bad.size - limit} more (promosim sweep-status)", markup=False)
    if counts["pending"] == 0:
        console.print(
            f"  next: promosim sensitivity {store}  |  "
            f"promosim sweep-export {store} --out sweep.nc",
            markup=False,
        )


@app.command("sweep-status")
def sweep_status(
    store: Annotated[Path, typer.Argument(help="A sweep store (Zarr folder).")],
    all_errors: Annotated[bool, typer.Option("--all", help="List every failed point.")] = False,
) -> None:
    """Show how far a sweep got: points done, invalid, failed, pending."""
    from sim.sweep.store import read_spec

    try:
        spec, sha = read_spec(store)
    except SweepError as err:
        raise _sweep_fail(err) from None
    console = _console()
    console.print(
        f"{store}: {spec['design']} design, {spec['points']} points x "
        f"{len(spec['replicates'])} replicates; params {', '.join(spec['params'])}; "
        f"spec {sha[:12]}",
        markup=False,
    )
    _print_status(store, console, limit=10**9 if all_errors else 20)


@app.command("sweep-export")
def sweep_export(
    store: Annotated[Path, typer.Argument(help="A finished sweep store (Zarr folder).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The netCDF file to write.")],
) -> None:
    """Write a finished sweep to netCDF (atomically); refused while points are missing."""
    import numpy as np

    from sim.sweep.store import open_sweep, status

    if out.is_dir() or not out.parent.exists():
        sys.stderr.write(f"error: --out: cannot write '{out}' (not a file in an existing folder)\n")
        raise typer.Exit(code=2)
    check_out(out)
    try:
        done, _, _ = status(store) if store.exists() else (None, None, None)
        if done is None:
            raise SweepError([f"{store}: no such sweep store"])
        if not done.all():
            missing = np.flatnonzero(~done)
            raise SweepError(
                [
                    f"{store}: {missing.size} of {done.size} points are not done; rerun the "
                    "sweep command to finish it, then export"
                ]
            )
        ds = open_sweep(store)
    except SweepError as err:
        raise _sweep_fail(err) from None
    where = save_results(ds, out)
    typer.echo(f"wrote {where} ({ds.sizes['point']} points x {ds.sizes['replicate']} replicates)")
    if where != out:
        raise typer.Exit(code=1)


@app.command("sensitivity")
def sensitivity_cmd(
    store: Annotated[Path, typer.Argument(help="A finished sweep store (Zarr folder).")],
    kpi: Annotated[
        list[str] | None,
        typer.Option(help="KPI (repeatable; default gmv, profit, roi, subsidy, fulfilment_rate)."),
    ] = None,
    conf_level: Annotated[float, typer.Option(help="Confidence level.", min=0.5, max=0.999)] = 0.95,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.", min=10)] = 1000,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Save the indices (netCDF).")
    ] = None,
) -> None:
    """Sobol' (S1, ST) or Morris (mu*, sigma) indices per KPI, with confidence intervals."""
    from sim.sweep.sensitivity import render_sensitivity, sensitivity

    check_out(out)

    try:
        if not store.exists():
            raise SweepError([f"{store}: no such sweep store"])
        res = sensitivity(store, kpi, conf_level=conf_level, num_resamples=resamples)
    except SweepError as err:
        raise _sweep_fail(err) from None
    render_sensitivity(res, _console())
    if out is not None:
        where = save_results(res, out)
        typer.echo(f"wrote {where}")
        if where != out:
            raise typer.Exit(code=1)
