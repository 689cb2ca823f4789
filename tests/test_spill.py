"""The disk spill keeps a file until every record read from it is stored or spilled again.

A server killed without a clean stop (SIGKILL, OOM kill, a machine stop)
while it sends spilled records to S3 must leave them on disk for the next
server, which reads them from the start of the file and groups capture lines
into the same files under the same keys (a re-sent file replaces the first
copy). Through the real server: ``tests/test_serving_faults.py``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import pytest

from ml2p.serving import spill as spill_module
from ml2p.serving.record_encoding import LINE_TYPE, Put, files_of_lines
from ml2p.serving.spill import DiskSpill, LogSpill
from tests.serving_support import ROOT

BUCKET = "ml2p-test"
HOUR = "proj/capture/mv-1/variant-1/2026/12/01/17"


def lines(n, start=0):
    """``n`` loose capture lines of one hour, as the capture layout spills them."""
    return [
        Put(f"{HOUR}/{i:04d}-line.jsonl", json.dumps({"x": i}).encode() + b"\n", LINE_TYPE, 1)
        for i in range(start, start + n)
    ]


def files(spill_folder):
    return sorted(name for name in os.listdir(spill_folder) if name.endswith(".jsonl"))


# A process that spills lines, takes a first batch to send, and is killed
# before it calls done(): what a server SIGKILLed mid-send leaves.
_KILLED_MID_SEND = """
import json, os, signal, sys
from ml2p.serving.record_encoding import LINE_TYPE, Put, files_of_lines
from ml2p.serving.spill import DiskSpill

