"""Parameter sweeps on Dask, stored in Zarr, resumable; sensitivity analysis.

See docs/sweeps.md. :func:`sweep` runs a design of scenario overrides (grid,
Latin hypercube, Sobol', Morris) with common random numbers across points;
:func:`open_sweep` reads a store; :func:`sensitivity` computes Sobol' or Morris
indices per KPI.
"""

from sim.sweep.design import DESIGNS, Design, Param, SweepError, make_design, parse_param
from sim.sweep.execute import jobqueue_cluster, sweep
from sim.sweep.sensitivity import sensitivity, tornado
from sim.sweep.store import open_sweep

__all__ = [
    "DESIGNS",
    "Design",
    "Param",
    "SweepError",
    "jobqueue_cluster",
    "make_design",
    "open_sweep",
    "parse_param",
    "sensitivity",
    "sweep",
    "tornado",
]
