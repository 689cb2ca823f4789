"""Server pieces that need no running server: settings, body decoding, negotiation, CLI errors."""

from __future__ import annotations

import pytest

from ml2p.errors import ClientError, ConfigError
from ml2p.serving import bodies
from ml2p.serving.settings import ServerSettings, cpu_count


@pytest.fixture(autouse=True)
def _drop_log_handler():
    """ml2p-docker installs a handler on the ``ml2p`` logger: remove it with the test's stdout."""
    import logging

    logger = logging.getLogger("ml2p")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


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
    assert err.startswith("Error: ConfigError:") and "SAGEMAKER_MODEL_SERVER_WORKERS" in err


def test_serve_with_an_unknown_model_fails(tmp_path, capsys):
    from ml2p.docker import main

    assert main(["--ml-folder", str(tmp_path), "--model", "nope.Missing", "serve"]) == 1
    assert "ModelNotFoundError" in capsys.readouterr().err


@pytest.mark.parametrize(
    "body,kind,strategy,message",
    [
        (b'{"x": 1}\n{"x": 2}\n', "application/jsonlines", "SINGLE_RECORD", "holds 2 records"),
        (b"1,2\n3,4\n", "text/csv", "SINGLE_RECORD", "holds 2 records"),
        (b"\n\n", "text/csv", "MULTI_RECORD", "empty"),
        (b'{"x": 1}\n{"x": \n', "application/jsonlines", "MULTI_RECORD", "line 2"),
        (b'{"x": 1}\n"text"\n', "application/jsonlines", "MULTI_RECORD", "instance 1"),
        (b"\xc3\x28", "text/csv", "MULTI_RECORD", "UTF-8"),
    ],
)
def test_bad_records_are_client_errors(body, kind, strategy, message):
    with pytest.raises(ClientError, match=message) as info:
        bodies.decode_request(body, kind, strategy)
    assert info.value.status_code == 400


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded"])
def test_unsupported_content_type_is_415(ctype):
    with pytest.raises(bodies.UnsupportedMediaType) as info:
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
    kind, body = bodies.encode_response(request, answer, "text/csv")
    assert kind == "text/csv"
    assert body.decode().splitlines() == ['1,,true,"[1,2]"', '"text, with comma"']
