"""Where invocation records go when S3 cannot take them: local disk, or the log.

The background recorder spills records rather than stall predictions or lose
them: when its queue stays full (S3 down or too slow), and when it closes
with records still unwritten. Records carry callers' inputs, possibly
personal data, so where they spill is a choice (``ML2P_RECORD_SPILL``):

``disk`` (:class:`DiskSpill`, the default)
    JSON Lines files in a folder of the container's local disk
    (``ML2P_RECORD_SPILL_DIR``), readable by the server's user only. The
    recorder's writers send them to S3 again, under the same keys, as soon
    as S3 takes records. A file is removed only once every object read from
    it is stored in S3 or spilled again (:meth:`DiskSpill.done`), so a
    server killed while sending (SIGKILL, an OOM kill) leaves it whole.
    Files still there when the server stops stay on the disk: a later server
    using the same folder sends them; in a SageMaker container they go with
    the container. A file that cannot be read is logged once, skipped and
    left on the disk.
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
import contextlib
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
#: A file being written whole, renamed to a spill file once it is.
_PART_SUFFIX = ".part"
_PART = re.compile(r"(\d+)-(\d+)\.jsonl\.part\Z")


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

    def done(self, taken: list[Put]) -> None:
        """Nothing to release: logged records are never taken back."""
        return None

    def kept_in(self, taken: list[Put]) -> str | None:
        """Logged records are never taken back: no file keeps them."""
        return None

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


class _Segment:
    """A spill file being read, and how many of its objects are not yet released."""

    __slots__ = ("path", "unsent")

    def __init__(self, path: str, unsent: int):
        self.path = path
        self.unsent = unsent


class _Taken(list):
    """Objects :meth:`DiskSpill.take` handed out, all read from ``segment``."""

    def __init__(self, segment: _Segment | None = None):
        super().__init__()
        self.segment = segment


class DiskSpill:
    """Keep records in JSON Lines files on local disk until S3 takes them.

    Files are ``<folder>/<bucket>/<pid>-<n>.jsonl``, one line per S3 object
    (``{"key", "type", "records", "body"}``), created readable by this user
    only. Each worker process writes and reads its own files; files of a
    process that no longer runs (an earlier server, a worker that died) are
    taken over when a recorder starts. A file that cannot be read (an I/O
    error, a folder in its place) is logged once and skipped: it stays on
    disk for a later server, and its records are not counted in
    :attr:`pending`.

    A file leaves the disk only once every object read from it is stored in
    S3 or spilled again: :meth:`take` hands out objects, the caller gives
    them back to :meth:`done` once they are. A process killed in between
    leaves the file whole, and the next server reads it from its start.
    :meth:`take` cuts a file into the same batches whoever reads it (with
    the same ``limit``): a capture batch sent again makes the same file
    under the same key, which replaces the first copy.

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
        # The objects of the file read last not yet taken, and that file.
        self._reading: collections.deque[Put] = collections.deque()
        self._segment: _Segment | None = None
        # Files read and not yet removed, by path: never read twice.
        self._read: dict[str, _Segment] = {}
        # Files that could not be read: skipped (logged once), left on disk.
        self._unreadable: set[str] = set()
        #: Records on disk, or read back and not yet handed to a writer.
        self.pending = 0
        self._adopt()

    def _own_segments(self) -> list[str]:
        names = []
        for name in os.listdir(self.folder):
            match = _SEGMENT.match(name)
            if match and int(match.group(1)) == self._pid:
                names.append((int(match.group(2)), name))
        paths = [os.path.join(self.folder, name) for _, name in sorted(names)]
        return [path for path in paths if path not in self._read and path not in self._unreadable]

    def _adopt(self) -> None:
        """Take over the files of processes that no longer run (and count the records in ours)."""
        adopted = 0
        for name in sorted(os.listdir(self.folder)):
            match = _SEGMENT.match(name) or _PART.match(name)
            if not match or int(match.group(1)) == self._pid or _alive(int(match.group(1))):
                continue
            path = os.path.join(self.folder, name)
            if name.endswith(_PART_SUFFIX):
                # Unfinished copy of records still whole in their own file.
                with contextlib.suppress(OSError):
                    os.unlink(path)
                continue
            self._seq += 1
            try:
                os.rename(path, self._path(self._seq))
            except OSError:  # another worker took it first
                continue
            adopted += 1
        for path in self._own_segments():
            for line in self._lines_of(path) or ():
                self.pending += _records_of(line)
        self._seq += 1
        if adopted:
            logger.warning(
                "took over %d spill file(s) of an earlier server in %s: %d record(s) to send to S3",
                adopted,
                self.folder,
                self.pending,
            )

    def _path(self, seq: int) -> str:
        return os.path.join(self.folder, f"{self._pid}-{seq:06d}.jsonl")

    def put(self, puts: Iterable[Put]) -> int:
        """Append ``puts`` to the current file; return how many records.

        :raises OSError: if the disk refuses them (nothing is counted then).
        """
        data, count = _encoded(puts)
        if not data:
            return 0
        with self._lock:
            if self._file is None:
                self._file_path = self._path(self._seq)
                fd = os.open(self._file_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self._file = os.fdopen(fd, "ab")
            self._file.write(data)
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
        """Hand out the oldest spilled objects: ``limit`` records' worth, at least one.

        They come from one file, which stays on disk until :meth:`done` has
        released them and every other batch taken from it. A file is cut
        into batches from its start, each as long as ``limit`` allows: read
        again with the same ``limit``, it makes the same batches.
        """
        taken = _Taken()
        count = 0
        with self._lock:
            while count < limit:
                if not self._reading:
                    if taken or not self.pending:
                        break  # a batch never holds two files' objects
                    self._read_oldest()
                    if not self._reading:
                        break
                if taken and count + self._reading[0].records > limit:
                    break
                put = self._reading.popleft()
                self.pending -= put.records
                count += put.records
                taken.append(put)
            if taken:
                taken.segment = self._segment
        return taken

    def kept_in(self, taken: list[Put]) -> str | None:
        """The file the objects :meth:`take` handed out were read from.

        It keeps them (and stays on disk) until :meth:`done` releases them.
        """
        segment = getattr(taken, "segment", None)
        return segment.path if segment is not None else None

    def done(self, taken: list[Put]) -> None:
        """Release objects :meth:`take` handed out: they are stored in S3, or spilled again.

        ``taken`` is what :meth:`take` returned (a second call changes
        nothing). A file is removed once every object read from it is
        released; objects never released (the process was killed while
        sending them) stay in it for the next server.
        """
        segment = getattr(taken, "segment", None)
        if segment is None:
            return
        with self._lock:
            taken.segment = None  # type: ignore[attr-defined]
            segment.unsent -= len(taken)
            if segment.unsent <= 0:
                self._remove(segment)

    def _remove(self, segment: _Segment) -> None:
        """Remove a file whose objects are all released; under the lock."""
        try:
            os.unlink(segment.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            # Left in _read: not read again here; the next server sends it again.
            logger.error("cannot remove spill file %s: %s", segment.path, exc)
            return
        del self._read[segment.path]

    def _lines_of(self, path: str) -> list[bytes] | None:
        """The lines of a spill file; ``None`` if it cannot be read (then it is skipped).

        A file that cannot be read is logged once and never read again by
        this process, so writers do not try it (and log it) in a loop; it
        stays on disk: a later server may read it.
        """
        try:
            with open(path, "rb") as f:
                return f.readlines()
        except OSError as exc:
            self._unreadable.add(path)
            logger.error(
                "cannot read spill file %s (%s): skipped, left on disk for a later server",
                path,
                exc,
            )
            return None

    def _read_oldest(self) -> None:
        """Read the oldest readable file into ``_reading``; under the lock."""
        while True:
            segments = self._own_segments()
            if not segments:
                # The files are gone (removed by hand) or cannot be read: nothing to take.
                self.pending = 0
                return
            path = segments[0]
            if path == self._file_path:
                self._close_file()
            lines = self._lines_of(path)
            if lines is not None:
                break
        puts = []
        for line in lines:
            try:
                entry = json.loads(line)
                puts.append(
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
        self._segment = self._read[path] = _Segment(path, len(puts))
        self._reading.extend(puts)
        if not puts:
            self._remove(self._segment)

    def close(self) -> None:
        """Close the current file, and move what was read back and not taken to a file of its own.

        The file it was read from is then removed, unless objects taken from
        it are not released yet (a writer still sending them): then it stays
        whole, for the next server.
        """
        with self._lock:
            self._close_file()
            segment, unread = self._segment, list(self._reading)
            if not unread or segment is None or segment.unsent > len(unread):
                return
            data, _ = _encoded(unread)
            target = self._path(self._seq)  # the file just closed took the one before
            self._seq += 1
            part = target + _PART_SUFFIX
            try:
                # Renamed once whole: a server killed while writing it leaves
                # the records in their first file only.
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.rename(part, target)
            except OSError as exc:
                logger.error("cannot copy unsent spilled records to %s: %s", target, exc)
                with contextlib.suppress(OSError):
                    os.unlink(part)
                return
            self._reading.clear()
            # The records stay pending, now in the new file.
            segment.unsent = 0
            self._remove(segment)


def _encoded(puts: Iterable[Put]) -> tuple[bytes, int]:
    """The spill file lines of ``puts``, and how many records they hold."""
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
    return b"".join(data), count


def _records_of(line: bytes) -> int:
    try:
        return int(json.loads(line).get("records", 1))
    except (ValueError, TypeError, AttributeError):
        return 0
