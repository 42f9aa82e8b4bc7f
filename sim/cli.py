"""The ``promosim`` command line."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.console import Console

from sim._version import __version__
from sim.scenario.loader import ErrorLine, ScenarioError, content_hash, load_scenario

if TYPE_CHECKING:
    import xarray as xr

app = typer.Typer(
    name="promosim",
    help="Monte Carlo simulator of e-commerce mega-sales (Double 11, 618, Black Friday).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

MAX_SHOPPERS = 2_000_000_000  # as population.shoppers
SEED_MAX = 2**63 - 1
"""Largest seed (as the scenario's ``campaign.seed``: results store it as an int64)."""

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Override a scenario value: KEY=VALUE with a dotted path, e.g. "
        "promotions.threshold.tiers[0].off=60 or population.segments[new].share=0.3. "
        "Repeatable.",
        metavar="KEY=VALUE",
    ),
]


def _fail(err: ScenarioError) -> typer.Exit:
    """Print every scenario problem, one per line, to stderr; exit code 2."""
    for line in err.errors:
        sys.stderr.write(f"error: {line}\n")
    n = len(err.errors)
    sys.stderr.write(f"{n} problem{'s' if n != 1 else ''} found; nothing was written.\n")
    return typer.Exit(code=2)


def write_atomic(path: Path, text: str) -> None:
    """Write a file whole or not at all (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _version(value: bool) -> None:
    if value:
        typer.echo(f"promosim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Monte Carlo simulator of e-commerce mega-sales."""


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Scenario files (TOML).")],
    overrides: SetOption = None,
) -> None:
    """Check scenario files; print every problem with its file and field path.

    Exit code 0 when all files are valid, 2 otherwise.
    """
    problems: list[ScenarioError] = []
    for f in files:
        try:
            s = load_scenario(f, overrides or [])
        except ScenarioError as err:
            problems.append(err)
            continue
        typer.echo(f"ok: {f} ({s.campaign.name}; hash {content_hash(s)[:12]})")
    if problems:
        raise _fail(ScenarioError([line for p in problems for line in p.errors]))


@app.command()
def show(
    file: Annotated[Path, typer.Argument(help="Scenario file (TOML).")],
    overrides: SetOption = None,
) -> None:
    """Show a scenario as tables: calendar, shoppers, mechanics, budget, capacity."""
    from sim.plan import compile_plan
    from sim.summary import render_scenario

    try:
        scenario = load_scenario(file, overrides or [])
    except ScenarioError as err:
        raise _fail(err) from None
    console = Console(width=max(100, Console().width))
    render_scenario(scenario, compile_plan(scenario), console)


@app.command()
def simulate(
    file: Annotated[Path, typer.Argument(help="Scenario file (TOML).")],
    overrides: SetOption = None,
    shoppers: Annotated[
        int | None,
        typer.Option(help="Simulated shoppers (default: the scenario's).", min=1, max=MAX_SHOPPERS),
    ] = None,
    replicate: Annotated[int, typer.Option(help="Replicate number.", min=0)] = 0,
    seed: Annotated[
        int | None, typer.Option(help="Override the scenario's seed.", min=0, max=SEED_MAX)
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="Threads (default: all cores).", min=1)
    ] = None,
) -> None:
    """Run one replicate of the shopper model and print its KPIs.

    (Monte Carlo runs with many replicates, fulfilment and saved results come with
    `promosim run`.)
    """
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from sim.plan import compile_plan, for_shoppers
    from sim.shoppers import ShopperModel
    from sim.summary import render_shopper_summary

    try:
        scenario = load_scenario(file, overrides or [])
    except ScenarioError as err:
        raise _fail(err) from None
    plan = for_shoppers(compile_plan(scenario), shoppers)
    console = Console(width=max(100, Console().width), stderr=False)
    start = time.perf_counter()
    model = ShopperModel(plan, replicate, seed=seed, shoppers=shoppers, threads=threads)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} h"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"{scenario.campaign.name}: hour by hour", total=model.hours)
        while model.epoch < model.hours:
            model.step()
            progress.advance(task)
    out = model.results()
    render_shopper_summary(plan, out, console, time.perf_counter() - start)


