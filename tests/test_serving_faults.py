"""Faults through the real server: nothing answered is ever lost, nothing unanswered is recorded.

Each test runs ``ml2p-docker serve`` in a subprocess, sends real signals,
stores records in moto over HTTP and makes S3 misbehave with a TCP proxy
(:mod:`tests.tcp_proxy`). The tests named in the fault table of
``docs/serving.md`` are checked to exist by
``test_every_fault_table_row_names_a_test_here``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.fault_support import (
    FAULT_MODEL,
    S3_ENV,
    Load,
    assert_each_once,
    in_log,
    in_s3,
    in_spill,
    merge,
    put_a_file_in_place_of,
    put_the_folder_back,
    wait_for,
)
from tests.serving_support import ROOT, Server, free_port, post, request
from tests.tcp_proxy import TcpProxy


def serve(tmp_path, env=None, workers=1, **kw):
    return Server(tmp_path, tmp_path / "server.log", model=FAULT_MODEL, env=env, workers=workers)


def stop_with(srv, sig, timeout=45.0):
    """Send ``sig`` to the master; return its exit code and the seconds it took."""
    started = time.monotonic()
    srv.proc.send_signal(sig)
    code = srv.proc.wait(timeout)
    return code, time.monotonic() - started


def json_error(resp, status):
    assert resp.status == status, resp
    assert resp.headers["content-type"] == "application/json", resp.headers
    body = resp.json()
    assert isinstance(body["message"], str) and body["message"]
    return body


# -- 1. a record that cannot be encoded --------------------------------------------


@pytest.mark.parametrize("layout", ["capture", "object"])
def test_an_unencodable_record_stops_no_writer(tmp_path, s3, aws, layout):
    env = dict(
        S3_ENV,
        AWS_ENDPOINT_URL=aws,
        ML2P_RECORD_LAYOUT=layout,
        ML2P_RECORD_BATCH_SECONDS="0.5",
        ML2P_RECORD_SPILL="log",
    )
    if layout == "object":
        env["ML2P_RECORD_WRITERS"] = "1"  # one bad record could stop them all
    csv = {"Accept": "text/csv"}
    with serve(tmp_path, env) as srv:
        assert srv.wait_ready().status == 200
        for x in range(1, 41):
            bad = x in (10, 30)
            datum = {"x": x, "bigkey": True} if bad else {"x": x}
            resp = post(srv.port, datum, headers=csv)
            # CSV answers the values; the record (JSON) cannot hold the key.
            assert resp.status == 200, resp
            assert resp.body.strip() == str(x if bad else 2 * x).encode(), resp
        code, _ = stop_with(srv, signal.SIGTERM)
        log = srv.log()
    assert code == 0, log
    found = merge(in_s3(s3), in_log(log))
    assert_each_once(set(range(1, 41)), found, log)
    # The capture layout stores the CSV answer as it was sent: nothing to encode.
    unencodable = 2 if layout == "object" else 0
    bad = [line for line in log.splitlines() if "could not be encoded" in line]
    assert len(bad) == unencodable, log
    summary = [line for line in log.splitlines() if "invocation recorder closed" in line]
    assert len(summary) == 1, summary
    assert f"{unencodable} with values JSON cannot encode" in summary[0], summary
    assert "0 unwritten" in summary[0] and "40 written" in summary[0], summary


# -- 2. every stop signal drains ----------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["SIGINT", "SIGQUIT"])
def test_sigint_or_sigquit_to_the_master_drains_as_sigterm(tmp_path, s3, aws, sig):
    marker = tmp_path / "teardown.txt"
    env = dict(
        S3_ENV,
        AWS_ENDPOINT_URL=aws,
        SERVING_TEARDOWN_MARKER=str(marker),
        ML2P_RECORD_LAYOUT="capture",
        ML2P_RECORD_BATCH_SECONDS="60",
    )
    with serve(tmp_path, env, workers=2) as srv:
        srv.wait_workers_ready(2)
        with Load(srv.port, threads=4) as load:
            assert wait_for(lambda: load.count() > 200, 30)
            code, seconds = stop_with(srv, sig)
        log = srv.log()
    assert code == 0, log
    assert seconds < 15, log
    assert set(load.statuses) == {200}, log
    assert marker.read_text().count("torn down") == 2, log
    assert_each_once(load.answered, in_s3(s3), log)
    assert "UNWRITTEN_RECORD" not in log


# -- 5. an acknowledgement lost ------------------------------------------------------


@pytest.mark.slow
def test_a_batch_whose_acknowledgement_is_lost_keeps_its_ids(tmp_path, s3, aws):
    with TcpProxy.to_url(aws) as proxy:
        env = dict(
            S3_ENV,
            AWS_ENDPOINT_URL=proxy.url,
            ML2P_RECORD_LAYOUT="capture",
            ML2P_RECORD_BATCH_SECONDS="60",
            ML2P_RECORD_SPILL="log",
        )
        with serve(tmp_path, env) as srv:
            assert srv.wait_ready().status == 200
            for x in range(1, 31):
                assert post(srv.port, {"x": x}).status == 200
            # The batch is written at shutdown: it reaches S3, its answer does not.
            proxy.set_mode("drop_replies")
            code, _ = stop_with(srv, signal.SIGTERM)
            log = srv.log()
    assert code == 0, log
    assert proxy.dropped_replies >= 1
    stored, logged = in_s3(s3), in_log(log)
    assert stored and logged, log
    assert_each_once(set(range(1, 31)), merge(stored, logged), log)


# -- 6. bodies ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ml")
    env = {"ML2P_SERVER_BODY_TIMEOUT": "1"}
    with serve(folder, env, workers=1) as srv:
        assert srv.wait_ready().status == 200
        yield srv


def test_a_7mb_body_gets_a_json_413_not_a_reset(plain_server):
    body = b'{"x": 1, "pad": "' + b"a" * (7 * 1024 * 1024) + b'"}'
    resp = post(plain_server.port, body, headers={"Content-Type": "application/json"})
    assert json_error(resp, 413) == {"message": "request body larger than 6 MB"}
    assert post(plain_server.port, {"x": 2}).json()["result"] == {"y": 4}


@pytest.mark.parametrize(
    "body,ctype",
    [
        (b'{"x": 1, "echo": 1e309}', "application/json"),
        (b'{"instances": [{"x": 1, "echo": -2.5E+400}]}', "application/json"),
        (b'{"x": 1, "echo": 1' + b"0" * 400 + b".5}", "application/json"),
        (b'{"x": 1}\n{"x": 2, "echo": 1e999}\n', "application/jsonlines"),
    ],
    ids=["exponent", "negative-batch", "long-mantissa", "jsonlines"],
)
def test_non_finite_numbers_are_refused_with_400(plain_server, body, ctype):
    resp = post(plain_server.port, body, headers={"Content-Type": ctype})
    assert "finite" in json_error(resp, 400)["message"]


def test_large_finite_numbers_still_decode(plain_server):
    resp = post(plain_server.port, b'{"x": 1, "echo": [1e308, -1.5e-400, 12345678901234567890123]}')
    assert resp.status == 200, resp
    assert resp.json()["result"]["echo"] == [1e308, -0.0, 12345678901234567890123]


def raw_exchange(port, data, timeout=10.0):
    """Send ``data`` on a new connection; return everything read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def parse_raw(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return status, headers, body


def test_a_body_shorter_than_its_content_length_times_out_with_json_408(plain_server):
    started = time.monotonic()
    raw = raw_exchange(
        plain_server.port,
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n" + b'{"x": 1',
    )
    status, headers, body = parse_raw(raw)
    assert status == 408 and headers["content-type"] == "application/json"
    assert "body" in json.loads(body)["message"]
    assert time.monotonic() - started < 6
    assert post(plain_server.port, {"x": 3}).json()["result"] == {"y": 6}


@pytest.mark.parametrize(
    "data",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /ping HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
        b"POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["request-line", "header", "chunk"],
)
def test_malformed_http_gets_a_json_400(plain_server, data):
    status, headers, body = parse_raw(raw_exchange(plain_server.port, data))
    assert status == 400 and headers["content-type"] == "application/json"
    assert "invalid HTTP request" in json.loads(body)["message"]
    assert request(plain_server.port, "GET", "/ping").status == 200


# -- 7. no record for an answer the caller did not get ------------------------------


@pytest.mark.parametrize("layout", ["object", "capture"])
def test_only_predictions_the_caller_received_are_recorded(tmp_path, s3, aws, layout):
    env = dict(
        S3_ENV,
        AWS_ENDPOINT_URL=aws,
        ML2P_RECORD_LAYOUT=layout,
        SAGEMAKER_MODEL_SERVER_TIMEOUT="1",
        ML2P_SERVER_THREADS="2",
        ML2P_RECORD_SPILL="log",
    )
    with serve(tmp_path, env) as srv:
        assert srv.wait_ready().status == 200
        assert post(srv.port, {"x": 1}).status == 200
        json_error(post(srv.port, {"x": 2, "sleep": 2}), 504)
        json_error(post(srv.port, {"x": 3, "bigkey": True}), 500)
        with pytest.raises(socket.timeout):
            post(srv.port, {"x": 4, "sleep": 0.8}, timeout=0.3)
        time.sleep(2.5)  # the late predictions end
        assert post(srv.port, {"x": 5}).status == 200
        code, _ = stop_with(srv, signal.SIGTERM)
        log = srv.log()
    assert code == 0, log
    found = merge(in_s3(s3), in_log(log))
    assert_each_once({1, 5}, found, log)
    summary = [line for line in log.splitlines() if "invocation recorder closed" in line]
    assert len(summary) == 1 and "3 not delivered" in summary[0], summary


# -- 3. in-flight predictions get the grace ----------------------------------------


@pytest.mark.slow
def test_predictions_in_flight_at_sigterm_get_the_grace_the_flush_does_not_need(tmp_path):
    env = {"ML2P_SERVER_THREADS": "2", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "120"}
    with serve(tmp_path, env) as srv:
        assert srv.wait_ready().status == 200
        answers = {}

        def predict(x, seconds):
            answers[x] = post(srv.port, {"x": x, "sleep": seconds}, timeout=60)

        threads = [
            threading.Thread(target=predict, args=(1, 13)),  # longer than the old 10 s
            threading.Thread(target=predict, args=(2, 60)),  # longer than the whole grace
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        code, seconds = stop_with(srv, signal.SIGTERM)
        for thread in threads:
            thread.join(60)
        log = srv.log()
    assert code == 0, log
    assert answers[1].status == 200 and answers[1].json()["result"] == {"y": 2}, log
    assert "shutting down" in json_error(answers[2], 503)["message"]
    # Cut at 25 - 2 (exit) - 5 (teardown) - 1 (answers) = 17 s after the signal.
    assert 14 < seconds < 25, log
    assert "1 prediction(s) cut" in log


# -- 4. an S3 outage -------------------------------------------------------------------


def workers_answering(port, workers, timeout=60.0):
    """Post ``{"x": n, "pid": true}`` until ``workers`` processes have answered; return the n."""
    pids, answered = set(), set()
    deadline = time.monotonic() + timeout
    x = 0
    while len(pids) < workers:
        assert time.monotonic() < deadline, f"only {len(pids)} worker(s) answered"
        x += 1
        try:
            resp = post(port, {"x": x, "pid": True}, timeout=5)
        except OSError:
            time.sleep(0.1)
            continue
        if resp.status == 200:
            pids.add(resp.json()["result"]["pid"])
            answered.add(x)
        else:
            time.sleep(0.05)
    return answered


def spilling_env(proxy, layout, spill, **more):
    """A recording server's environment: S3 through ``proxy``, ``layout``, files
    every 0.5 s, records S3 cannot take spilled to ``spill``; ``more`` besides."""
    return dict(
        S3_ENV,
        AWS_ENDPOINT_URL=proxy.url,
        ML2P_RECORD_LAYOUT=layout,
        ML2P_RECORD_BATCH_SECONDS="0.5",
        ML2P_RECORD_SPILL_DIR=str(spill),
        **more,
    )


def ping_recording(port):
    resp = request(port, "GET", "/ping", timeout=5)
    assert resp.status == 200, resp
    return resp.json()["recording"]


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["object", "capture"])
def test_an_s3_outage_neither_stalls_predictions_nor_loses_records(tmp_path, s3, aws, layout):
    spill = tmp_path / "spill"
    with TcpProxy.to_url(aws) as proxy:
        env = spilling_env(proxy, layout, spill, ML2P_RECORD_QUEUE_SIZE="50")
        with serve(tmp_path, env) as srv:
            assert srv.wait_ready().status == 200
            with Load(srv.port, threads=4) as load:
                assert wait_for(lambda: load.count() > 50, 30)
                proxy.set_mode("refuse")
                before = load.count()
                time.sleep(4.0)
                answered_in_outage = load.count() - before
                during = ping_recording(srv.port)
                proxy.set_mode("forward")
                time.sleep(1.0)
            # The records spilled during the outage reach S3 once it is back.
            assert wait_for(lambda: ping_recording(srv.port)["on_disk"] == 0, 60)
            after = ping_recording(srv.port)
            code, _ = stop_with(srv, signal.SIGTERM)
            log = srv.log()
    assert code == 0, log
    # ~0.2 requests/s when a full queue made every request wait.
    assert answered_in_outage > 40, log
    assert set(load.statuses) == {200}, log
    assert during["s3"] == "failing" and during["on_disk"] > 0 and during["spilled"] > 0, during
    assert after["s3"] == "ok" and after["spilled"] >= during["spilled"], after
    assert_each_once(load.answered, in_s3(s3), log)
    # Spilling to disk (the default) keeps callers' inputs out of the log.
    assert "UNWRITTEN_RECORD" not in log and '"input"' not in log
    assert "spilled to disk" in log


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["capture", "object"])
def test_records_unwritten_at_shutdown_stay_on_disk_for_the_next_server(tmp_path, s3, aws, layout):
    spill = tmp_path / "spill"
    with TcpProxy.to_url(aws) as proxy:
        env = spilling_env(proxy, layout, spill)
        with serve(tmp_path, env) as srv:
            assert srv.wait_ready().status == 200
            # Paced: the next server must send every spilled record within its wait,
            # however fast this one answers on a busy machine.
            with Load(srv.port, threads=3, pause=0.02) as load:
                assert wait_for(lambda: load.count() > 50, 30)
                proxy.set_mode("refuse")
                time.sleep(1.5)
            code, _ = stop_with(srv, signal.SIGTERM)
            first_log = srv.log()
        assert code == 0, first_log
        on_disk = in_spill(spill)
        assert on_disk, first_log
        assert_each_once(load.answered, merge(in_s3(s3), on_disk), first_log)
        assert '"input"' not in first_log and "still on disk" in first_log
        # A later server using the same folder sends them, under the same ids.
        proxy.set_mode("forward")
        (tmp_path / "second").mkdir()
        with serve(tmp_path / "second", env) as srv:
            assert srv.wait_ready().status == 200
            assert wait_for(lambda: not in_spill(spill), 30), srv.log()
            code, _ = stop_with(srv, signal.SIGTERM)
            second_log = srv.log()
    assert code == 0, second_log
    assert re.search(r"took over \d+ spill file\(s\) of an earlier server", second_log)
    stored = in_s3(s3)
    assert_each_once(load.answered, stored, second_log)
    ids = {x: places[0][1] for x, places in on_disk.items()}
    assert all(stored[x][0][1] == ids[x] for x in ids)


