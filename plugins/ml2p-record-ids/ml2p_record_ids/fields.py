"""Which input fields go into a record id, and how their values are made safe.

``ML2P_RECORD_ID_FIELDS`` is a comma-separated list of field names; a dotted
name reaches into nested objects (``customer.id`` is ``datum["customer"]["id"]``).
Each name segment is letters, digits, ``_`` and ``-``. The key in the record
id is the name with ``.`` and ``-`` turned into ``_`` (``customer_id``), so
that it can neither contain the ``-`` that separates key from value nor look
like another field's key.

A value goes into the id only if it is a string, an integer, a finite float
or a boolean (``true``/``false``), and only if, written as a string, it is
at most :data:`MAX_VALUE_CHARS` characters long and contains no ``/``, ``\\``,
``..``, control or other invisible formatting characters. Anything else
(a missing field, ``null``, an object or list, a refused value) is left out
of the id: the record is still written, under the default id parts. The
other characters that cannot appear in an S3 key part become ``_`` and runs
of ``-`` collapse to one, so the value cannot fake a ``--`` pair separator;
a value that starts or ends with ``-`` (a negative number, say) is left out,
as stripping the ``-`` would change it and keeping it would blur the
separator.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import threading
import unicodedata
from collections.abc import Iterable
from typing import Any, NamedTuple

from ml2p.errors import PluginError
from ml2p_record_ids import PLUGIN_NAME

FIELDS_ENV = "ML2P_RECORD_ID_FIELDS"
#: At most this many fields (a record id is bounded in length).
MAX_FIELDS = 8
#: Longest field name (the key is as long).
MAX_NAME_CHARS = 64
#: Longest value accepted, as a string.
MAX_VALUE_CHARS = 64
#: Keys the default record id already uses; the core keeps their first value.
RESERVED_KEYS = frozenset({"ts", "uuid"})

_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._:+=@,-]")
_DASHES = re.compile(r"-{2,}")
# Cc control, Cf format (bidi overrides, zero-width), Cs surrogates, line/paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

logger = logging.getLogger("ml2p.record_ids")
_warned: set = set()
_warned_lock = threading.Lock()


class Field(NamedTuple):
    """One configured field: its dotted ``name``, its ``path`` and its id ``key``."""

    name: str
    path: tuple[str, ...]
    key: str


def _config_error(raw: str, why: str) -> PluginError:
    return PluginError(PLUGIN_NAME, f"{FIELDS_ENV}={raw!r}: {why}")


@functools.lru_cache(maxsize=16)
def parse_fields(raw: str) -> tuple[Field, ...]:
    """Parse a ``ML2P_RECORD_ID_FIELDS`` value into fields, in order.

    Empty items (``"a,,b"``, a trailing comma) are ignored.

    :raises ml2p.errors.PluginError: naming the variable, for a bad name,
        a reserved key (``ts``, ``uuid``), two names with the same key, or
        more than :data:`MAX_FIELDS` fields.
    """
    fields: list[Field] = []
    keys = set()
    for item in raw.split(","):
        name = item.strip()
        if not name:
            continue
        path = tuple(name.split("."))
        if len(name) > MAX_NAME_CHARS or not all(_SEGMENT.match(p) for p in path):
            raise _config_error(
                raw,
                f"bad field name {name!r}: use dot-separated names of letters, digits, "
                f"'_' and '-' (at most {MAX_NAME_CHARS} characters)",
            )
        key = re.sub(r"[.-]", "_", name)
        if key in RESERVED_KEYS:
            raise _config_error(raw, f"field {name!r} would replace the record id's {key!r} part")
        if key in keys:
            raise _config_error(raw, f"field {name!r} gives the key {key!r} twice")
        keys.add(key)
        fields.append(Field(name, path, key))
    if len(fields) > MAX_FIELDS:
        raise _config_error(raw, f"at most {MAX_FIELDS} fields, got {len(fields)}")
    return tuple(fields)


def configured_fields() -> tuple[Field, ...]:
    """Return the fields ``ML2P_RECORD_ID_FIELDS`` names (none if it is unset or empty).

    :raises ml2p.errors.PluginError: naming the variable, if it is invalid.
    """
    return parse_fields(os.environ.get(FIELDS_ENV, ""))


def _lookup(datum: Any, path: Iterable[str]) -> Any:
    value = datum
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _as_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return value
    return None


def _refusal(text: str) -> str | None:
    if not text:
        return "empty"
    if len(text) > MAX_VALUE_CHARS:
        return f"longer than {MAX_VALUE_CHARS} characters"
    if "/" in text or "\\" in text or ".." in text:
        return "contains '/', '\\' or '..'"
    if any(unicodedata.category(c) in _INVISIBLE for c in text):
        return "contains control characters"
    return None


def _warn_once(field: Field, why: str) -> None:
    # Once per field and reason: a bad client must not flood the log, and the
    # value itself is not logged (it is untrusted input).
    with _warned_lock:
        if (field.name, why) in _warned:
            return
        _warned.add((field.name, why))
    logger.warning(
        "ml2p-record-ids: a value of field %r was left out of a record id: %s", field.name, why
    )


def safe_value(field: Field, value: Any) -> str | None:
    """Return ``value`` as a safe record id value, or ``None`` if it is left out.

    A refused value is logged once per field and reason (without the value).
    """
    text = _as_text(value)
    if text is None:
        return None
    why = _refusal(text)
    if why is not None:
        _warn_once(field, why)
        return None
    text = _DASHES.sub("-", _UNSAFE.sub("_", text))
    if text.startswith("-") or text.endswith("-"):
        # Stripping would change the value (-12 is not 12), keeping it would blur the "--".
        _warn_once(field, "starts or ends with '-'")
        return None
    return text


def id_parts(fields: Iterable[Field], datum: Any) -> list[tuple[str, str]]:
    """Return the ``(key, value)`` pairs ``fields`` contribute for ``datum``, in order."""
    parts = []
    for field in fields:
        value = safe_value(field, _lookup(datum, field.path))
        if value is not None:
            parts.append((field.key, value))
    return parts
