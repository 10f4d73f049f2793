"""Shared test settings: hypothesis profiles and paths. Nothing else lives here,
so that every test file stays importable on its own.

Profiles (HYPOTHESIS_PROFILE picks one; CI=true without it picks "ci"):
  default    hypothesis' usual 100 examples, no deadline
  ci         50 examples, no deadline, derandomized: the whole suite in about a minute
  expensive  1000 examples, for a long local run
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"
GOLDEN_DIR = FIXTURES / "golden"
CONFORMANCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "conformance"
JSON_TEST_SUITE = CONFORMANCE_DIR / "JSONTestSuite"

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("default", deadline=None)
settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
)
settings.register_profile(
    "expensive", max_examples=1000, deadline=None, suppress_health_check=_SLOW_OK
)


def _profile() -> str:
    name = os.environ.get("HYPOTHESIS_PROFILE")
    if name:
        return name
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return "ci"
    return "default"


settings.load_profile(_profile())


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    """Says plainly when the JSON conformance suite was not there to run."""
    if not (JSON_TEST_SUITE / "test_parsing").is_dir():
        terminalreporter.write_sep(
            "!",
            f"JSON conformance suite not found at {JSON_TEST_SUITE}: "
            "its tests (tests/test_conformance.py) did not run",
            yellow=True,
        )