def _precision(text: str | None) -> float | None:
    """'1%' or '0.01' -> 0.01; a clear error otherwise."""
    if text is None:
        return None
    t = text.strip()
    try:
        v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        v = -1.0
    if not 0 < v < 1:
        sys.stderr.write(
            f"error: --precision: '{text}' is not a fraction in (0, 1); use e.g. 1% or 0.01\n"
        )
        raise typer.Exit(code=2)
    return v


def _check_kpi(kpi: str) -> None:
    from sim.metrics import KPIS

    if kpi not in KPIS:
        sys.stderr.write(f"error: --kpi: unknown KPI '{kpi}'; allowed: {', '.join(KPIS)}\n")
        raise typer.Exit(code=2)


def _precision_line(attrs: dict, kpi: str, n: int) -> str:
    """What the precision rule reached, and why it stopped if it did not meet its target.
    (Intervals after adaptive stopping are nominal: their coverage is a little below 95%.)"""
    got, target = attrs["precision_reached"], attrs["precision_target"]
    if attrs.get("precision_met"):
        return f"{kpi} 95% CI half-width {got:.2%} of the mean (target {target:.2%})"
    if not np.isfinite(got):
        return (
            f"{kpi}: no relative precision can be reached (its mean is 0 or undefined); "
            f"stopped after {n} replicates"
        )
    return (
        f"{kpi} 95% CI half-width {got:.2%} of the mean: target {target:.2%} NOT met "
        f"(stopped at {n} replicates, the cap: raise --max-replicates)"
    )


def check_out(out: Path | None, inputs: Sequence[Path] = ()) -> None:
    """Refuse an output path that cannot be a file, before any work is done: a folder,
    a path under a file, one in a folder this process may not write, or one of the
    command's own ``inputs`` (which the output would replace)."""
    if out is None:
        return
    for f in inputs:
        if out.exists() and f.exists() and out.samefile(f):
            sys.stderr.write(f"error: --out: '{out}' is an input of this command; choose another\n")
            raise typer.Exit(code=2)
    blocked = out.is_dir() or any(p.exists() and not p.is_dir() for p in out.parents)
    if blocked:
        sys.stderr.write(f"error: --out: cannot write '{out}' (a folder, or under a file)\n")
        raise typer.Exit(code=2)
    folder = next(p for p in (out.parent.absolute(), *out.parent.absolute().parents) if p.exists())
    try:  # a file made and removed where the results will go (or the folder they will go in)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".promosim-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        sys.stderr.write(f"error: --out: cannot write '{out}' ({folder}: {reason})\n")
        raise typer.Exit(code=2) from None


def save_results(ds: xr.Dataset, out: Path) -> Path:
    """Save ``ds`` to ``out``; if that fails after all (the disk filled up, the folder
    went away), save it to a temporary folder instead, so that a long run is not lost,
    and say where. Returns the path written."""
    from sim.results import save

    with interrupts_held():  # a Ctrl-C now would lose the run, or hang netCDF's lock
        try:
            return save(ds, out)
        except OSError as exc:
            fallback = Path(tempfile.mkdtemp(prefix="promosim-")) / out.name
            save(ds, fallback)
            reason = exc.strerror or str(exc)
            sys.stderr.write(f"error: could not write {out} ({reason}); saved to {fallback}\n")
            return fallback


def _interrupted(partial: xr.Dataset | None, out: Path | None, kind: str) -> typer.Exit:
    """Save what an interrupted run or comparison finished (``kind`` replicates), say
    where, and exit 130."""
    if partial is not None and out is not None:
        where = save_results(partial, out)
        n = partial.sizes["replicate"]
        sys.stderr.write(f"interrupted: {n} {kind} replicates saved to {where}\n")
    else:
        sys.stderr.write("interrupted; nothing was written.\n")
    return typer.Exit(code=130)


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is done, then act on them: for work that
    must not stop half-way (saving results). Only the main thread can; elsewhere the
    block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    old = {sig: signal.signal(sig, lambda n, _f: got.append(n)) for sig in _STOP}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if got:
        raise KeyboardInterrupt


