"""promosim: Monte Carlo simulator of e-commerce mega-sales.

Strategists write a campaign plan as a scenario file (TOML); promosim validates it,
compiles it into a :class:`Plan` of flat arrays, and simulates shoppers and
fulfilment over many replicates (:func:`run`), with KPIs (:func:`kpis`,
:func:`summarize`) and paired comparisons (:func:`compare`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from sim._version import __version__
from sim.plan import Plan, compile_plan
from sim.scenario import Scenario, ScenarioError, content_hash, load_scenario, to_toml

if TYPE_CHECKING:
    from sim.comparison import compare
    from sim.metrics import kpis, summarize
    from sim.results import load, save
    from sim.runner import run

# the experiment layer (xarray, scipy, Dask) loads on first use, so that
# `promosim validate` and `import sim` stay quick
_LAZY = {
    "run": "sim.runner",
    "compare": "sim.comparison",
    "kpis": "sim.metrics",
    "summarize": "sim.metrics",
    "save": "sim.results",
    "load": "sim.results",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sim' has no attribute '{name}'")


__all__ = [
    "Plan",
    "Scenario",
    "ScenarioError",
    "__version__",
    "compare",
    "compile_plan",
    "content_hash",
    "kpis",
    "load",
    "load_scenario",
    "run",
    "save",
    "summarize",
    "to_toml",
]
