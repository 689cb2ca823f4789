"""Server pieces that need no running server: settings, body decoding, negotiation, CLI errors."""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml2p.errors import ClientError, ConfigError
from ml2p.serving import bodies
from ml2p.serving.settings import ServerSettings, cpu_count

# ml2p-docker installs a handler on the ``ml2p`` logger: each test gets it removed.
pytestmark = pytest.mark.usefixtures("restore_ml2p_logger")


# -- bad input ------------------------------------------------------------


@pytest.mark.parametrize(
    "name,value",
    [
        ("SAGEMAKER_BIND_TO_PORT", "http"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "0"),
        ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "-5"),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "nan"),
        ("SAGEMAKER_BATCH_STRATEGY", "SOME_RECORDS"),
        ("ML2P_SERVER_THREADS", "zero"),
        ("ML2P_SERVER_THREADS", "-1"),
        ("ML2P_SERVER_THREADS", "1.5"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "2.5"),
        ("SAGEMAKER_BIND_TO_PORT", "8080.5"),
    ],
)
def test_bad_setting_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        ServerSettings.from_environ({name: value})


def test_serve_with_a_bad_setting_fails_with_one_line(tmp_path, monkeypatch, capsys):
    from ml2p.docker import main

    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", "lots")
    args = ["--ml-folder", str(tmp_path), "--model", "tests.serving_models.ScaleModel", "serve"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    # One line, as every ml2p and ml2p-docker error that names its problem.
    assert len(err.splitlines()) == 1
    assert err.startswith("Error: SAGEMAKER_MODEL_SERVER_WORKERS='lots'")


def test_serve_with_an_unknown_model_fails(tmp_path, capsys):
    from ml2p.docker import main

    assert main(["--ml-folder", str(tmp_path), "--model", "nope.Missing", "serve"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("Error: model 'nope.Missing': cannot import")


@pytest.mark.parametrize(
    "body,kind,strategy,message",
    [
        (b'{"x": 1}\n{"x": 2}\n', "application/jsonlines", "SINGLE_RECORD", "holds 2 records"),
        (b"1,2\n3,4\n", "text/csv", "SINGLE_RECORD", "holds 2 records"),
        (b"\n\n", "text/csv", "MULTI_RECORD", "empty"),
        (b'{"x": 1}\n{"x": \n', "application/jsonlines", "MULTI_RECORD", "line 2"),
        (b"\xc3\x28", "text/csv", "MULTI_RECORD", "UTF-8"),
        (b'{"instances": {"x": 1}}', "application/json", "MULTI_RECORD", "'instances'"),
        (b"text", "application/json", "MULTI_RECORD", "malformed JSON"),
    ],
)
def test_bad_records_are_client_errors(body, kind, strategy, message):
    # The server's own RequestError, and a ClientError for code that catches those.
    with pytest.raises(bodies.RequestError, match=message) as info:
        bodies.decode_request(body, kind, strategy)
    assert isinstance(info.value, ClientError)
    assert info.value.status_code == 400


@pytest.mark.parametrize("ctype", ["text/csv; header=maybe", "TEXT/CSV; Header=yes"])
def test_a_csv_header_parameter_other_than_present_or_absent_is_415(ctype):
    with pytest.raises(bodies.UnsupportedMediaType, match="header=present") as info:
        bodies.request_media_type(ctype)
    assert info.value.status_code == 415


def test_unacceptable_accept_is_406():
    with pytest.raises(bodies.NotAcceptable) as info:
        bodies.negotiate("text/html, application/xml;q=0.9")
    assert info.value.status_code == 406


# -- good input -----------------------------------------------------------


def test_defaults():
    settings = ServerSettings.from_environ({})
    assert (settings.port, settings.timeout, settings.max_payload_bytes) == (8080, 60.0, 6 << 20)
    assert settings.workers == cpu_count() and settings.batch_strategy == "MULTI_RECORD"
    assert settings.graceful_timeout <= 25


def test_explicit_arguments_override_the_environment():
    env = {"SAGEMAKER_BIND_TO_PORT": "9000", "SAGEMAKER_MODEL_SERVER_WORKERS": "3"}
    settings = ServerSettings.from_environ(env, host="127.0.0.1", port=9100, timeout=2.5)
    assert (settings.host, settings.port, settings.workers, settings.timeout) == (
        "127.0.0.1",
        9100,
        3,
        2.5,
    )


def test_gunicorn_options():
    from ml2p.serving.app import PredictionApp
    from ml2p.serving.server import PredictionServer
    from tests.serving_models import ScaleModel

    settings = ServerSettings.from_environ(
        {"SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "20"},
        host="127.0.0.1",
        port=8123,
    )
    server = PredictionServer(PredictionApp(ScaleModel, "/tmp", settings), settings)
    options = server.gunicorn_options()
    assert options["bind"] == ["127.0.0.1:8123"]
    assert options["workers"] == 3 and options["timeout"] >= 20
    assert options["graceful_timeout"] <= 25
    assert options["worker_class"] == "ml2p.serving.server.Worker"
    assert server.cfg.worker_class_str == "ml2p.serving.server.Worker"


@pytest.mark.parametrize(
    "ctype",
    ["", "application/json", "text/plain", "text/plain; charset=utf-8", "image/png", "a b", ";"],
)
def test_every_type_but_csv_and_json_lines_is_read_as_json_as_in_0_6(ctype):
    assert bodies.request_media_type(ctype) == bodies.JSON


@pytest.mark.parametrize(
    "ctype,kind",
    [
        ("application/jsonlines", "application/jsonlines"),
        ("Application/X-JSONLines; charset=utf-8", "application/x-jsonlines"),
        ("text/csv", bodies.CSV),
        ("text/csv; header=absent", bodies.CSV),
        ("text/csv; header=present", bodies.CSV_WITH_HEADER),
    ],
)
def test_csv_and_json_lines_keep_their_own_reading(ctype, kind):
    assert bodies.request_media_type(ctype) == kind


@pytest.mark.parametrize("datum", [[1, 2], [], "text", 3, 2.5, None, True, {"x": 1}])
def test_any_json_value_but_instances_is_one_datum(datum):
    body = json.dumps(datum).encode()
    assert bodies.decode_request(body, bodies.JSON) == bodies.Request(batch=False, data=datum)


def test_instances_and_json_lines_records_may_be_any_json_value():
    values = [{"x": 1}, [1, 2], "text", 7, None, False]
    body = json.dumps({"instances": values}).encode()
    assert bodies.decode_request(body, bodies.JSON) == bodies.Request(batch=True, data=values)
    lines = "\n".join(json.dumps(v) for v in values).encode()
    request = bodies.decode_request(lines, "application/jsonlines")
    assert request == bodies.Request(batch=True, data=values)


@pytest.mark.parametrize("mb,expected", [("6", 6), ("", 6), ("12.0", 12), ("0.5", 0.5)])
def test_execution_parameters_give_a_whole_payload_limit_as_an_int(tmp_path, mb, expected):
    from ml2p.testing import PredictionClient
    from tests.serving_models import ScaleModel

    environ = {"SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MAX_PAYLOAD_IN_MB": mb}
    with PredictionClient(ScaleModel, ml_folder=tmp_path, environ=environ) as client:
        answer = client.get("/execution-parameters").json
    assert answer == {
        "MaxConcurrentTransforms": 1,  # as ML2P 0.6, whatever the workers (3 here)
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": expected,
    }
    assert type(answer["MaxPayloadInMB"]) is type(expected)  # 6, not 6.0, as ML2P 0.6


def test_single_record_csv_and_json_lines():
    assert bodies.decode_request(b"1, 2.5,abc,1e3,nan\n", "text/csv", "SINGLE_RECORD") == (
        bodies.Request(batch=False, data=[1, 2.5, "abc", 1000.0, "nan"])
    )
    request = bodies.decode_request(b'\n{"x": 1}\n', "application/x-jsonlines", "SINGLE_RECORD")
    assert request == bodies.Request(batch=False, data={"x": 1})


def test_negotiation():
    assert bodies.negotiate("") == "application/json"
    assert bodies.negotiate("*/*") == "application/json"
    assert bodies.negotiate("text/csv;q=0.5, application/json") == "text/csv"
    assert bodies.negotiate("application/json-lines") == "application/json-lines"
    assert bodies.negotiate("text/*") == "text/csv"


def test_csv_output_flattens_results():
    request = bodies.Request(batch=True, data=[{}, {}])
    answer = [
        {"metadata": {}, "result": {"a": 1, "b": None, "c": True, "d": [1, 2]}},
        {"metadata": {}, "result": "text, with comma"},
    ]
    body = bodies.encode_response(request, answer, "text/csv")
    assert body.decode().splitlines() == ['1,,true,"[1,2]"', '"text, with comma"']


# -- prediction threads and the shutdown budget -------------------------------


def test_one_prediction_thread_by_default():
    assert ServerSettings.from_environ({}).threads == 1
    assert ServerSettings.from_environ({"ML2P_SERVER_THREADS": "3"}).threads == 3
    # 0: predictions run on the event loop.
    assert ServerSettings.from_environ({"ML2P_SERVER_THREADS": "0"}).threads == 0
    assert ServerSettings.from_environ({"ML2P_SERVER_THREADS": "2.0"}).threads == 2


def test_offloader_delivers_every_result_to_its_own_future():
    import asyncio

    from ml2p.serving.offload import Offloader

    def square_or_fail(n):
        if n % 7 == 0:
            raise ValueError(n)
        return n * n

    async def main():
        loop = asyncio.get_running_loop()
        offloader = Offloader(2)
        try:
            futures = [offloader.submit(loop, square_or_fail, n) for n in range(1, 500)]
            return await asyncio.gather(*futures, return_exceptions=True)
        finally:
            offloader.shutdown()

    results = asyncio.run(main())
    for n, result in enumerate(results, 1):
        if n % 7 == 0:
            assert isinstance(result, ValueError) and result.args == (n,)
        else:
            assert result == n * n


def test_offloader_replaces_a_stuck_thread():
    import asyncio
    import threading

    from ml2p.serving.offload import Offloader

    release = threading.Event()

    async def main():
        loop = asyncio.get_running_loop()
        offloader = Offloader(1)
        try:
            stuck = offloader.submit(loop, lambda _: release.wait(10), None)
            await asyncio.sleep(0.05)
            offloader.replace_stuck()
            quick = await asyncio.wait_for(offloader.submit(loop, lambda n: n + 1, 41), 2)
            release.set()
            assert await stuck is True
            # The stuck thread retires once free: one thread takes calls again.
            await asyncio.sleep(0.1)
            assert sum(t.is_alive() for t in offloader._threads) == 1
            return quick
        finally:
            release.set()
            offloader.shutdown()

    assert asyncio.run(main()) == 42


class _ClosingRecorder:
    def __init__(self):
        self.timeouts = []

    def record(self, key, body):
        raise AssertionError("not used")

    def close(self, timeout=None):
        self.timeouts.append(timeout)


def _stopping_app(tmp_path, graceful):
    import dataclasses

    from ml2p.serving.app import PredictionApp
    from tests.models import MinimalModel

    settings = dataclasses.replace(ServerSettings(), graceful_timeout=graceful)
    app = PredictionApp(MinimalModel, tmp_path, settings)

    class Holder:
        recorder = _ClosingRecorder()

    app.model.predictor = Holder()
    return app


def test_shutdown_flush_uses_the_graceful_time_left_after_the_signal(tmp_path):
    import time

    from ml2p.serving.app import EXIT_MARGIN

    app = _stopping_app(tmp_path, graceful=20.0)
    app.mark_exit_requested()
    app.exit_requested_at -= 4.0  # the signal came 4 s ago (requests were drained)
    app.mark_exit_requested()  # a second signal does not move the mark
    app.stop()
    [timeout] = app.predictor.recorder.timeouts
    assert 20.0 - 4.0 - EXIT_MARGIN - 2.0 < timeout <= 20.0 - 4.0 - EXIT_MARGIN
    assert app.exit_requested_at < time.monotonic() - 3.9


def test_shutdown_flush_without_a_signal_gets_the_fixed_budget(tmp_path):
    from ml2p.serving.app import RECORDER_CLOSE_TIMEOUT

    app = _stopping_app(tmp_path, graceful=20.0)
    app.stop()
    [timeout] = app.predictor.recorder.timeouts
    assert RECORDER_CLOSE_TIMEOUT - 0.5 < timeout <= RECORDER_CLOSE_TIMEOUT


# -- accepting connections one at a time ----------------------------------------


def test_acceptors_on_one_socket_share_a_burst_of_connections():
    """Two event loops (as two workers) accept 16 connections opened together."""
    import asyncio
    import socket
    import threading

    from ml2p.serving.accepting import Acceptor

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    counts = [0, 0]
    loops = []
    started = threading.Barrier(3)

    def run(index):
        loop = asyncio.new_event_loop()
        loops.append(loop)

        class Counting(asyncio.Protocol):
            def connection_made(self, transport):
                counts[index] += 1

        acceptor = Acceptor(loop, Counting, lambda: counts[index])
        acceptor.start([listener])
        loop.call_soon(started.wait)
        loop.run_forever()
        acceptor.close()
        loop.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in (0, 1)]
    for thread in threads:
        thread.start()
    started.wait()
    clients = [socket.create_connection(listener.getsockname()) for _ in range(16)]
    try:
        deadline = time.monotonic() + 10
        while sum(counts) < 16 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        for loop in loops:
            loop.call_soon_threadsafe(loop.stop)
        for thread in threads:
            thread.join(5)
        for client in clients:
            client.close()
        listener.close()
    assert sum(counts) == 16
    # Each waits longer the more it holds, so neither takes (nearly) all.
    assert min(counts) >= 4, counts


def test_acceptor_pauses_when_out_of_file_descriptors(caplog):
    import asyncio

    from ml2p.serving import accepting

    class Failing:
        def __init__(self):
            self.calls = 0

        def fileno(self):
            return 99

        def accept(self):
            self.calls += 1
            raise OSError(24, "Too many open files")

    class Loop:
        def __init__(self):
            self.readers = {}
            self.later = []

        def remove_reader(self, fd):
            self.readers.pop(fd, None)

        def add_reader(self, fd, callback, *args):
            self.readers[fd] = (callback, args)

        def call_later(self, delay, callback, *args):
            self.later.append((delay, callback, args))

    loop = Loop()
    sock = Failing()
    acceptor = accepting.Acceptor(loop, asyncio.Protocol)  # type: ignore[arg-type]
    acceptor._sockets.append(sock)  # as start() would, without setblocking
    loop.add_reader(99, acceptor._accept_one, sock)
    with caplog.at_level("ERROR", logger="ml2p.serving"):
        acceptor._accept_one(sock)
    assert 99 not in loop.readers and "Too many open files" in caplog.text
    [(delay, resume, args)] = loop.later
    assert delay == accepting.RETRY_AFTER
    resume(*args)
    assert 99 in loop.readers


# What a body must hold to be decoded again with the finiteness check: a
# 3-digit exponent or a run of 20 digits, as this expression finds them.
_MAYBE_HUGE_SPEC = re.compile(r"[eE]\+?[0-9]{3}|[0-9]{20}")


@given(st.text(alphabet=st.sampled_from('0123456789eE+-. x"{}[],:é€\u0663'), max_size=60))
def test_the_huge_number_check_finds_what_its_expression_finds(text):
    assert bodies._maybe_huge(text) == (_MAYBE_HUGE_SPEC.search(text) is not None)


@pytest.mark.parametrize(
    "text, huge",
    [
        ('{"x": 1e309}', True),
        ('{"x": 1E+400}', True),
        ('{"x": 1e-400}', False),
        ('{"x": 12345678901234567890.5}', True),
        ('{"x": 1234567890123456789.5}', False),
        ('{"instances": [{"x": 1.5}, {"x": 2e10}]}', False),
        ('{"name": "e123"}', True),  # inside a string: decoded again, harmlessly
        ('{"x": "\u0663\u0663\u0663"}', False),  # not ASCII digits: never a JSON number
    ],
)
def test_the_huge_number_check_on_bodies(text, huge):
    assert bodies._maybe_huge(text) is huge
