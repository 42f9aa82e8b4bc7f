from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="session")
def smoke_path() -> Path:
    return SCENARIOS / "smoke.toml"


@pytest.fixture(scope="session")
def baseline_path() -> Path:
    return SCENARIOS / "double11_baseline.toml"
