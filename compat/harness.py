"""Running one scenario through both packages and comparing what each observed.

A scenario script (``compat/scenarios/scn_*.py``) is run by ML2P 0.6.0's Python
and by this project's Python in turn, each in a subprocess, against the same
moto server, reset before each run. Each run writes a JSON document of
observations (see ``compat/scenarios/observe.py``). :func:`normalise` replaces
what depends on time, randomness or the run's folder by placeholders that
keep the value's shape; :func:`compare` walks both documents and returns
every :class:`Difference`; :func:`classify` splits them into the allowed
ones (``compat/differences.py``) and the unexpected ones.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCENARIOS_DIR = os.path.join(HERE, "scenarios")
MODEL06_DIR = os.path.join(HERE, "model06")

#: Scenario runs that take longer than this are killed (a hung server, a waiter).
SCENARIO_TIMEOUT = 240

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

ABSENT = "<absent>"


@dataclasses.dataclass(frozen=True)
class Side:
    """One package under comparison: a label and the Python that has it installed."""

    label: str
    python: str

    @property
    def bin_dir(self) -> str:
        return os.path.dirname(self.python)


@dataclasses.dataclass
class Run:
    """What one scenario run produced."""

    side: Side
    doc: dict[str, Any]
    returncode: int
    stderr: str
    seconds: float = 0.0

    @property
    def observations(self) -> dict[str, Any]:
        return self.doc.get("observations", {})

    @property
    def completed(self) -> bool:
        """Whether the scenario ran to its end with no section crashing."""
        obs = self.observations
        sections = [v for k, v in obs.items() if k.startswith("section-completed/")]
        return obs.get("scenario-completed") is True and all(v is True for v in sections)

    def crashes(self) -> str:
        """The tracebacks of the sections that crashed, and the run's stderr tail."""
        crashed = {k: v for k, v in self.observations.items() if k.startswith("_crashed/")}
        return json.dumps(crashed, indent=1) + "\n" + self.stderr[-3000:]


@dataclasses.dataclass(frozen=True)
class Difference:
    """One place where the two packages' observations differ (after normalising)."""

    scenario: str
    path: str
    v060: Any
    ours: Any

    def render(self, width: int = 400) -> str:
        old, new = self.v060, self.ours
        if isinstance(old, list) and isinstance(new, list):
            # Lists of different lengths: show what only one side has.
            old, new = _only_in(old, new), _only_in(new, old)
            label = " (items only in one)"
        else:
            label = ""
        return (
            f"{self.scenario}: {self.path}{label}\n"
            f"    0.6.0: {_short(old, width)}\n"
            f"    ours : {_short(new, width)}"
        )


def _only_in(items: list[Any], others: list[Any]) -> list[Any]:
    """The items of ``items`` not in ``others`` (as multisets)."""
    left = [json.dumps(o, sort_keys=True) for o in others]
    out = []
    for item in items:
        key = json.dumps(item, sort_keys=True)
        if key in left:
            left.remove(key)
        else:
            out.append(item)
    return out


def _short(value: Any, width: int) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


# ---------------------------------------------------------------- running


def reset_moto(url: str) -> None:
    """Reset every moto backend (S3, SageMaker, the runtime's canned results)."""
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(req, timeout=30).close()


def scenario_env(moto_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a scenario runs in: no ML2P, AWS or Python settings of the caller."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("ML2P_", "AWS_", "SAGEMAKER_", "PYTHON", "PIP_", "TOX_", "VIRTUAL_ENV")
        )
    }
    env.update(AWS_TEST_ENV)
    env["AWS_ENDPOINT_URL"] = moto_url
    env["TZ"] = "UTC"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    env["ML2P_COMPAT_MOTO_URL"] = moto_url
    env.update(extra or {})
    return env


