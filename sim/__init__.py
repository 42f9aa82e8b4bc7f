"""promosim: Monte Carlo simulator of e-commerce mega-sales.

Strategists write a campaign plan as a scenario file (TOML); promosim validates it,
compiles it into a :class:`Plan` of flat arrays, and simulates shoppers and
fulfilment over many replicates.
"""

from sim._version import __version__
from sim.plan import Plan, compile_plan
from sim.scenario import Scenario, ScenarioError, content_hash, load_scenario, to_toml

__all__ = [
    "Plan",
    "Scenario",
    "ScenarioError",
    "__version__",
    "compile_plan",
    "content_hash",
    "load_scenario",
    "to_toml",
]
