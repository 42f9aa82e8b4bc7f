"""``promosim report``: the budget-proposal page (HTML, optionally PDF) from saved results.

Imported by :mod:`sim.cli` to register the command on its ``app``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sim.cli import app


@app.command("report")
def report_cmd(
    results: Annotated[
        list[Path],
        typer.Argument(
            help="Results saved by `promosim run --out` (netCDF). The first is the reference: "
            "its KPIs, charts and assumptions are shown; the others are compared to it."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML page to write.")],
    pdf: Annotated[
        Path | None,
        typer.Option(help="Also print the page to this PDF (needs /usr/bin/chromium)."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    name: Annotated[
        list[str] | None,
        typer.Option("--name", help="Label of each results file, in order (repeatable)."),
    ] = None,
) -> None:
    """Write a self-contained budget-proposal page: headline KPIs with uncertainty, the
    charts, the assumptions and, with several results, the paired comparison.

    Exit code 2 on bad input (nothing is written).
    """
    from sim.report import ReportError, write_report

    if name and len(name) != len(results):
        sys.stderr.write(
            f"error: --name given {len(name)} times for {len(results)} results files; "
            "nothing was written.\n"
        )
        raise typer.Exit(code=2)
    try:
        warnings = write_report(results, out, pdf=pdf, names=name or None, title=title)
    except ReportError as err:
        sys.stderr.write(f"error: {err}\nnothing was written.\n")
        raise typer.Exit(code=2) from None
    for w in warnings:
        sys.stderr.write(f"warning: {w}\n")
    typer.echo(f"wrote {out}" + (f" and {pdf}" if pdf else ""))