def run_scenario(
    name: str, side: Side, moto_url: str, work_root: str, timeout: float = SCENARIO_TIMEOUT
) -> Run:
    """Reset moto, then run ``scenarios/<name>.py`` with ``side``'s Python in a fresh folder."""
    reset_moto(moto_url)
    work = os.path.join(work_root, side.label, name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    out = os.path.join(work_root, f"{name}.{side.label}.json")
    script = os.path.join(SCENARIOS_DIR, f"{name}.py")
    started = time.monotonic()
    proc = subprocess.run(
        [side.python, script, out, work],
        cwd=work,
        env=scenario_env(moto_url),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    try:
        with open(out, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        doc = {"observations": {"scenario-completed": False}}
    return Run(side, doc, proc.returncode, proc.stderr, time.monotonic() - started)


# ---------------------------------------------------------------- normalising

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})?"
)
_HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
#: Keys whose values differ per request: request ids, and the length of a
#: response whose timestamps vary in length.
_RANDOM_KEYS = {
    "RequestId",
    "x-amzn-requestid",
    "x-amz-request-id",
    "x-amz-id-2",
    "HostId",
    "content-length",
}
#: POSIX times (seconds) between 2001 and 2286 are taken for "now".
_POSIX_RANGE = (1e9, 1e10)


def _shape(match: re.Match[str]) -> str:
    # The fraction is dropped: isoformat() and str() leave it out when the
    # microseconds are 0, which would make one run in a million differ.
    text = re.sub(r"\.\d{1,6}", "", match.group(0))
    return "<datetime " + re.sub(r"\d", "d", text) + ">"


def normalise_text(text: str, version: str, work: str) -> str:
    """Replace the run's folder, uuids, dates and the package version in ``text``."""
    for folder in {work, os.path.realpath(work)}:
        if folder:
            text = text.replace(folder, "<work>")
    text = _UUID.sub("<uuid>", text)
    text = _DATETIME.sub(_shape, text)
    text = _HTTP_DATE.sub("<http-date>", text)
    if text == version:
        return "<ml2p-version>"
    return text


def normalise(value: Any, version: str, work: str, key: str = "") -> Any:
    """Return ``value`` with time-, uuid- and run-dependent parts replaced by placeholders.

    Datetimes keep their shape (``2026-12-01 08:30:26.280685+00:00`` becomes
    ``<datetime dddd-dd-dd dd:dd:dd.dddddd+dd:dd>``), so a change of format
    still shows.
    """
    if key in _RANDOM_KEYS and isinstance(value, str):
        return f"<{key}>"
    if isinstance(value, dict):
        return {
            normalise_text(k, version, work): normalise(v, version, work, k)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalise(v, version, work) for v in value]
    if isinstance(value, str):
        return normalise_text(value, version, work)
    if isinstance(value, float) and _POSIX_RANGE[0] < value < _POSIX_RANGE[1]:
        return "<posix-time>"
    return value


def normalised_observations(run: Run) -> dict[str, Any]:
    doc = run.doc
    return normalise(doc.get("observations", {}), doc.get("ml2p_version", "?"), doc.get("work", ""))


# ---------------------------------------------------------------- comparing


def _is_tagged(value: Any, tag: str) -> bool:
    return isinstance(value, dict) and tag in value


def _tag(value: Any) -> str | None:
    """The ``$`` tag of a tagged observation (an exception, a signature...), else None."""
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key.startswith("$"):
            return key
    return None


def catchable_compatible(old: Any, new: Any) -> bool:
    """Ours is compatible if every ``except`` clause that caught 0.6's exception catches ours.

    For raised exceptions (``$exc``) and exception classes (``$class``).
    """
    tag = _tag(old)
    return set(old[tag]["catchable"]) <= set(new[tag]["catchable"])


def signature_compatible(old: Any, new: Any) -> bool:
    """Ours is compatible if every call 0.6's signature accepts binds the same way.

    0.6's positional parameters must come first in ours, with the same
    names, and be optional where 0.6's are; 0.6's keyword-only parameters
    must exist; ``*args``/``**kwargs`` must be kept; anything ours adds must
    be optional.
    """
    positional = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
    old_params, new_params = old["$sig"], new["$sig"]
    new_by_name = {p[0]: p for p in new_params}
    old_pos = [p for p in old_params if p[1] in positional]
    new_pos = [p for p in new_params if p[1] in positional]
    if len(new_pos) < len(old_pos):
        return False
    for o, n in zip(old_pos, new_pos):
        if o[0] != n[0] or (o[2] and not n[2]):
            return False
    for extra in new_pos[len(old_pos) :]:
        if not extra[2]:
            return False
    old_names = {p[0] for p in old_params}
    for p in old_params:
        if p[1] == "KEYWORD_ONLY" and (
            p[0] not in new_by_name or (p[2] and not new_by_name[p[0]][2])
        ):
            return False
        if p[1] in ("VAR_POSITIONAL", "VAR_KEYWORD") and not any(q[1] == p[1] for q in new_params):
            return False
    for p in new_params:
        if p[0] not in old_names and p[1] == "KEYWORD_ONLY" and not p[2]:
            return False
    return True


