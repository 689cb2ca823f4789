"""Invocation record ids: the default id, merging the parts plugins contribute, S3 keys.

Every record ML2P writes is named here, whichever way it was made
(:mod:`ml2p.recording`): :func:`default_id` is the one function that makes
the default id, :func:`record_key` the one that turns an id into an
``object`` layout key.

A record id is an ordered set of key-value pairs, written as the S3 object
name ``key-value--key-value...`` (``predictions/<model_version>/<id>.json``).
The default id is ML2P 0.6's: ``ts`` is the UTC time as
``datetime.datetime.utcnow().isoformat()`` writes it
(``2026-12-01T08:30:26.280685``: naive, no offset, no ``Z``, and no fraction
when the microseconds are 0), and ``uuid`` a random UUID4.

Keys and values are kept as the model or plugin returned them (spaces,
unicode, ``--`` and ``+`` included), except what would be unsafe in an S3 key
or in a local path made from one: :func:`safe_part` turns every ``/``, every
control character and every dot of a run of two or more dots (``..``) into
``_``. S3 keys are at most :data:`MAX_KEY_BYTES` bytes: :func:`record_key`
shortens a longer id and ends it with a hash of the whole id, so two long
ids still name two records.
"""

from __future__ import annotations

import collections
import hashlib
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

#: The longest S3 object key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024
#: What ends a shortened record id: ``--sha256-`` and 16 hex digits of the whole id's hash.
_HASH_PART = "--sha256-"
_HASH_CHARS = 16

# "/", control characters (Unicode category Cc) and runs of two or more dots.
_UNSAFE = re.compile(r"[/\x00-\x1f\x7f-\x9f]|\.{2,}")


def _underscores(match: re.Match[str]) -> str:
    return "_" * len(match.group())


def safe_part(value: Any) -> str:
    """Return ``str(value)`` made safe for one part of an S3 key.

    Every ``/``, every control character (``\\n``, ``\\x00``, ...) and
    every dot of a run of two or more dots becomes ``_``; everything else is
    kept as it is (``"a b"``, ``"é"``, ``"x--y"`` and ``"1+1"`` are unchanged).
    """
    text = value if type(value) is str else str(value)
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_underscores, text)


def _pairs(parts: Any | None) -> Iterable[tuple[Any, Any]]:
    if parts is None:
        return ()
    if isinstance(parts, Mapping):
        return parts.items()
    return parts


def merge_parts(parts: Iterable[Any | None]) -> dict[str, str]:
    """Merge ordered id parts (mappings or pair sequences) into one ordered dict.

    Keys and values are made safe with :func:`safe_part`; a key already
    present keeps its first value.
    """
    merged: dict[str, str] = {}
    for part in parts:
        for key, value in _pairs(part):
            # Keys repeat on every record: sanitise each distinct one once.
            safe_key = _KEY_CACHE.get(key) if type(key) is str else None
            if safe_key is None:
                safe_key = safe_part(key)
                if type(key) is str and len(_KEY_CACHE) < 1024:
                    _KEY_CACHE[key] = safe_key
            if safe_key not in merged:
                merged[safe_key] = safe_part(value)
    return merged


_KEY_CACHE: dict[str, str] = {}
# (second, "YYYY-MM-DDTHH:MM:SS") of the last stamp; one tuple, so threads never mix two.
_stamp: tuple[int, str] = (-1, "")


def _split(now: float | None) -> tuple[int, int]:
    """``now`` (default: now) as whole seconds and microseconds, rounded as ``datetime`` does."""
    if now is None:
        now = time.time()
    second = int(now)
    micros = round((now - second) * 1e6)
    if micros >= 1000000:  # rounding reached the next second
        second += 1
        micros -= 1000000
    return second, micros


