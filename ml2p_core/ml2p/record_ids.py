"""Invocation record ids: merging the parts plugins contribute, made S3-safe.

A record id is an ordered set of key-value pairs, written as the S3 object
name ``key-value--key-value...``. Every key and value passes through
:func:`safe_part`, so no plugin can put ``/``, ``..``, control characters or
an unbounded string into an S3 key, nor a ``--`` that would blur two pairs.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 128
MAX_ID_CHARS = 900  # S3 keys are at most 1024 bytes; leave room for the prefix.

_UNSAFE = re.compile(r"[^A-Za-z0-9._:+=@,-]")
_DASHES = re.compile(r"-{2,}")
_DOTS = re.compile(r"\.{2,}")


def _already_safe(text: str, limit: int) -> bool:
    # The common case (timestamps, uuids, plain names) needs no substitution.
    return (
        0 < len(text) <= limit
        and _UNSAFE.search(text) is None
        and "--" not in text
        and ".." not in text
        and text[0] != "-"
        and text[-1] != "-"
    )


def safe_part(value: Any, limit: int) -> str:
    """Return ``str(value)`` made safe for one part of an S3 key, at most ``limit`` chars.

    Characters outside ``A-Za-z0-9._:+=@,-`` become ``_``, runs of ``-`` or
    ``.`` shrink to one, the text is cut to ``limit`` characters and
    stripped of leading and trailing ``-``; an empty result is ``_``.
    """
    text = value if type(value) is str else str(value)
    if _already_safe(text, limit):
        return text
    text = _UNSAFE.sub("_", text)
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
            # Keys repeat on every record: sanitise each distinct one once.
            safe_key = _KEY_CACHE.get(key) if type(key) is str else None
            if safe_key is None:
                safe_key = safe_part(key, MAX_KEY_CHARS)
                if type(key) is str and len(_KEY_CACHE) < 1024:
                    _KEY_CACHE[key] = safe_key
            if safe_key not in merged:
                merged[safe_key] = safe_part(value, MAX_VALUE_CHARS)
    return merged


_KEY_CACHE: Dict[str, str] = {}
# (second, "YYYY-MM-DDTHH:MM:SS") of the last stamp; one tuple, so threads never mix two.
_stamp: Tuple[int, str] = (-1, "")


def utc_timestamp(now: Optional[float] = None) -> str:
    """Return the UTC time ``now`` (default: the current time) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

    The same text as ``datetime.strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` in UTC,
    made from a per-second prefix cached between calls.
    """
    global _stamp
    if now is None:
        now = time.time()
    second = int(now)
    micros = round((now - second) * 1e6)
    if micros >= 1000000:  # rounding reached the next second
        second += 1
        micros -= 1000000
    cached_second, prefix = _stamp
    if cached_second != second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _stamp = (second, prefix)
    return f"{prefix}.{micros:06d}Z"


_VERSION_MASK = ~(0xF << 76) & ~(0x3 << 62)
_VERSION_BITS = (0x4 << 76) | (0x2 << 62)
_MASK_BYTES = (_VERSION_MASK & ((1 << 128) - 1)).to_bytes(16, "big")
_BITS_BYTES = _VERSION_BITS.to_bytes(16, "big")


def uuid4_text() -> str:
    """Return a random (version 4, RFC 4122 variant) UUID in its usual 36-character form.

    Equivalent to ``str(uuid.uuid4())`` (also from :func:`os.urandom`),
    without building a ``uuid.UUID`` object.
    """
    n = int.from_bytes(os.urandom(16), "big") & _VERSION_MASK | _VERSION_BITS
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid4_texts(count: int) -> List[str]:
    """Return ``count`` random version 4 UUIDs as :func:`uuid4_text` does, made in bulk.

    One :func:`os.urandom` call, one masking and one hex formatting for all
    of them; the batched recorder names thousands of records a second this way.
    """
    if count <= 0:
        return []
    # The version and variant masks repeated count times set every UUID's bits at once.
    mask = int.from_bytes(_MASK_BYTES * count, "big")
    bits = int.from_bytes(_BITS_BYTES * count, "big")
    n = int.from_bytes(os.urandom(16 * count), "big") & mask | bits
    h = f"{n:0{32 * count}x}"
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-"
        f"{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


def format_record_id(parts: Mapping[str, str]) -> str:
    """Join pairs as ``key-value`` separated by ``--``, bounded in length."""
    return "--".join(f"{k}-{v}" for k, v in parts.items())[:MAX_ID_CHARS].rstrip("-")
