"""Where and on what a benchmark ran: the processor, the code and the libraries.

The project's machines change between sessions (an Intel Xeon VM, AMD EPYC VMs of
different generations), and their figures differ by up to 2x: a recorded figure is
only worth comparing with one from the same processor and a known commit.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """The processor as /proc/cpuinfo names it, with its family and model numbers
    (two 'AMD EPYC' VMs of different generations share the name)."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model") and key not in info:
                info[key] = value.strip()
    except OSError:
        return platform.processor() or platform.machine()
    name = info.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']}, model {info['model']})"
    return name


CODE = ("sim", "benchmarks/*.py", "pyproject.toml", "scenarios")
"""What decides a benchmark's figures: a change elsewhere (the recorded results, the
docs) does not mark the commit as modified."""


def commit() -> str:
    """The checked-out commit (short hash), marked when the code (``CODE``) has
    uncommitted changes; 'unknown' outside a git checkout."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
            text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE], cwd=ROOT,
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev} (with uncommitted changes)" if dirty else rev


def provenance() -> dict[str, object]:
    """The keys every recorded benchmark carries: date, processor, cores, commit, and
    the versions that decide the compiled code. Call it when the benchmark starts: a
    commit made while it runs is not the code that ran."""
    import numba
    import numpy

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "commit": commit(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(provenance(), indent=2))
