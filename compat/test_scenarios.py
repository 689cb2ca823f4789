"""Each scenario run through ML2P 0.6.0 and through this package: no unexpected difference."""

from __future__ import annotations

import pytest

SCENARIOS = ["scn_library", "scn_records", "scn_cli", "scn_docker", "scn_http", "scn_model06"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario, outcome):
    result = outcome(scenario)
    assert result.v060.completed, (
        f"{scenario} did not complete under ML2P 0.6.0 (the scenario is broken):\n"
        f"{result.v060.crashes()}"
    )
    assert not result.unexpected, "\n".join(d.render() for d in result.unexpected)
