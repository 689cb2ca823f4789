"""Fixtures of the compatibility suite: one moto server, both Pythons, cached outcomes.

The suite's report (the allowed differences with their reasons, what could not
be compared, and every unexpected difference) is printed at the end of the
pytest run by :func:`pytest_terminal_summary`.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Callable

import pytest

from compat import differences, harness
from compat.environments import cache_dir, ensure_model06, ensure_v060

# model06's own tests are run by a scenario, under each package, not collected here.
collect_ignore = ["model06", "scenarios"]

#: Every outcome computed in this session, for the final report.
OUTCOMES: dict[str, harness.Outcome] = {}


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto server (127.0.0.1, a free port) for every scenario; stopped at the end."""
    from moto.server import ThreadedMotoServer

    # The server's request log would fill the captured output of every failure.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sides() -> dict[str, harness.Side]:
    """ML2P 0.6.0's Python (its own virtualenv) and ours, both with model06 installed."""
    v060 = harness.Side("v060", ensure_v060(cache_dir() / "ml2p-0.6.0"))
    # ML2P_COMPAT_OURS_PYTHON: compare another environment's ML2P (e.g. a branch's).
    ours = harness.Side("ours", os.environ.get("ML2P_COMPAT_OURS_PYTHON") or sys.executable)
    for side in (v060, ours):
        ensure_model06(side.python)
    return {"v060": v060, "ours": ours}


@pytest.fixture(scope="session")
def work_root() -> Iterator[str]:
    """The folder scenarios run in; ``ML2P_COMPAT_KEEP=<folder>`` keeps their files and JSON."""
    keep = os.environ.get("ML2P_COMPAT_KEEP")
    if keep:
        os.makedirs(keep, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="ml2p-compat-") as folder:
        yield folder


@pytest.fixture(scope="session")
def outcome(
    sides: dict[str, harness.Side], moto_url: str, work_root: str
) -> Callable[[str], harness.Outcome]:
    """``outcome(scenario)``: the scenario run through both packages and compared (once)."""

    def get(name: str) -> harness.Outcome:
        if name not in OUTCOMES:
            OUTCOMES[name] = harness.run_both(
                name, sides["v060"], sides["ours"], moto_url, work_root, differences.ALLOWED
            )
        return OUTCOMES[name]

    return get


def report_lines() -> list[str]:
    """The suite's report: allowed differences, what is not comparable, what is unexpected."""
    lines = ["", "ML2P 0.6.0 compatibility: allowed differences (compat/differences.py)"]
    seen: dict[str, int] = {}
    for outcome in OUTCOMES.values():
        for key, diffs in outcome.allowed.items():
            seen[key] = seen.get(key, 0) + len(diffs)
    for entry in differences.ALLOWED:
        count = seen.get(entry.id)
        status = f"seen {count}x" if count else "not seen in this run"
        where = ", ".join(entry.scenarios)
        lines.append(f"  [{entry.id}] ({entry.kind}; {where}; {status})")
        lines.append(f"      {entry.summary}")
        lines.append(f"      why: {entry.reason}")
    lines.append("")
    lines.append("Not comparable under moto or in a test (compat/differences.py)")
    for item in differences.NOT_COMPARABLE:
        lines.append(f"  [{item.id}] {item.what}")
        lines.append(f"      why: {item.reason}")
    lines.append("")
    lines.append("Seconds per run (0.6.0 / ours)")
    for name, outcome in OUTCOMES.items():
        lines.append(f"  {name}: {outcome.v060.seconds:.1f} / {outcome.ours.seconds:.1f}")
    unexpected = [d for o in OUTCOMES.values() for d in o.unexpected]
    lines.append("")
    lines.append(f"Unexpected differences: {len(unexpected)}")
    for diff in unexpected:
        lines.append("  " + diff.render().replace("\n", "\n  "))
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not OUTCOMES:
        return
    for line in report_lines():
        terminalreporter.write_line(line)
    target = os.environ.get("ML2P_COMPAT_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as f:
            f.write("\n".join(report_lines()) + "\n")