def _second_text(second: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of the UTC second ``second``, cached for the last one asked."""
    global _stamp
    cached_second, prefix = _stamp
    if cached_second != second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _stamp = (second, prefix)
    return prefix


def _format(second: int, micros: int) -> str:
    prefix = _second_text(second)
    return f"{prefix}.{micros:06d}" if micros else prefix


def utc_parts(now: float | None = None) -> tuple[str, int]:
    """``now`` (default: the current time) as its UTC ``YYYY-MM-DDTHH:MM:SS`` and microseconds.

    Rounded as :func:`utc_timestamp` rounds; the text of the second is cached
    between calls, so formatting many times of one second costs one
    ``time.strftime``.
    """
    second, micros = _split(now)
    return _second_text(second), micros


def utc_timestamp(now: float | None = None) -> str:
    """Return the UTC time ``now`` (default: the current time) as ML2P 0.6 wrote it.

    The text ``datetime.datetime.utcnow().isoformat()`` gives:
    ``YYYY-MM-DDTHH:MM:SS.ffffff``, or ``YYYY-MM-DDTHH:MM:SS`` when the
    microseconds are 0; naive (no offset, no ``Z``). Microseconds are
    rounded half to even, as ``datetime`` rounds a POSIX time. The
    per-second prefix is cached between calls.
    """
    return _format(*_split(now))


def utc_timestamps(count: int, now: float | None = None) -> list[str]:
    """Return ``count`` timestamps as :func:`utc_timestamp` writes them, a microsecond apart.

    The first is ``now`` (default: the current time). The data of a batch
    are recorded at one time; stamping each a microsecond after the one
    before keeps their keys (``ts`` first) sorting in the order of the data,
    as ML2P 0.6's ids, one clock reading per datum, did.
    """
    second, micros = _split(now)
    stamps = []
    for i in range(count):
        carry, micro = divmod(micros + i, 1000000)
        stamps.append(_format(second + carry, micro))
    return stamps


#: UUIDs :func:`uuid4_text` makes at a time.
UUID_POOL = 256
_pool: collections.deque[str] = collections.deque()
if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_pool.clear)

_VERSION_MASK = ~(0xF << 76) & ~(0x3 << 62)
_VERSION_BITS = (0x4 << 76) | (0x2 << 62)
_MASK_BYTES = (_VERSION_MASK & ((1 << 128) - 1)).to_bytes(16, "big")
_BITS_BYTES = _VERSION_BITS.to_bytes(16, "big")
# A UUID's text and a newline; where each of its 32 hex digits goes (after 8, 12, 16, 20: dashes).
_UUID_LINE = 37
_UUID_COLUMNS = [(d, d + (d >= 8) + (d >= 12) + (d >= 16) + (d >= 20)) for d in range(32)]


def uuid4_text() -> str:
    """Return a random (version 4, RFC 4122 variant) UUID in its usual 36-character form.

    Equivalent to ``str(uuid.uuid4())`` (also from :func:`os.urandom`),
    without building a ``uuid.UUID`` object. They are made
    :data:`UUID_POOL` at a time (:func:`uuid4_texts`, one system call) and
    handed out in turn; a forked process throws away the ones it inherited,
    so that two processes never hand out the same one.
    """
    pool = _pool
    while True:
        try:
            return pool.popleft()
        except IndexError:
            pool.extend(uuid4_texts(UUID_POOL))


def uuid4_texts(count: int) -> list[str]:
    """Return ``count`` random version 4 UUIDs as :func:`uuid4_text` does, made in bulk.

    One :func:`os.urandom` call, one masking, one hex formatting and 32
    strided copies for all of them: the ``object`` layout names the data of a
    batch this way, and :func:`uuid4_text` fills its pool.
    """
    if count <= 0:
        return []
    # The version and variant masks repeated count times set every UUID's bits at once.
    mask = int.from_bytes(_MASK_BYTES * count, "big")
    bits = int.from_bytes(_BITS_BYTES * count, "big")
    n = int.from_bytes(os.urandom(16 * count), "big") & mask | bits
    digits = n.to_bytes(16 * count, "big").hex().encode("ascii")
    # Laid out column by column, each column one strided copy for all of them
    # (no Python step per UUID): the 32 digits of each, dashes, a newline.
    out = bytearray(b"-" * (_UUID_LINE * count))
    for digit, column in _UUID_COLUMNS:
        out[column::_UUID_LINE] = digits[digit::32]
    out[_UUID_LINE - 1 :: _UUID_LINE] = b"\n" * count
    return out[:-1].decode("ascii").split("\n")


def default_id() -> dict[str, str]:
    """Return ML2P's default record id: ``{"ts": <UTC time>, "uuid": <uuid4>}``.

    ``ts`` is :func:`utc_timestamp` of the current time, ``uuid`` a new
    :func:`uuid4_text`. Joined by :func:`format_record_id` it reads
    ``ts-2026-12-01T08:30:26.280685--uuid-<uuid4>``. :func:`default_ids`
    makes a batch's.
    """
    return {"ts": utc_timestamp(), "uuid": uuid4_text()}


def default_ids(count: int, now: float | None = None) -> list[dict[str, str]]:
    """Return the default ids of a batch's ``count`` data, recorded at ``now``.

    Each is :func:`default_id`'s, with the ``ts`` of :func:`utc_timestamps`
    (a microsecond apart, so the keys sort in the order of the data) and
    UUIDs made in bulk (:func:`uuid4_texts`).
    """
    return [
        {"ts": stamp, "uuid": uuid}
        for stamp, uuid in zip(utc_timestamps(count, now), uuid4_texts(count))
    ]


def format_record_id(parts: Mapping[str, str]) -> str:
    """Join pairs as ``key-value`` separated by ``--`` (ML2P 0.6's record name)."""
    return "--".join([f"{k}-{v}" for k, v in parts.items()])


def _cut_utf8(text: str, max_bytes: int) -> str:
    """Return the longest prefix of ``text`` whose UTF-8 form fits in ``max_bytes``."""
    return text.encode("utf-8")[: max(0, max_bytes)].decode("utf-8", "ignore")


def record_key(folder: str, parts: Mapping[str, str]) -> str:
    """Return the S3 key ``<folder><record id>.json`` of a record whose id is ``parts``.

    ``folder`` ends with ``/`` (``<base>/predictions/<model_version>/``). If
    the key would be longer than :data:`MAX_KEY_BYTES` bytes, the id is cut
    to fit and ends with ``--sha256-<16 hex digits>``, the start of the
    SHA-256 of the whole id.
    """
    record_id = format_record_id(parts)
    room = MAX_KEY_BYTES - len(folder.encode("utf-8")) - len(".json")
    if len(record_id) * 4 > room and len(record_id.encode("utf-8")) > room:
        digest = hashlib.sha256(record_id.encode("utf-8")).hexdigest()[:_HASH_CHARS]
        head = _cut_utf8(record_id, room - len(_HASH_PART) - _HASH_CHARS).rstrip("-")
        record_id = f"{head}{_HASH_PART}{digest}"
    return f"{folder}{record_id}.json"
