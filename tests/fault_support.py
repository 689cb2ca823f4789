"""Helpers for the fault tests: client load, and finding every record by the datum it holds.

Each datum the tests send holds a distinct number ``x``; a record is found by
that number in S3 (read back with :mod:`ml2p.records`, either layout), in the
spill files or in the server log (``UNWRITTEN_RECORD`` lines), with its
record id, so that a test can check that every answered datum is recorded
exactly once and under one id.
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ml2p.records import read_records
from ml2p.records.capture import parse_line
from tests.serving_support import post

FAULT_MODEL = "tests.fault_models.FaultModel"
S3FOLDER = "s3://ml2p-test/proj/"
MODEL_VERSION = "test-model-1-0-0"
S3_ENV = {
    "ML2P_S3_URL": S3FOLDER,
    "ML2P_RECORD_INVOKES": "true",
    "ML2P_PROJECT": "test-proj",
}
UNWRITTEN = "UNWRITTEN_RECORD "

#: (where, record id) per datum number.
Found = dict[Any, list[tuple[str, str]]]


def _record_id(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return name[: -len(".json")] if name.endswith(".json") else name


def _add(found: Found, where: str, record_id: str, datum: Any) -> None:
    x = datum.get("x") if isinstance(datum, dict) else None
    found.setdefault(x, []).append((where, record_id))


def _add_stored(found: Found, where: str, key: str, body: Any) -> None:
    """The records of one stored body: a capture file's lines, or an ``object`` record."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if key.endswith(".jsonl"):
        for line in body.splitlines():
            for record_id, datum, _ in parse_line(line):
                _add(found, where, record_id, datum)
    else:
        _add(found, where, _record_id(key), json.loads(body).get("input"))


def in_s3(client, model_version: str = MODEL_VERSION, s3folder: str = S3FOLDER) -> Found:
    """The records of ``model_version`` in S3, read with :mod:`ml2p.records`, by datum number."""
    found: Found = {}
    for record in read_records(s3folder, model_version, client=client):
        _add(found, "s3", record.id, record.input)
    return found


def in_log(log: str) -> Found:
    """The records a server log holds as ``UNWRITTEN_RECORD`` lines, by datum number."""
    found: Found = {}
    for line in log.splitlines():
        at = line.find(UNWRITTEN)
        if at < 0:
            continue
        entry = json.loads(line[at + len(UNWRITTEN) :])
        _add_stored(found, "log", entry["key"], entry["body"])
    return found


def in_spill(folder: Any) -> Found:
    """The records the spill files under ``folder`` hold, by datum number."""
    found: Found = {}
    for root, _, files in os.walk(str(folder)):
        for name in files:
            with open(os.path.join(root, name), encoding="utf-8") as f:
                for line in f:
                    entry = json.loads(line)
                    _add_stored(found, "spill", entry["key"], entry["body"])
    return found


def merge(*founds: Found) -> Found:
    out: Found = {}
    for found in founds:
        for x, places in found.items():
            out.setdefault(x, []).extend(places)
    return out


def assert_each_once(answered: set[Any], found: Found, log: str = "") -> None:
    """Every answered datum has exactly one record id; nothing else was recorded.

    A record may sit in two places under its one id (stored in S3 after its
    acknowledgement was lost, and logged): that is still one record.
    """
    missing = sorted(x for x in answered if x not in found)
    assert not missing, f"{len(missing)} answered, not recorded: {missing[:10]}\n{log[-3000:]}"
    extra = sorted(x for x in found if x not in answered)
    assert not extra, f"recorded but never answered 200: {extra[:10]}"
    several = {x: places for x, places in found.items() if len({i for _, i in places}) != 1}
    assert not several, f"data recorded under several ids: {list(several.items())[:5]}"
    twice = {
        x: places
        for x, places in found.items()
        if max(collections.Counter(w for w, _ in places).values()) > 1
    }
    assert not twice, f"records stored twice in one place: {list(twice.items())[:5]}"


class Load:
    """Client threads posting ``{"x": n}`` with fresh numbers until stopped.

    Remembers the numbers answered 200 and every status; connection errors
    (the server closed its socket) are counted, not raised. With ``expect``,
    an answer 200 whose result is not ``expect(n)`` goes to ``wrong``, not
    ``answered`` (an assertion in a client thread would fail no test).
    """

    def __init__(
        self,
        port: int,
        threads: int = 4,
        pause: float = 0.0,
        start: int = 1,
        headers: Mapping[str, str] | None = None,
        expect: Callable[[int], Any] | None = None,
    ):
        self.port = port
        self.pause = pause
        self.headers = dict(headers or {})
        self.expect = expect
        self.answered: set[int] = set()
        self.wrong: list[int] = []
        self.statuses: list[int] = []
        self.errors: list[Exception] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._next = start - 1
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._next += 1
                x = self._next
            try:
                resp = post(self.port, {"x": x}, headers=self.headers, timeout=30)
            except OSError as exc:
                self.errors.append(exc)
                time.sleep(0.02)
                continue
            wrong = (
                resp.status == 200
                and self.expect is not None
                and resp.json()["result"] != self.expect(x)
            )
            with self._lock:
                self.statuses.append(resp.status)
                if wrong:
                    self.wrong.append(x)
                elif resp.status == 200:
                    self.answered.add(x)
            if self.pause:
                time.sleep(self.pause)

    def count(self) -> int:
        with self._lock:
            return len(self.answered)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def wait_for(condition, timeout: float, step: float = 0.05) -> bool:
    """Poll ``condition()`` until true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def put_a_file_in_place_of(folder, away) -> None:
    """Make the folder ``folder`` refuse writes: moved to ``away``, an empty file in its place.

    (These tests run as root, who writes whatever the permissions say.)
    """
    os.rename(folder, away)
    with open(folder, "w"):
        pass


def put_the_folder_back(folder, away) -> None:
    """Undo :func:`put_a_file_in_place_of`."""
    os.unlink(folder)
    os.rename(away, folder)