folder, limit, entries = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
spill = DiskSpill(folder, "ml2p-test")
spill.put([Put(key, body.encode(), LINE_TYPE, 1) for key, body in entries])
taken = spill.take(limit)
sent = [[put.key, put.body.decode()] for put in files_of_lines(taken)]
print(json.dumps({"pending": spill.pending, "sent": sent}), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_mid_send(folder, puts, limit):
    """Run ``_KILLED_MID_SEND``; return what it reported (its pid is dead afterwards)."""
    entries = [[put.key, put.body.decode()] for put in puts]
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_SEND, str(folder), str(limit), json.dumps(entries)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stderr
    return json.loads(proc.stdout)


def test_a_process_killed_after_take_leaves_its_file_whole_for_the_next_server(tmp_path):
    puts = lines(7)
    report = killed_mid_send(tmp_path, puts, 3)
    assert report["pending"] == 4  # three handed to a writer, not yet stored
    folder = tmp_path / BUCKET
    assert len(files(folder)) == 1  # the file was read, and is still there
    spill = DiskSpill(str(tmp_path), BUCKET)
    assert spill.pending == 7
    batches = [spill.take(3) for _ in range(3)]
    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert [put for batch in batches for put in batch] == puts
    # The next server groups the file's first batch as the killed one did:
    # the same capture file under the same key, so sending it again replaces it.
    first = files_of_lines(batches[0])
    assert [[put.key, put.body.decode()] for put in first] == report["sent"]
    assert spill.take(3) == [] and spill.pending == 0
    for batch in batches:
        spill.done(batch)
    assert files(folder) == []


def test_a_file_goes_once_every_object_taken_from_it_is_done(tmp_path):
    spill = DiskSpill(str(tmp_path), BUCKET)
    spill.put(lines(5))
    [name] = files(spill.folder)
    first, second = spill.take(2), spill.take(2)
    assert spill.pending == 1
    spill.done(first)
    spill.done(first)  # a second call changes nothing
    assert files(spill.folder) == [name]
    last = spill.take(2)
    assert len(last) == 1 and spill.pending == 0
    spill.done(last)
    assert files(spill.folder) == [name]  # `second` is still being sent
    spill.done(second)
    assert files(spill.folder) == []


def test_a_take_never_spans_two_files(tmp_path, monkeypatch):
    monkeypatch.setattr(spill_module, "SEGMENT_BYTES", 1)  # every put() ends its file
    spill = DiskSpill(str(tmp_path), BUCKET)
    spill.put(lines(2))
    spill.put(lines(2, start=2))
    assert len(files(spill.folder)) == 2
    first = spill.take(10)
    assert [put.key for put in first] == [put.key for put in lines(2)]
    spill.done(first)
    assert len(files(spill.folder)) == 1
    assert [put.key for put in spill.take(10)] == [put.key for put in lines(2, start=2)]


def test_close_writes_what_was_not_taken_to_a_file_of_its_own(tmp_path):
    spill = DiskSpill(str(tmp_path), BUCKET)
    puts = lines(5)
    spill.put(puts)
    [name] = files(spill.folder)
    spill.done(spill.take(2))
    spill.close()
    [rest] = files(spill.folder)
    assert rest != name and spill.pending == 3
    again = DiskSpill(str(tmp_path), BUCKET)
    assert again.pending == 3
    # Read from its start with the same limit, the rest makes the batches it
    # would have made in the first file: taking is greedy from a batch's end.
    assert again.take(2) == puts[2:4] and again.take(2) == puts[4:]


def test_close_leaves_a_file_whole_while_records_taken_from_it_are_not_done(tmp_path):
    spill = DiskSpill(str(tmp_path), BUCKET)
    puts = lines(5)
    spill.put(puts)
    [name] = files(spill.folder)
    spill.take(2)  # a writer still sending these when the recorder closes
    spill.close()
    assert files(spill.folder) == [name] and spill.pending == 3
    again = DiskSpill(str(tmp_path), BUCKET)
    assert again.pending == 5
    assert again.take(2) + again.take(2) + again.take(2) == puts


def test_a_damaged_file_goes_when_its_readable_records_are_done(tmp_path):
    folder = tmp_path / BUCKET
    folder.mkdir()
    [put] = lines(1)
    line = {"key": put.key, "type": LINE_TYPE, "records": 1, "body": put.body.decode()}
    (folder / f"{os.getpid()}-000001.jsonl").write_text(json.dumps(line) + '\n{"key": "cut')
    spill = DiskSpill(str(tmp_path), BUCKET)
    taken = spill.take(5)
    assert taken == [put] and files(folder) != []
    spill.done(taken)
    assert files(folder) == []


def test_the_log_spill_has_nothing_to_release():
    logged = []
    spill = LogSpill(logged.append)
    assert spill.put(lines(2)) == 2 and len(logged) == 2
    assert spill.take(5) == []
    spill.done([])  # the recorder calls it whatever the spill
    assert spill.pending == 0


def sent_by_a_new_recorder(spill, s3, layout, **kw):
    """A new recorder sends every file of ``spill`` to S3; it is returned closed."""
    from ml2p.serving.recorder import BackgroundRecorder
    from tests.fault_support import wait_for

    recorder = BackgroundRecorder(BUCKET, layout=layout, client=s3, spill=spill, **kw)
    try:
        assert wait_for(lambda: not files(spill.folder), 20), files(spill.folder)
    finally:
        recorder.close(timeout=10)
    return recorder


@pytest.mark.parametrize("layout", ["object", "capture"])
def test_a_recorder_removes_a_spill_file_once_s3_stored_its_records(tmp_path, s3, aws, layout):

    spill = DiskSpill(str(tmp_path), BUCKET)
    objects = [Put(f"proj/o{i}.json", b"{}") for i in range(6)]
    spill.put(lines(6) if layout == "capture" else objects)
    recorder = sent_by_a_new_recorder(spill, s3, layout, batch_size=4)
    assert recorder.written == 6 and spill.pending == 0
    stored = s3.list_objects_v2(Bucket=BUCKET, Prefix="proj/")["Contents"]
    # capture: 6 lines of one hour in batches of 4 are two files; object: six objects.
    assert len(stored) == (2 if layout == "capture" else 6)


def test_an_unfinished_copy_left_by_a_killed_close_is_removed_not_sent(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / BUCKET
    folder.mkdir()
    puts = lines(3)
    whole = "".join(
        json.dumps({"key": p.key, "type": LINE_TYPE, "records": 1, "body": p.body.decode()}) + "\n"
        for p in puts
    )
    # Killed while close() copied the last two lines: they are still in the first file.
    (folder / f"{dead.pid}-000001.jsonl").write_text(whole)
    (folder / f"{dead.pid}-000002.jsonl.part").write_text(whole.split("\n", 1)[1][:40])
    spill = DiskSpill(str(tmp_path), BUCKET)
    assert spill.pending == 3 and len(os.listdir(folder)) == 1
    assert spill.take(5) == puts


def _unreadable(path):
    """Make the spill file ``path`` unreadable, as root too: a folder in its place."""
    if os.path.exists(path):
        os.unlink(path)
    os.mkdir(path)


def _cpu_seconds(threads):
    """CPU time the ``threads`` have used, from /proc (user and system)."""
    ticks = 0
    for thread in threads:
        with open(f"/proc/self/task/{thread.native_id}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _errors(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_unreadable_file_of_an_earlier_server_is_skipped_not_fatal(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / BUCKET
    folder.mkdir()
    _unreadable(str(folder / f"{dead.pid}-000001.jsonl"))
    puts = lines(2)
    (folder / f"{dead.pid}-000002.jsonl").write_text(
        "".join(
            json.dumps({"key": p.key, "type": LINE_TYPE, "records": 1, "body": p.body.decode()})
            + "\n"
            for p in puts
        )
    )
    with caplog.at_level(logging.ERROR, logger="ml2p.serving.recorder"):
        spill = DiskSpill(str(tmp_path), BUCKET)
        assert spill.pending == 2
        taken = spill.take(5)
        assert taken == puts and spill.take(5) == [] and spill.pending == 0
    [error] = _errors(caplog)
    [skipped] = [name for name in files(folder) if os.path.isdir(folder / name)]
    assert f"cannot read spill file {folder / skipped}" in error and "Is a directory" in error
    spill.done(taken)
    assert files(folder) == [skipped]  # left for a later server, never removed


@pytest.mark.parametrize("layout", ["object", "capture"])
def test_an_unreadable_spill_file_is_logged_once_and_the_next_ones_are_sent(
    tmp_path, s3, aws, caplog, monkeypatch, layout
):
    from ml2p.serving.recorder import BackgroundRecorder
    from tests.fault_support import wait_for

    monkeypatch.setattr(spill_module, "SEGMENT_BYTES", 1)  # every put() ends its file
    spill = DiskSpill(str(tmp_path), BUCKET)
    if layout == "capture":
        first, second = lines(2), lines(2, start=2)
    else:
        first = [Put(f"proj/o{i}.json", b"{}") for i in range(2)]
        second = [Put(f"proj/o{i}.json", b"{}") for i in range(2, 4)]
    spill.put(first)
    spill.put(second)
    unreadable, _ = files(spill.folder)
    # Counted in `pending`, then unreadable (an I/O error would do the same).
    _unreadable(os.path.join(spill.folder, unreadable))
    caplog.set_level(logging.ERROR, logger="ml2p.serving.recorder")
    recorder = BackgroundRecorder(BUCKET, layout=layout, client=s3, spill=spill, batch_size=10)
    try:
        assert wait_for(lambda: recorder.written == 2, 20), _errors(caplog)
        assert wait_for(lambda: files(spill.folder) == [unreadable], 10)
        # The writers wait again: a spinning one would log the file at every turn.
        cpu = _cpu_seconds(recorder._threads)
        time.sleep(1.0)
        spent = _cpu_seconds(recorder._threads) - cpu
        assert len(_errors(caplog)) == 1, _errors(caplog)[:3]
        assert spent < 0.3, spent
        assert spill.pending == 0 and recorder.stats()["on_disk"] == 0
    finally:
        recorder.close(timeout=10)
    [error] = _errors(caplog)
    assert unreadable in error and "Is a directory" in error
    assert files(spill.folder) == [unreadable]
    stored = s3.list_objects_v2(Bucket=BUCKET, Prefix="proj/")["Contents"]
    # capture: the 2 lines of the second file in one file; object: its 2 objects.
    assert len(stored) == (1 if layout == "capture" else 2)
    if layout == "object":
        assert sorted(o["Key"] for o in stored) == [put.key for put in second]


@pytest.mark.parametrize("layout", ["object", "capture"])
def test_records_read_back_that_cannot_spill_again_stay_in_their_file_not_lost(
    tmp_path, s3, aws, caplog, layout
):
    from ml2p.serving.recorder import BackgroundRecorder
    from tests.fault_support import put_a_file_in_place_of, put_the_folder_back, wait_for
    from tests.tcp_proxy import TcpProxy
    from tests.test_recorder import s3_client

    spill = DiskSpill(str(tmp_path), BUCKET)
    if layout == "capture":
        puts = lines(3)
    else:
        puts = [Put(f"proj/o{i}.json", b"{}") for i in range(3)]
    spill.put(puts)
    [name] = files(spill.folder)
    away = spill.folder + ".away"
    with TcpProxy.to_url(aws) as proxy:
        proxy.set_mode("refuse")
        recorder = BackgroundRecorder(
            BUCKET, layout=layout, client=s3_client(proxy.url), spill=spill, writers=3
        )
        try:
            # The writers hold every record read from the file, retrying.
            assert wait_for(lambda: spill.pending == 0 and recorder.failures >= 3, 20)
            # Then the spill folder refuses writes: a regular file in its place.
            put_a_file_in_place_of(spill.folder, away)
            with caplog.at_level(logging.INFO, logger="ml2p.serving.recorder"):
                recorder.close(timeout=0.5)
        finally:
            recorder.close(timeout=0)
    assert recorder.lost == 0 and recorder.left_on_disk == 3 and recorder.spilled == 0
    messages = [r.getMessage() for r in caplog.records]
    kept = [m for m in messages if "could not be spilled again" in m]
    assert kept and all(os.path.join(spill.folder, name) in m for m in kept), messages
    assert sum(int(m.split()[0]) for m in kept) == 3
    assert not any("lost:" in m for m in messages), messages
    [summary] = [m for m in messages if m.startswith("invocation recorder closed")]
    assert "0 lost" in summary and summary.endswith(", 3 read back from disk and left there")
    # The folder back, the records are all in their file, and the next recorder sends them.
    put_the_folder_back(spill.folder, away)
    assert files(spill.folder) == [name]
    again = DiskSpill(str(tmp_path), BUCKET)
    assert again.pending == 3
    recorder = sent_by_a_new_recorder(again, s3, layout)
    assert recorder.written == 3 and recorder.lost == 0
    stored = s3.list_objects_v2(Bucket=BUCKET, Prefix="proj/")["Contents"]
    assert len(stored) == (1 if layout == "capture" else 3)


def closed_while_sending(tmp_path, caplog, before_close=None):
    """Spill 2 objects; a recorder reads them back and sends them to an S3 that
    never answers (each PUT waits for the client's read timeout, past the close
    deadline); ``before_close(spill)``, then close it.

    Returns the recorder, the objects, the spill file's name and the close
    summary.
    """
    import socket

    from ml2p.serving.recorder import BackgroundRecorder
    from tests.fault_support import wait_for
    from tests.test_recorder import s3_client

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    spill = DiskSpill(str(tmp_path), BUCKET)
    puts = [Put(f"proj/o{i}.json", b"{}") for i in range(2)]
    spill.put(puts)
    [name] = files(spill.folder)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        recorder = BackgroundRecorder(
            BUCKET, client=s3_client(url), spill=spill, writers=2, s3_client="boto3"
        )
        try:
            assert wait_for(lambda: spill.pending == 0 and recorder.pending == 2, 10)
            if before_close is not None:
                before_close(spill)
            with caplog.at_level(logging.INFO, logger="ml2p.serving.recorder"):
                recorder.close(timeout=0.1)
        finally:
            recorder.close(timeout=0)
    finally:
        silent.close()
    messages = [r.getMessage() for r in caplog.records]
    [summary] = [m for m in messages if m.startswith("invocation recorder closed")]
    return recorder, puts, name, summary


def test_records_read_back_still_being_sent_past_the_deadline_stay_in_their_file(tmp_path, caplog):
    from tests.fault_support import put_a_file_in_place_of, put_the_folder_back

    folder = os.path.join(str(tmp_path), BUCKET)
    away = folder + ".away"
    recorder, puts, name, summary = closed_while_sending(
        tmp_path, caplog, lambda spill: put_a_file_in_place_of(spill.folder, away)
    )
    assert recorder.lost == 0 and recorder.left_on_disk == 2, _errors(caplog)
    assert "0 lost" in summary and summary.endswith(", 2 read back from disk and left there")
    put_the_folder_back(folder, away)
    assert files(folder) == [name]
    assert DiskSpill(str(tmp_path), BUCKET).take(5) == puts


def test_records_read_back_still_being_sent_at_close_are_not_spilled_twice(tmp_path, caplog):
    # With a spill folder that takes writes: the records are still in the file
    # they were read from, and spilling them again would put a second copy on
    # disk (the next server would send both).
    recorder, puts, name, summary = closed_while_sending(tmp_path, caplog)
    assert recorder.lost == 0 and recorder.spilled == 0, _errors(caplog)
    assert recorder.left_on_disk == 2, _errors(caplog)
    assert summary.endswith(", 2 read back from disk and left there"), summary
    folder = os.path.join(str(tmp_path), BUCKET)
    assert files(folder) == [name]
    again = DiskSpill(str(tmp_path), BUCKET)
    assert again.pending == 2 and again.take(5) == puts
