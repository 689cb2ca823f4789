"""Record times: one fixed-width UTC form, read from ids, capture lines and user input.

Records carry their time in three spellings: the ``ts`` part of a record id
(``2026-12-01T08:30:26.280685``, naive UTC, no fraction when the
microseconds are 0, as ML2P 0.6 wrote it), a capture line's
``inferenceTime`` (``2026-12-01T08:30:26.280685Z`` or SageMaker's
``2026-12-01T08:30:26Z``) and a prediction's ``metadata.timestamp`` (POSIX
seconds). The reader turns each into one form, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``:
always 27 characters, so comparing two times as text compares them in time
(the spellings above do not: ``...:26Z`` sorts after ``...:26.5Z``). That
form is the one a capture line's ``inferenceTime`` is written in
(:func:`ml2p.record_format.posix_time`, importable from here too).
"""

from __future__ import annotations

import datetime
import re
import time
from typing import Any

from ml2p.record_format import padded_time, posix_time

__all__ = ["id_time", "normal_time", "parse_when", "posix_time"]

_UTC = datetime.timezone.utc
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?\Z")
# The ts pair of a record id: first, or after a "--", and ending the id or a pair.
_ID_TS = re.compile(r"(?:\A|--)ts-(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?)(?=--|\Z)")
_RELATIVE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def normal_time(text: str) -> str | None:
    """Return an ISO 8601 UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, or ``None``.

    Accepts the ``ts`` spelling (naive, taken as UTC), a trailing ``Z`` or an
    offset (converted to UTC), and 0 to 6 fraction digits (more are cut).
    ``None`` if ``text`` is not such a time.
    """
    if not isinstance(text, str):
        return None
    if text.endswith("Z"):
        text = text[:-1]
    elif text.endswith("+00:00"):
        text = text[:-6]
    if len(text) > 26 and text[19:20] == "." and text[20:].isdigit():
        text = text[:26]  # nanoseconds: keep the microseconds
    if _ISO.match(text):
        return padded_time(text)
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(_UTC).replace(tzinfo=None)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def id_time(record_id: str) -> str | None:
    """Return the time of a record id's ``ts`` pair in the fixed-width form, or ``None``.

    The pair may be anywhere in the id (a model's own ``record_invoke_id``
    may put other pairs first); ``None`` if the id has no valid ``ts`` pair.
    """
    if record_id.startswith("ts-"):
        # The default id: the time is the 19 to 26 characters after "ts-".
        end = record_id.find("--", 3)
        text = record_id[3:] if end < 0 else record_id[3:end]
        if _ISO.match(text):
            return padded_time(text)
    match = _ID_TS.search(record_id)
    return padded_time(match.group(1)) if match else None


def parse_when(value: Any, now: float | None = None) -> str:
    """Return a time bound given by a user in the fixed-width form.

    ``value`` may be a ``datetime.datetime`` (naive means UTC), a
    ``datetime.date`` (its midnight, UTC), POSIX seconds, or text: an
    ISO 8601 date or time (``2026-12-01``, ``2026-12-01T08:30``,
    ``2026-12-01T08:30:00+02:00``; no offset means UTC) or an age, a number
    followed by ``s``, ``m``, ``h``, ``d`` or ``w`` (``90m``, ``7d``: that
    long before ``now``).

    :raises ValueError: naming the value, if it is none of these.
    """
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%dT00:00:00.000000Z")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return posix_time(float(value))
    if isinstance(value, str):
        relative = _RELATIVE.match(value)
        if relative:
            age = float(relative.group(1)) * _UNITS[relative.group(2)]
            return posix_time((time.time() if now is None else now) - age)
        text = value.strip()
        if len(text) == 10:
            try:
                return parse_when(datetime.date.fromisoformat(text))
            except ValueError:
                pass
        normal = normal_time(text)
        if normal is not None:
            try:  # the fast path takes any digits: check that it is a real time
                datetime.datetime.strptime(normal, "%Y-%m-%dT%H:%M:%S.%fZ")
                return normal
            except ValueError:
                pass
    raise ValueError(
        f"{value!r} is not a time: give an ISO 8601 date or time (2026-12-01, "
        "2026-12-01T08:30, 2026-12-01T08:30:00Z) or an age such as 90m, 12h or 7d"
    )
