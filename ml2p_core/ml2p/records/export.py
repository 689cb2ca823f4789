"""Writing records out as JSON Lines or CSV, streaming."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any, Callable

from ml2p.records.diff import ROOT, flatten
from ml2p.records.reader import Record

__all__ = ["FORMATS", "OTHER_COLUMN", "csv_columns", "jsonl_line", "write_csv", "write_jsonl"]

#: The export formats.
FORMATS = ("jsonl", "csv")
#: The CSV column holding the fields first seen after the header was written.
OTHER_COLUMN = "_other"
#: Records read before the CSV header is written, to find its columns.
HEADER_SAMPLE = 1000


def jsonl_line(value: dict[str, Any]) -> str:
    """``value`` as one compact JSON line (non-ASCII kept), without the newline."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(
    records: Iterable[Record], handle: IO[str], advance: Callable[[int], None] | None = None
) -> int:
    """Write ``{"id", "time", "input", "prediction"}`` per record; return how many."""
    count = 0
    for record in records:
        handle.write(
            jsonl_line(
                {
                    "id": record.id,
                    "time": record.time,
                    "input": record.input,
                    "prediction": record.prediction,
                }
            )
            + "\n"
        )
        count += 1
        if advance is not None:
            advance(1)
    return count


def _columns(prefix: str, value: Any) -> dict[str, Any]:
    out = {}
    for path, leaf in flatten(value).items():
        if path == ROOT:
            name = prefix
        elif path.startswith("["):
            name = prefix + path
        else:
            name = f"{prefix}.{path}"
        out[name] = leaf
    return out


def _cells(record: Record) -> dict[str, Any]:
    return {
        "id": record.id,
        "time": record.time,
        **_columns("input", record.input),
        **_columns("prediction", record.prediction),
    }


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def csv_columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The columns of ``rows``: ``id``, ``time``, then every other in first-seen order."""
    seen: dict[str, None] = {"id": None, "time": None}
    for row in rows:
        for name in row:
            seen.setdefault(name, None)
    return [*seen, OTHER_COLUMN]


def write_csv(
    records: Iterable[Record], handle: IO[str], advance: Callable[[int], None] | None = None
) -> int:
    """Write records as CSV rows of flattened fields; return how many.

    Columns: ``id``, ``time``, ``input.<field>``... and
    ``prediction.<field>``... (dotted paths for nested dicts, ``[i]`` for
    list items, as :func:`ml2p.records.diff.flatten` names them), found in
    the first 1,000 records. A field first seen later goes, with its value,
    into the last column, ``_other`` (a JSON object), so nothing is lost and
    every row has the same columns. Nested empty values and lists are JSON
    text; ``None`` is an empty cell.
    """
    rows: Iterator[dict[str, Any]] = (_cells(record) for record in records)
    head = list(itertools.islice(rows, HEADER_SAMPLE))
    columns = csv_columns(head)
    known = set(columns)
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for row in itertools.chain(head, rows):
        other = {name: value for name, value in row.items() if name not in known}
        cells = [_cell(row.get(name)) for name in columns[:-1]]
        cells.append(json.dumps(other, ensure_ascii=False, sort_keys=True) if other else "")
        writer.writerow(cells)
        count += 1
        if advance is not None:
            advance(1)
    return count
