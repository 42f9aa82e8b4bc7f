"""The ``promosim`` command line."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sim._version import __version__
from sim.scenario.loader import ScenarioError, content_hash, load_scenario

app = typer.Typer(
    name="promosim",
    help="Monte Carlo simulator of e-commerce mega-sales (Double 11, 618, Black Friday).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

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
        int | None, typer.Option(help="Simulated shoppers (default: the scenario's).", min=1)
    ] = None,
    replicate: Annotated[int, typer.Option(help="Replicate number.", min=0)] = 0,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    threads: Annotated[int | None, typer.Option(help="Threads (default: all cores).")] = None,
) -> None:
    """Run one replicate of the shopper model and print its KPIs.

    (Monte Carlo runs with many replicates, fulfilment and saved results come with
    `promosim run`.)
    """
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from sim.plan import compile_plan
    from sim.shoppers import ShopperModel
    from sim.summary import render_shopper_summary

    try:
        scenario = load_scenario(file, overrides or [])
    except ScenarioError as err:
        raise _fail(err) from None
    plan = compile_plan(scenario)
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


@app.command()
def keys(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the Markdown to this file.")
    ] = None,
) -> None:
    """Print the reference of every scenario key (meaning, type, default, allowed range)."""
    from sim.scenario.reference import reference_markdown

    text = reference_markdown()
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_atomic(out, text)
        typer.echo(f"wrote {out}")


def main() -> None:
    """Entry point of the ``promosim`` command."""
    try:
        app()
    except KeyboardInterrupt:
        # typer usually exits 130 itself; this covers an interrupt outside a command.
        # Nothing is half-written: commands write their files atomically, at the end.
        sys.stderr.write("interrupted; nothing was written.\n")
        raise SystemExit(130) from None


if __name__ == "__main__":  # pragma: no cover
    main()
