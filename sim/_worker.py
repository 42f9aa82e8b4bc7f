"""Set-up of each Dask worker process of a LocalCluster that promosim starts itself
(a Dask preload: :func:`sim.runner.local_cluster`)."""

from __future__ import annotations

import signal
from typing import Any


def dask_setup(worker: Any) -> None:
    """Ctrl-C at a terminal reaches every process of its group: the command that owns the
    cluster stops it and keeps what is finished; workers that stopped themselves too
    printed dozens of lines of tracebacks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