def compare(scenario: str, old: Any, new: Any, path: str = "") -> list[Difference]:
    """Return the differences between 0.6's ``old`` and our ``new`` observations."""
    for tag in ("$exc", "$class"):
        if _is_tagged(old, tag) and _is_tagged(new, tag):
            if catchable_compatible(old, new):
                return []
            return [Difference(scenario, path, _public(old), _public(new))]
    if _is_tagged(old, "$sig") and _is_tagged(new, "$sig"):
        return [] if signature_compatible(old, new) else [Difference(scenario, path, old, new)]
    if _tag(old) != _tag(new):
        return [Difference(scenario, path, _public(old), _public(new))]
    if isinstance(old, dict) and isinstance(new, dict):
        diffs: list[Difference] = []
        for key in sorted(set(old) | set(new)):
            if key.startswith("_"):
                continue
            sub = f"{path}/{key}" if path else key
            diffs += compare(scenario, old.get(key, ABSENT), new.get(key, ABSENT), sub)
        return diffs
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        diffs = []
        for i, (o, n) in enumerate(zip(old, new)):
            diffs += compare(scenario, o, n, f"{path}[{i}]")
        return diffs
    if old == new and type(old) is type(new):
        return []
    return [Difference(scenario, path, _public(old), _public(new))]


#: ``_`` keys kept in a difference: an exception's message and class (for reports and checks).
_KEPT = ("_message", "_mro")


def _public(value: Any) -> Any:
    """Drop the ``_`` keys nobody compares, except those in :data:`_KEPT`."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_") or k in _KEPT}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


# ---------------------------------------------------------------- classifying


def matches(entry: Any, diff: Difference) -> bool:
    """Whether the allowed difference ``entry`` explains ``diff``.

    One of its ``scenario:path`` patterns must match, and its check (if any)
    must accept the two values.
    """
    where = f"{diff.scenario}:{diff.path}"
    if not any(fnmatch.fnmatchcase(where, pattern) for pattern in entry.where):
        return False
    try:
        return entry.check is None or bool(entry.check(diff.v060, diff.ours))
    except Exception:  # a check meeting an unforeseen value does not explain it
        return False


def classify(
    diffs: Iterable[Difference], allowed: Sequence[Any]
) -> tuple[dict[str, list[Difference]], list[Difference]]:
    """Split ``diffs`` into ``{allowed id: [diffs]}`` and the unexpected ones."""
    hits: dict[str, list[Difference]] = {}
    unexpected: list[Difference] = []
    for diff in diffs:
        entry = next((e for e in allowed if matches(e, diff)), None)
        if entry is None:
            unexpected.append(diff)
        else:
            hits.setdefault(entry.id, []).append(diff)
    return hits, unexpected


@dataclasses.dataclass
class Outcome:
    """A scenario run through both packages, compared."""

    scenario: str
    v060: Run
    ours: Run
    allowed: dict[str, list[Difference]]
    unexpected: list[Difference]


def run_both(
    name: str, v060: Side, ours: Side, moto_url: str, work_root: str, allowed: Sequence[Any]
) -> Outcome:
    """Run scenario ``name`` through both packages and compare."""
    old = run_scenario(name, v060, moto_url, work_root)
    new = run_scenario(name, ours, moto_url, work_root)
    diffs = compare(name, normalised_observations(old), normalised_observations(new))
    hits, unexpected = classify(diffs, allowed)
    return Outcome(name, old, new, hits, unexpected)
