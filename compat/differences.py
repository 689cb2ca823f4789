"""The one list of deliberate differences between ML2P 0.7 and ML2P 0.6.0.

ML2P 0.7 matches 0.6.0 name for name and behaviour for behaviour, except where
0.6.0 loses data, hides a failure or is unsafe, or where the library
reference says otherwise. Each such difference is an :class:`Allowed` entry
here: the scenario and observation paths it applies to, an optional check
that the difference is exactly the documented one, and its reason.
``docs/migration.md`` documents exactly this list (``compat/test_migration_doc.py``
checks that the ids match). Anything else that differs fails the suite.

:data:`NOT_COMPARABLE` lists what the suite cannot run through both packages,
and why.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Tuple

#: Why a difference is allowed.
LOSES_DATA = "0.6 loses data"
HIDES_FAILURE = "0.6 hides a failure"
UNSAFE = "0.6 is unsafe"
REFERENCE = "the library reference says otherwise"
KINDS = (LOSES_DATA, HIDES_FAILURE, UNSAFE, REFERENCE)


@dataclasses.dataclass(frozen=True)
class Allowed:
    """A deliberate difference.

    :param id: A short stable name; ``docs/migration.md`` has a section per id.
    :param scenario: The scenario it shows in (``scn_library``, ...).
    :param paths: fnmatch patterns of the observation paths it explains.
    :param kind: One of :data:`KINDS`.
    :param summary: What differs, in a sentence.
    :param reason: Why, in a sentence or two.
    :param check: ``check(v060, ours)`` must hold for a difference to be allowed.
    """

    id: str
    scenario: str
    paths: Tuple[str, ...]
    kind: str
    summary: str
    reason: str
    check: Optional[Callable[[Any, Any], bool]] = None


@dataclasses.dataclass(frozen=True)
class NotComparable:
    """Something the suite cannot run through both packages, and why."""

    id: str
    what: str
    reason: str


ALLOWED: Tuple[Allowed, ...] = ()

NOT_COMPARABLE: Tuple[NotComparable, ...] = ()
