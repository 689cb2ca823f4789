"""Invocation record ids: merging the parts plugins contribute, made S3-safe.

A record id is an ordered set of key-value pairs, written as the S3 object
name ``key-value--key-value...``. Every key and value passes through
:func:`safe_part`, so no plugin can put ``/``, ``..``, control characters or
an unbounded string into an S3 key, nor a ``--`` that would blur two pairs.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 128
MAX_ID_CHARS = 900  # S3 keys are at most 1024 bytes; leave room for the prefix.

_UNSAFE = re.compile(r"[^A-Za-z0-9._:+=@,-]")
_DASHES = re.compile(r"-{2,}")
_DOTS = re.compile(r"\.{2,}")


def safe_part(value: Any, limit: int) -> str:
    """Return ``str(value)`` made safe for one part of an S3 key, at most ``limit`` chars."""
    text = _UNSAFE.sub("_", str(value))
    text = _DOTS.sub(".", _DASHES.sub("-", text))
    text = text[:limit].strip("-")
    return text or "_"


def _pairs(parts: Optional[Any]) -> Iterable[Tuple[Any, Any]]:
    if parts is None:
        return ()
    if isinstance(parts, Mapping):
        return parts.items()
    return parts


def merge_parts(parts: Iterable[Optional[Any]]) -> Dict[str, str]:
    """Merge ordered id parts (mappings or pair sequences) into one ordered dict.

    Keys and values are sanitised with :func:`safe_part`; a key already
    present keeps its first value.
    """
    merged: Dict[str, str] = {}
    for part in parts:
        for key, value in _pairs(part):
            safe_key = safe_part(key, MAX_KEY_CHARS)
            merged.setdefault(safe_key, safe_part(value, MAX_VALUE_CHARS))
    return merged


def format_record_id(parts: Mapping[str, str]) -> str:
    """Join pairs as ``key-value`` separated by ``--``, bounded in length."""
    return "--".join(f"{k}-{v}" for k, v in parts.items())[:MAX_ID_CHARS].rstrip("-")
