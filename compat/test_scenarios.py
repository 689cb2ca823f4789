"""Each scenario run through ML2P 0.6.0 and through this ML2P: no unexpected difference."""

from __future__ import annotations

import pytest

from compat import differences

SCENARIOS = ["scn_library", "scn_records", "scn_cli", "scn_docker", "scn_http", "scn_model06"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario, outcome):
    result = outcome(scenario)
    assert result.v060.completed, (
        f"{scenario} did not complete under ML2P 0.6.0 (the scenario is broken):\n"
        f"{result.v060.crashes()}"
    )
    assert not result.unexpected, "\n".join(d.render() for d in result.unexpected)


def test_model06_passes_its_own_tests_under_0_6(outcome):
    outcomes = outcome("scn_model06").v060.observations["tests/outcomes"]
    assert len(outcomes) >= 8
    assert set(outcomes.values()) == {"passed"}


def test_the_migration_steps_work_for_model06(outcome):
    """docs/migration.md's steps 2 and 4, on the unchanged 0.6 package."""
    observed = outcome("scn_model06").ours.observations
    assert observed["_ours/validate"]["exit"] == 0, observed["_ours/validate"]
    train = observed["_ours/local-train"]
    assert train["exit"] == 0, train
    assert train["model-files"] == ["slope.json"]


def test_every_allowed_difference_is_seen(outcome):
    """An allowed difference no scenario shows is a claim nothing checks."""
    seen = set()
    for scenario in SCENARIOS:
        seen |= set(outcome(scenario).allowed)
    assert [e.id for e in differences.ALLOWED if e.id not in seen] == []
