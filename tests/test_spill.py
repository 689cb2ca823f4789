"""The disk spill keeps a file until every record read from it is stored or spilled again.

A server killed without a clean stop (SIGKILL, OOM kill, a machine stop)
while it sends spilled records to S3 must leave them on disk for the next
server, which reads them from the start of the file and groups capture lines
into the same files under the same keys (a re-sent file replaces the first
copy). Through the real server: ``tests/test_serving_faults.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


@pytest.mark.parametrize("layout", ["object", "capture"])
def test_a_recorder_removes_a_spill_file_once_s3_stored_its_records(tmp_path, s3, aws, layout):
    from ml2p.serving.recorder import BackgroundRecorder
    from tests.fault_support import wait_for

    spill = DiskSpill(str(tmp_path), BUCKET)
    objects = [Put(f"proj/o{i}.json", b"{}") for i in range(6)]
    spill.put(lines(6) if layout == "capture" else objects)
    recorder = BackgroundRecorder(BUCKET, layout=layout, client=s3, spill=spill, batch_size=4)
    try:
        assert wait_for(lambda: not files(spill.folder), 20), files(spill.folder)
    finally:
        recorder.close(timeout=10)
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
