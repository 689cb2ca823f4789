"""Comparing recorded predictions with replayed ones, field by field.

What is compared is a prediction's ``result`` (its ``metadata`` always
differs: another model version, another time), or the whole prediction when
it has no ``result`` (a CSV row). Results are flattened into fields: nested
dicts to dotted paths (``scores.churn``), list items to indexed paths
(``probabilities[1]``), and a result that is neither a dict nor a list is
the one field ``(result)``. A field present on one side only has ``None``
on the other.

A field whose old and new values are both numbers (``int`` or ``float``,
not ``bool``) is compared by its delta, ``new - old``: it changed when
``|delta|`` exceeds the tolerance. Any other field changed when the values
differ. :class:`DiffReport` gathers, per field, how many records had it and
how many changed; for numbers the deltas' mean, the largest ``|delta|`` and
the p50, p90 and p99 of ``|delta|`` over every compared record, and the
records with the largest ``|delta|``; for other values the first changed
records.
"""

from __future__ import annotations

import array
import collections
import heapq
import math
from collections import Counter
from typing import Any

__all__ = ["ROOT", "DiffReport", "FieldDiff", "compared_value", "flatten", "is_number"]

#: The field name of a result that is a single value.
ROOT = "(result)"


def compared_value(prediction: Any) -> Any:
    """The part of a prediction that is compared: its ``result``, or all of it."""
    if isinstance(prediction, dict) and "result" in prediction:
        return prediction["result"]
    return prediction


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite ``int`` or ``float`` (``bool`` is not a number here)."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


def flatten(value: Any) -> dict[str, Any]:
    """Return ``value``'s fields: ``{dotted or indexed path: leaf value}``."""
    out: dict[str, Any] = {}
    _flatten(value, "", out)
    return out


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            _flatten(item, f"{path}[{index}]", out)
    else:
        out[path or ROOT] = value


class FieldDiff:
    """How one field changed across the replayed records."""

    def __init__(self, name: str, top: int):
        self.name = name
        #: Records that have the field on either side.
        self.compared = 0
        #: Records where it changed.
        self.changed = 0
        #: Records where both values were numbers.
        self.numbers = 0
        # Signed deltas of every numeric pair (8 bytes each): the quantiles need them all.
        self.deltas = array.array("d")
        self._top = top
        self._largest: list[tuple[float, int, str, Any, Any]] = []
        self._seen = 0
        #: The first changed records whose values are not both numbers: ``(id, old, new)``.
        self.examples: list[tuple[str, Any, Any]] = []

    @property
    def kind(self) -> str:
        """``number`` (every pair numeric), ``other`` (none) or ``mixed``."""
        if self.numbers == self.compared:
            return "number"
        return "other" if self.numbers == 0 else "mixed"

    def add_number(self, record_id: str, old: float, new: float, changed: bool) -> None:
        delta = new - old
        self.numbers += 1
        self.deltas.append(delta)
        if changed:
            self._seen += 1
            item = (abs(delta), -self._seen, record_id, old, new)
            if len(self._largest) < self._top:
                heapq.heappush(self._largest, item)
            elif item > self._largest[0]:
                heapq.heapreplace(self._largest, item)

    def add_other(self, record_id: str, old: Any, new: Any) -> None:
        if len(self.examples) < self._top:
            self.examples.append((record_id, old, new))

    def most_changed(self) -> list[tuple[str, Any, Any, float | None]]:
        """The most changed records: ``(id, old, new, delta)``, largest ``|delta|`` first.

        Numeric changes come first (ties: the earlier record first), then the
        first other changes (their delta ``None``), at most ``top`` in all.
        """
        ranked = sorted(self._largest, reverse=True)
        out: list[tuple[str, Any, Any, float | None]] = [
            (record_id, old, new, new - old) for _, _, record_id, old, new in ranked
        ]
        out.extend((record_id, old, new, None) for record_id, old, new in self.examples)
        return out[: self._top]

    def mean(self) -> float | None:
        """The mean signed delta, or ``None`` without numeric pairs."""
        return math.fsum(self.deltas) / len(self.deltas) if self.deltas else None

    def quantiles(self, points: tuple[float, ...] = (0.5, 0.9, 0.99)) -> dict[str, float]:
        """``max``, ``p50``, ``p90`` and ``p99`` of ``|delta|`` (nearest rank), if any."""
        if not self.deltas:
            return {}
        sizes = sorted(abs(d) for d in self.deltas)
        out = {"max": sizes[-1]}
        for point in points:
            rank = max(1, math.ceil(point * len(sizes)))
            out[f"p{round(point * 100):d}"] = sizes[rank - 1]
        return out


class DiffReport:
    """Field-by-field differences between recorded and replayed predictions.

    :param top: How many most changed records to keep per field.
    :param tolerance: Numeric changes up to this size (``|delta|``) do not count.
    """

    def __init__(self, top: int = 10, tolerance: float = 0.0):
        if top < 0 or not tolerance >= 0:
            raise ValueError("top and tolerance must not be negative")
        self.top = top
        self.tolerance = tolerance
        self.fields: dict[str, FieldDiff] = {}
        #: Records compared (replayed with an answer, error or not).
        self.replayed = 0
        #: Records with at least one changed field.
        self.changed = 0
        #: Records the new version answered with an error, and the errors' messages.
        self.errors = 0
        self.error_messages: Counter[str] = collections.Counter()
        #: Records that could not be sent or answered at all (not written; a rerun retries them).
        self.failed = 0
        self.failure_messages: Counter[str] = collections.Counter()

    def compare(self, record_id: str, old: Any, new: Any) -> list[str]:
        """Compare one record's old and new compared values; return the changed fields."""
        self.replayed += 1
        old_fields = flatten(old)
        new_fields = flatten(new)
        changed = []
        for name in old_fields.keys() | new_fields.keys():
            field = self.fields.get(name)
            if field is None:
                field = self.fields[name] = FieldDiff(name, self.top)
            field.compared += 1
            before = old_fields.get(name)
            after = new_fields.get(name)
            if is_number(before) and is_number(after):
                moved = abs(after - before) > self.tolerance
                field.add_number(record_id, before, after, moved)
            else:
                moved = before != after or type(before) is not type(after)
                if moved:
                    field.add_other(record_id, before, after)
            if moved:
                field.changed += 1
                changed.append(name)
        if changed:
            self.changed += 1
        changed.sort()
        return changed

    def add(self, outcome: dict[str, Any]) -> dict[str, Any]:
        """Count one replayed record, a line of ``--out``; return it with ``changed`` set.

        ``outcome`` holds ``id``, ``old`` and ``new`` (compared values), or
        ``error`` (and ``status``) when the new version answered with an error.
        """
        if "error" in outcome:
            self.replayed += 1
            self.errors += 1
            self.error_messages[str(outcome["error"])] += 1
            outcome.pop("changed", None)
            return outcome
        record_id = str(outcome["id"])
        outcome["changed"] = self.compare(record_id, outcome.get("old"), outcome.get("new"))
        return outcome

    def sorted_fields(self) -> list[FieldDiff]:
        """Fields, the most changed first, then by name."""
        return sorted(self.fields.values(), key=lambda f: (-f.changed, f.name))
