"""The scenario language: models, loading, validation and the key reference."""

from sim.scenario.loader import (
    ErrorLine,
    ScenarioError,
    content_hash,
    load_scenario,
    to_toml,
)
from sim.scenario.models import Scenario

__all__ = ["ErrorLine", "Scenario", "ScenarioError", "content_hash", "load_scenario", "to_toml"]