def worker_pids(master):
    """The process ids of ``master``'s children (its workers), read from /proc."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == master:
            pids.append(int(name))
    return pids


def kill_without_a_stop(srv):
    """SIGKILL the server's workers and master, as an OOM kill or a machine stop would.

    The master is stopped first, so that it starts no new worker in between;
    returns once every process is gone (reaped), so a later server can tell
    that their spill files are no one's.
    """
    master = srv.proc.pid
    os.kill(master, signal.SIGSTOP)
    workers = worker_pids(master)
    assert workers, srv.log()
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    os.kill(master, signal.SIGKILL)
    assert srv.proc.wait(10) == -signal.SIGKILL
    assert wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in workers), 30)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["capture", "object"])
def test_a_server_killed_while_sending_spilled_records_leaves_them_on_disk(
    tmp_path, s3, aws, layout
):
    spill = tmp_path / "spill"
    for name in ("second", "third"):
        (tmp_path / name).mkdir()
    with TcpProxy.to_url(aws) as proxy:
        env = spilling_env(
            proxy,
            layout,
            spill,
            # Several capture files per spill file: sent again, each must replace itself.
            ML2P_RECORD_BATCH_SIZE="10",
            # A full queue spills at once: most records spill as loose capture lines,
            # which the next servers group into files.
            ML2P_RECORD_QUEUE_SIZE="5",
        )
        # S3 unreachable: every record answered ends up on disk.
        answered, first_log = spilled_by_a_first_server(tmp_path, env, proxy, answers=60)
        assert_each_once(answered, in_spill(spill), first_log)
        # The next server sends them to an S3 that stores them and whose answers
        # are lost: its writers hold records read from disk and retry, until it
        # is killed without a clean stop.
        proxy.set_mode("drop_replies")
        with serve(tmp_path / "second", env) as srv:
            assert srv.wait_ready().status == 200
            assert wait_for(
                lambda: proxy.dropped_replies >= 2 and ping_recording(srv.port)["queued"] > 0, 30
            ), srv.log()
            kill_without_a_stop(srv)
            second_log = srv.log()
        assert re.search(r"took over \d+ spill file\(s\) of an earlier server", second_log)
        assert in_s3(s3), second_log  # some records reached S3 before the kill
        # Nothing it read left the disk.
        assert_each_once(answered, in_spill(spill), second_log)
        # A third server, S3 healthy, sends them all: the objects and capture
        # files the killed one stored are sent again under the same keys, and
        # replace themselves.
        proxy.set_mode("forward")
        with serve(tmp_path / "third", env) as srv:
            assert srv.wait_ready().status == 200
            assert wait_for(lambda: not in_spill(spill), 30), srv.log()
            code, _ = stop_with(srv, signal.SIGTERM)
            third_log = srv.log()
    assert code == 0, third_log
    assert_each_once(answered, in_s3(s3), third_log)


def spilled_by_a_first_server(tmp_path, env, proxy, answers=40):
    """Run a server whose records all spill (S3 refused) until it answered more
    than ``answers`` requests; return the data it answered, and its log."""
    (tmp_path / "first").mkdir()
    proxy.set_mode("refuse")
    with serve(tmp_path / "first", env) as srv:
        assert srv.wait_ready().status == 200
        with Load(srv.port, threads=3, pause=0.02) as load:
            assert wait_for(lambda: load.count() > answers, 30)
        code, _ = stop_with(srv, signal.SIGTERM)
        log = srv.log()
    assert code == 0, log
    return load.answered, log


def summary_of(log):
    [line] = [line for line in log.splitlines() if "invocation recorder closed" in line]
    return line


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["capture", "object"])
def test_an_unreadable_spill_file_is_skipped_and_the_others_are_sent(tmp_path, s3, aws, layout):
    spill = tmp_path / "spill"
    folder = spill / "ml2p-test"
    with TcpProxy.to_url(aws) as proxy:
        env = spilling_env(proxy, layout, spill)
        answered, first_log = spilled_by_a_first_server(tmp_path, env, proxy)
        assert_each_once(answered, in_spill(spill), first_log)
        # Before the first server's files, one that cannot be read (root reads any
        # file: a folder in its place).
        pid = min(name.split("-", 1)[0] for name in os.listdir(folder))
        (folder / f"{pid}-000000.jsonl").mkdir()
        proxy.set_mode("forward")
        (tmp_path / "second").mkdir()
        with serve(tmp_path / "second", env) as srv:
            assert srv.wait_ready().status == 200
            assert wait_for(lambda: not in_spill(spill), 30), srv.log()
            time.sleep(1.0)  # writers spinning on the file would log it again and again
            assert ping_recording(srv.port)["on_disk"] == 0
            code, _ = stop_with(srv, signal.SIGTERM)
            log = srv.log()
    assert code == 0, log
    unreadable = [line for line in log.splitlines() if "cannot read spill file" in line]
    assert len(unreadable) == 1, unreadable[:3]
    assert "Is a directory" in unreadable[0], unreadable
    assert_each_once(answered, in_s3(s3), log)
    # Left on disk for a later server (the spill never removes what it cannot read).
    [left] = os.listdir(folder)
    assert (folder / left).is_dir() and left in unreadable[0]


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["capture", "object"])
def test_records_sent_again_from_disk_that_cannot_spill_again_stay_in_their_file(
    tmp_path, s3, aws, layout
):
    spill = tmp_path / "spill"
    folder = spill / "ml2p-test"
    away = spill / "away"
    with TcpProxy.to_url(aws) as proxy:
        env = spilling_env(proxy, layout, spill, ML2P_RECORD_BATCH_SIZE="10")
        answered, first_log = spilled_by_a_first_server(tmp_path, env, proxy)
        assert_each_once(answered, in_spill(spill), first_log)
        # S3 still refused: the second server's writers hold records read from
        # disk, retrying; then the spill folder refuses writes (a file in its
        # place), and the server is stopped.
        (tmp_path / "second").mkdir()
        with serve(tmp_path / "second", env) as srv:
            assert srv.wait_ready().status == 200
            assert wait_for(lambda: ping_recording(srv.port)["queued"] > 0, 30), srv.log()
            put_a_file_in_place_of(folder, away)
            code, _ = stop_with(srv, signal.SIGTERM)
            second_log = srv.log()
        assert code == 0, second_log
        summary = summary_of(second_log)
        left = int(re.search(r", (\d+) read back from disk and left there$", summary)[1])
        assert left > 0 and " 0 lost," in summary, summary
        assert "invocation record(s) lost" not in second_log
        again = [line for line in second_log.splitlines() if "could not be spilled again" in line]
        assert again and all(f"spill file {folder}{os.sep}" in line for line in again), again
        assert sum(int(re.search(r"(\d+) invocation record", line)[1]) for line in again) == left
        # The folder back: every record is still on disk, and a third server sends them.
        put_the_folder_back(folder, away)
        assert_each_once(answered, in_spill(spill), second_log)
        proxy.set_mode("forward")
        (tmp_path / "third").mkdir()
        with serve(tmp_path / "third", env) as srv:
            assert srv.wait_ready().status == 200
            assert wait_for(lambda: not in_spill(spill), 30), srv.log()
            code, _ = stop_with(srv, signal.SIGTERM)
            third_log = srv.log()
    assert code == 0, third_log
    assert_each_once(answered, in_s3(s3), third_log)


# -- 8. the same through `ml2p local serve` ------------------------------------------


@pytest.mark.parametrize("how", ["ctrl-c-twice", "sigint", "sigquit"])
def test_local_serve_drains_on_every_stop_signal(tmp_path, s3, aws, how):
    marker = tmp_path / "teardown.txt"
    cfg = tmp_path / "ml2p.yml"
    cfg.write_text(
        "project: test-proj\n"
        's3folder: "s3://ml2p-test/proj/"\n'
        "models:\n"
        "  faults: tests.fault_models.FaultModel\n"
        "deploy:\n"
        "  record_invokes: true\n"
    )
    folder = tmp_path / "local"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.txt").write_text("2")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML2P_", "SAGEMAKER_"))}
    env.update(
        PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""),
        SERVING_TEARDOWN_MARKER=str(marker),
        ML2P_RECORD_LAYOUT="capture",
        ML2P_RECORD_BATCH_SECONDS="60",
        ML2P_RECORD_SPILL_DIR=str(tmp_path / "spill"),
    )
    args = [sys.executable, "-m", "ml2p", "--cfg", str(cfg), "local", "serve", "faults"]
    args += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    args += ["--local-folder", str(folder)]
    with open(tmp_path / "server.log", "wb") as out:
        # A process group of its own, as a terminal's foreground job: Ctrl-C reaches all of it.
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        # Both workers set up: predictions answered by two processes.
        warm_up = workers_answering(port, 2)
        slow = {}
        in_flight = threading.Thread(
            target=lambda: slow.update(resp=post(port, {"x": 999999, "sleep": 2}, timeout=30))
        )
        with Load(port, threads=4, start=1000) as load:
            assert wait_for(lambda: load.count() > 100, 30)
            in_flight.start()
            time.sleep(0.3)
            started = time.monotonic()
            if how == "ctrl-c-twice":
                # Every process of the group, twice, while a prediction runs.
                os.killpg(proc.pid, signal.SIGINT)
                time.sleep(0.5)
                os.killpg(proc.pid, signal.SIGINT)
            else:  # `kill -INT` or `kill -QUIT` to the master only
                proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGQUIT)
            code = proc.wait(45)
            seconds = time.monotonic() - started
        in_flight.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = (tmp_path / "server.log").read_text()
    assert code == 0, log
    assert seconds < 15, log
    assert marker.read_text().count("torn down") == 2, log
    assert set(load.statuses) == {200}, log
    assert slow["resp"].status == 200, slow
    answered = load.answered | warm_up | {999999}
    assert_each_once(answered, in_s3(s3, "test-proj-local"), log)


# -- bad settings, and the documentation of all this --------------------------------


def test_an_unusable_spill_folder_fails_setup_naming_it(tmp_path, aws):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = dict(S3_ENV, AWS_ENDPOINT_URL=aws, ML2P_RECORD_SPILL_DIR=str(blocker / "spill"))
    with serve(tmp_path, env) as srv:
        assert wait_for(lambda: "model setup failed" in srv.log(), 20)
        resp = request(srv.port, "GET", "/ping")
    assert "ML2P_RECORD_SPILL_DIR" in json_error(resp, 503)["message"]


DOCS = os.path.join(ROOT, "docs")


def _fault_rows():
    with open(os.path.join(DOCS, "serving.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Faults\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]
    return [(row.split(" | ")[0].strip("| "), re.findall(r"`(test_\w+)`", row)) for row in rows]


def test_every_fault_table_row_names_a_test_here():
    rows = _fault_rows()
    assert len(rows) >= 12
    here = globals()
    for fault, tests in rows:
        assert tests, f"the fault table row {fault!r} names no test"
        for name in tests:
            assert callable(here.get(name)), f"{name} (fault {fault!r}) is not in {__name__}"


@pytest.mark.parametrize("page", ["serving.md", "environment.md"])
def test_the_new_settings_are_documented_with_the_code_defaults(page):
    from ml2p.serving import settings

    defaults = {
        "ML2P_SERVER_BODY_TIMEOUT": f"{settings.BODY_TIMEOUT:g}",
        "ML2P_RECORD_QUEUE_WAIT": f"{settings.DEFAULT_QUEUE_WAIT:g}",
        "ML2P_RECORD_SPILL": f"`{settings.DEFAULT_SPILL}`",
        "ML2P_RECORD_SPILL_DIR": "`<temp dir>/ml2p-record-spill`",
    }
    assert settings.DEFAULT_SPILL_DIR.endswith(os.sep + "ml2p-record-spill")
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        rows = {}
        for line in f:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) >= 3:
                rows.setdefault(cells[0], cells[1])
    for variable, default in defaults.items():
        assert rows.get(f"`{variable}`") == default, (page, variable)