_STOP = (signal.SIGINT, signal.SIGTERM)


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a job scheduler, `kill`, `timeout`) stops a command as Ctrl-C does, so
    that the replicates finished so far are saved."""
    raise KeyboardInterrupt


@app.command("run")
def run_cmd(
    file: Annotated[Path, typer.Argument(help="Scenario file (TOML).")],
    overrides: SetOption = None,
    replicates: Annotated[
        int | None, typer.Option(help="Replicates (default: campaign.replicates).", min=1)
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Override the scenario's seed.", min=0, max=SEED_MAX)
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="Add replicates until the 95% CI half-width of --kpi is within "
            "this fraction of its mean, e.g. 1% (up to --max-replicates)."
        ),
    ] = None,
    kpi: Annotated[str, typer.Option(help="KPI for --precision.")] = "gmv",
    max_replicates: Annotated[int, typer.Option(help="Cap for --precision.", min=2)] = 200,
    workers: Annotated[
        int | None,
        typer.Option(help="Dask worker processes (default: in this process, all cores).", min=1),
    ] = None,
    shoppers: Annotated[
        int | None,
        typer.Option(help="Simulated shoppers (default: the scenario's).", min=1, max=MAX_SHOPPERS),
    ] = None,
    incremental: Annotated[
        bool, typer.Option(help="Also run the no-promotion counterfactual for incremental ROI.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Save the results (netCDF).")
    ] = None,
) -> None:
    """Run Monte Carlo replicates (shoppers + fulfilment) and print the KPI table."""
    import time

    from sim.metrics import kpis, summarize
    from sim.plan import compile_plan
    from sim.render import progress_bar, render_kpis
    from sim.runner import Interrupted, run

    p = _precision(precision)
    _check_kpi(kpi)
    check_out(out, [file])
    try:
        scenario = load_scenario(file, overrides or [])
    except ScenarioError as err:
        raise _fail(err) from None
    plan = compile_plan(scenario)
    console = Console(width=max(140, Console().width))
    start = time.perf_counter()
    with progress_bar("replicates") as bar:
        task = bar.add_task(
            scenario.campaign.name, total=replicates or scenario.campaign.replicates
        )

        def progress(done: int, planned: int) -> None:
            bar.update(task, completed=done, total=planned)

        try:
            ds = run(plan, replicates, seed, workers, shoppers=shoppers, precision=p, kpi=kpi,
                     max_replicates=max_replicates, incremental=incremental,
                     progress=progress)  # fmt: skip
        except Interrupted as stop:
            raise _interrupted(stop.partial, out, "finished") from None
    seconds = time.perf_counter() - start
    saved = save_results(ds, out) if out is not None else None  # first: nothing to lose
    render_kpis(summarize(kpis(ds)), console)
    n = ds.sizes["replicate"]
    who = plan.shoppers if shoppers is None else shoppers
    line = f"  {n} replicates of {who:,} shoppers in {seconds:.1f} s"
    if p is not None:
        line += "; " + _precision_line(ds.attrs, kpi, n)
    console.print(line, markup=False)
    if saved is not None:
        console.print(f"  results: {saved}  (promosim kpis {saved}; xarray.open_dataset)",
                      markup=False)  # fmt: skip
        if saved != out:
            raise typer.Exit(code=1)


@app.command()
def compare(
    files: Annotated[
        list[Path], typer.Argument(help="Two or more scenario files; the first is the reference.")
    ],
    replicates: Annotated[int | None, typer.Option(help="Replicates per scenario.", min=2)] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed shared by all scenarios.", min=0, max=SEED_MAX)
    ] = None,
    precision: Annotated[
        str | None, typer.Option(help="Add replicates until each scenario's --kpi is this precise.")
    ] = None,
    kpi: Annotated[str, typer.Option(help="KPI for --precision.")] = "gmv",
    best_by: Annotated[str, typer.Option(help="KPI that decides the best plan.")] = "profit",
    max_replicates: Annotated[int, typer.Option(help="Cap for --precision.", min=2)] = 200,
    workers: Annotated[int | None, typer.Option(help="Dask worker processes.", min=1)] = None,
    shoppers: Annotated[
        int | None, typer.Option(help="Simulated shoppers.", min=1, max=MAX_SHOPPERS)
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Save the comparison (netCDF).")
    ] = None,
) -> None:
    """Compare plans with common random numbers: paired differences with 95% intervals."""
    from sim.comparison import compare as compare_plans
    from sim.plan import compile_plan
    from sim.render import progress_bar, render_comparison
    from sim.runner import Interrupted

    if len(files) < 2:
        sys.stderr.write("error: compare needs at least two scenario files\n")
        raise typer.Exit(code=2)
    p = _precision(precision)
    _check_kpi(kpi)
    _check_kpi(best_by)
    check_out(out, files)
    problems: list[ErrorLine] = []
    scenarios = []
    for f in files:
        try:
            scenarios.append(load_scenario(f))
        except ScenarioError as err:
            problems += err.errors
    if problems:
        raise _fail(ScenarioError(problems))
    currencies = {s.campaign.currency for s in scenarios}
    if len(currencies) > 1:
        listed = ", ".join(
            f"{f}: {s.campaign.currency}" for f, s in zip(files, scenarios, strict=True)
        )
        sys.stderr.write(f"error: the plans count money in different currencies ({listed}); "
                         "compare plans in one currency\n")  # fmt: skip
        raise typer.Exit(code=2)
    plans = [compile_plan(s) for s in scenarios]
    console = Console(width=max(120, Console().width))
    with progress_bar("replicates") as bar:
        task = bar.add_task(f"{len(plans)} plans", total=len(plans) * (replicates or 20))

        def progress(done: int, planned: int) -> None:
            bar.update(task, completed=done, total=planned)

        try:
            cmp = compare_plans(*plans, replicates=replicates, seed=seed, workers=workers,
                                shoppers=shoppers, precision=p, kpi=kpi,
                                max_replicates=max_replicates, progress=progress)  # fmt: skip
        except Interrupted as stop:
            raise _interrupted(stop.partial, out, "paired") from None
    cmp.attrs["best_by"] = best_by
    saved = save_results(cmp, out) if out is not None else None  # first: nothing to lose
    render_comparison(cmp, console, best_by=best_by)
    if p is not None:
        n = cmp.sizes["replicate"]
        console.print(f"  {n} paired replicates; " + _precision_line(cmp.attrs, kpi, n),
                      markup=False)  # fmt: skip
    if saved is not None:
        console.print(f"  comparison: {saved}", markup=False)
        if saved != out:
            raise typer.Exit(code=1)


@app.command("kpis")
def kpis_cmd(
    results: Annotated[Path, typer.Argument(help="Results saved by `promosim run --out`.")],
) -> None:
    """Print the KPI table of saved results."""
    from sim.metrics import kpis, summarize
    from sim.render import render_kpis
    from sim.results import load

    try:
        ds = load(results)
    except (OSError, ValueError) as err:
        sys.stderr.write(f"error: {results}: cannot read results ({err})\n")
        raise typer.Exit(code=2) from None
    console = Console(width=max(140, Console().width))
    if "paired" in ds:  # a comparison saved by `promosim compare --out`: its paired table
        from sim.render import render_comparison

        render_comparison(ds, console, best_by=str(ds.attrs.get("best_by", "profit")))
        return
    if "scenario_toml" not in ds.attrs or "gmv" not in ds:
        sys.stderr.write(f"error: {results}: not promosim results (no scenario or gmv inside)\n")
        raise typer.Exit(code=2)
    try:
        table = summarize(kpis(ds))
    except (KeyError, ValueError) as err:
        sys.stderr.write(f"error: {results}: incomplete promosim results ({err})\n")
        raise typer.Exit(code=2) from None
    render_kpis(table, console)
    if not ds.attrs.get("complete", 1):
        console.print("  (partial results: the run was interrupted)", markup=False)


@app.command()
def keys(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the Markdown to this file.")
    ] = None,
) -> None:
    """Print the reference of every scenario key (meaning, type, default, allowed range)."""
    from sim.scenario.reference import reference_markdown

    check_out(out)
    text = reference_markdown()
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_atomic(out, text)
        typer.echo(f"wrote {out}")


from sim import (  # noqa: E402
    cli_report,  # noqa: F401  (registers the report command)
    cli_sweep,  # noqa: F401  (registers the sweep commands)
)


def main() -> None:
    """Entry point of the ``promosim`` command."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except ScenarioError as err:  # found when the plan is compiled (sim.plan)
        raise SystemExit(_fail(err).exit_code) from None
    except KeyboardInterrupt:
        # typer usually exits 130 itself; this covers an interrupt outside a command.
        # Nothing is half-written: commands write their files atomically, at the end.
        sys.stderr.write("interrupted; nothing was written.\n")
        raise SystemExit(130) from None


if __name__ == "__main__":  # pragma: no cover
    main()
