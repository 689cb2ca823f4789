"""Where invocation records go when S3 cannot take them: local disk, or the log.

The background recorder spills records rather than stall predictions or lose
them: when its queue stays full (S3 down or too slow), and when it closes
with records still unwritten. Records carry callers' inputs, possibly
personal data, so where they spill is a choice (``ML2P_RECORD_SPILL``):

``disk`` (:class:`DiskSpill`, the default)
    JSON Lines files in a folder of the container's local disk
    (``ML2P_RECORD_SPILL_DIR``), readable by the server's user only. The
    recorder's writers send them to S3 again, under the same keys, as soon
    as S3 takes records. Files still there when the server stops stay on the
    disk: a later server using the same folder sends them; in a SageMaker
    container they go with the container.
``log`` (:class:`LogSpill`)
    each record is logged whole on one line (``UNWRITTEN_RECORD {"key",
    "body"}``: an ``object`` record and its key, or a capture line and the
    key of the file it was to be written in), as ML2P did before spilling
    to disk existed. Nothing is
    retried, and the container log (CloudWatch in SageMaker) then holds
    callers' inputs: choose it only where the log is as protected as the
    bucket.

Both store :class:`~ml2p.serving.record_encoding.Put` objects: one S3
object each (an ``object`` layout record, a capture file, or a capture line
kept on its own), whose key and records' ids never change.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import Callable

from ml2p.serving.record_encoding import JSON_TYPE, Put
from ml2p.serving.settings import SPILLS

logger = logging.getLogger("ml2p.serving.recorder")

__all__ = ["SPILLS", "UNWRITTEN_MARK", "DiskSpill", "LogSpill", "Put"]

UNWRITTEN_MARK = "UNWRITTEN_RECORD"
#: A spill file is closed and a new one started past this size.
SEGMENT_BYTES = 4 * 1024 * 1024
_SEGMENT = re.compile(r"(\d+)-(\d+)\.jsonl\Z")


class LogSpill:
    """Log each record whole, on one line: ``UNWRITTEN_RECORD {"key": ..., "body": ...}``.

    :param log: Where the lines go (default: the recorder's logger, at ERROR).
    """

    kind = "log"
    pending = 0

    def __init__(self, log: Callable[[str], None] | None = None):
        self._log = log or (lambda line: logger.error("%s", line))

    def put(self, puts: Iterable[Put]) -> int:
        """Log the records of ``puts`` (each capture line on its own); return how many data."""
        count = 0
        for put in puts:
            for key, body in put.items():
                line = json.dumps({"key": key, "body": body.decode("utf-8", "replace")})
                self._log(f"{UNWRITTEN_MARK} {line}")
            count += put.records
        return count

    def take(self, limit: int = 1) -> list[Put]:
        return []

    def close(self) -> None:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "_"


class DiskSpill:
    """Keep records in JSON Lines files on local disk until S3 takes them.

    Files are ``<folder>/<bucket>/<pid>-<n>.jsonl``, one line per S3 object
    (``{"key", "type", "records", "body"}``), created readable by this user
    only. Each worker process writes and reads its own files; files of a
    process that no longer runs (an earlier server, a worker that died) are
    taken over when a recorder starts.

    :param folder: The spill folder (created if missing).
    :param bucket: The bucket the records belong to: each bucket has its own
        sub-folder, so a server never sends another's records to its bucket.
    :raises OSError: if the folder cannot be made or written.
    """

    kind = "disk"

    def __init__(self, folder: str, bucket: str):
        self.folder = os.path.join(folder, _safe_name(bucket))
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write in {self.folder}")
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._seq = 0
        self._file = None
        self._file_path: str | None = None
        self._reading: collections.deque[Put] = collections.deque()
        #: Records on disk, or read back and not yet handed to a writer.
        self.pending = 0
        self._adopt()

    def _own_segments(self) -> list[str]:
        names = []
        for name in os.listdir(self.folder):
            match = _SEGMENT.match(name)
            if match and int(match.group(1)) == self._pid:
                names.append((int(match.group(2)), name))
        return [os.path.join(self.folder, name) for _, name in sorted(names)]

    def _adopt(self) -> None:
        """Take over the files of processes that no longer run (and count the records in ours)."""
        adopted = 0
        for name in sorted(os.listdir(self.folder)):
            match = _SEGMENT.match(name)
            if not match or int(match.group(1)) == self._pid or _alive(int(match.group(1))):
                continue
            self._seq += 1
            target = os.path.join(self.folder, f"{self._pid}-{self._seq:06d}.jsonl")
            try:
                os.rename(os.path.join(self.folder, name), target)
            except OSError:  # another worker took it first
                continue
            adopted += 1
        for path in self._own_segments():
            with open(path, "rb") as f:
                for line in f:
                    self.pending += _records_of(line)
        self._seq += 1
        if adopted:
            logger.warning(
                "took over %d spill file(s) of an earlier server in %s: %d record(s) to send to S3",
                adopted,
                self.folder,
                self.pending,
            )

    def put(self, puts: Iterable[Put]) -> int:
        """Append ``puts`` to the current file; return how many records.

        :raises OSError: if the disk refuses them (nothing is counted then).
        """
        data = []
        count = 0
        for put in puts:
            line = {
                "key": put.key,
                "type": put.content_type,
                "records": put.records,
                "body": put.body.decode("utf-8", "replace"),
            }
            data.append(json.dumps(line).encode("utf-8") + b"\n")
            count += put.records
        if not data:
            return 0
        with self._lock:
            if self._file is None:
                self._file_path = os.path.join(self.folder, f"{self._pid}-{self._seq:06d}.jsonl")
                fd = os.open(self._file_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self._file = os.fdopen(fd, "ab")
            self._file.write(b"".join(data))
            self._file.flush()
            self.pending += count
            if self._file.tell() >= SEGMENT_BYTES:
                self._close_file()
        return count

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._file_path = None
            self._seq += 1

    def take(self, limit: int = 1) -> list[Put]:
        """Remove and return the oldest spilled objects: ``limit`` records' worth, at least one."""
        taken: list[Put] = []
        count = 0
        with self._lock:
            while count < limit:
                if not self._reading:
                    if not self.pending:
                        break
                    self._read_oldest()
                    if not self._reading:
                        break
                if taken and count + self._reading[0].records > limit:
                    break
                put = self._reading.popleft()
                self.pending -= put.records
                count += put.records
                taken.append(put)
        return taken

    def _read_oldest(self) -> None:
        segments = self._own_segments()
        if not segments:
            self.pending = 0  # the files are gone (removed by hand): nothing to take
            return
        path = segments[0]
        if path == self._file_path:
            self._close_file()
        try:
            with open(path, "rb") as f:
                lines = f.readlines()
        except OSError as exc:
            logger.error("cannot read spill file %s: %s", path, exc)
            return
        for line in lines:
            try:
                entry = json.loads(line)
                self._reading.append(
                    Put(
                        entry["key"],
                        entry["body"].encode("utf-8"),
                        entry.get("type", JSON_TYPE),
                        int(entry.get("records", 1)),
                    )
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                # A line cut short (the process was killed while writing it).
                logger.error("skipping a damaged line of spill file %s", path)
        os.unlink(path)

    def close(self) -> None:
        """Write what was read back and not taken to disk again, and close the file."""
        with self._lock:
            unread = list(self._reading)
            self._reading.clear()
            self.pending -= sum(put.records for put in unread)
        if unread:
            self.put(unread)
        with self._lock:
            self._close_file()


def _records_of(line: bytes) -> int:
    try:
        return int(json.loads(line).get("records", 1))
    except (ValueError, TypeError, AttributeError):
        return 0
