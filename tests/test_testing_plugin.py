"""ml2p.testing as a pytest plugin: found through its entry point, cheap to load, isolating tests.

Each test runs pytest on a small test file in a temporary folder, in a child
process: what a model author's project sees once ML2P is installed.
"""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys
import textwrap

import pytest

from ml2p import child_server, plugins
from ml2p.testing import ServedPredictor, ServerNotReady
from tests.test_startup import imported_modules

ROOT = str(pathlib.Path(__file__).resolve().parent.parent)
SCALE = "tests.serving_models.ScaleModel"
HEAVY = ("boto3", "botocore", "s3transfer", "moto", "gunicorn", "uvicorn", "uvloop", "httptools")


@pytest.fixture
def pytester(pytester, monkeypatch):
    """pytester, with plugins loaded from entry points whatever the caller's environment."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return pytester


def run(pytester, source, *args):
    pytester.makepyfile(test_kit=textwrap.dedent(source))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *args)


def heavy(modules):
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith("ml2p.serving"))


def test_the_entry_point_names_the_plugin_module():
    [entry] = [e for e in plugins._entry_points("pytest11") if e.name == "ml2p"]
    assert entry.value == "ml2p.testing.plugin"
    assert entry.dist.metadata["Name"] == "ml2p"


def test_importing_the_plugin_loads_nothing_heavy_and_scans_no_entry_points():
    modules = imported_modules("import ml2p.testing.plugin, ml2p.testing")
    assert "ml2p.testing.plugin" in modules
    assert heavy(modules) == []
    code = (
        "import importlib.metadata as md\n"
        "calls = []\n"
        "real = md.entry_points\n"
        "md.entry_points = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        "import ml2p.testing.plugin\n"
        "assert not calls, calls\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_pytest_session_loads_the_plugin_and_nothing_heavy(pytester):
    # pytest imports plugins with importlib, which -X importtime does not show:
    # look at sys.modules from inside the session instead.
    result = run(
        pytester,
        f"""
        import sys

        def test_nothing_heavy(request):
            assert request.config.pluginmanager.get_plugin("ml2p") is not None
            loaded = [m for m in sys.modules if m.split(".")[0] in {HEAVY!r}]
            assert loaded + [m for m in sys.modules if m.startswith("ml2p.serving")] == []
        """,
    )
    result.assert_outcomes(passed=1)


def test_the_fixtures_come_from_the_entry_point_and_isolate_tests(pytester, monkeypatch):
    # Settings of the caller that must not reach the tests, and must come back after.
    monkeypatch.setenv("AWS_PROFILE", "someone")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    result = run(
        pytester,
        """
        import os
        import pytest

        URLS = []

        @pytest.fixture
        def ml2p_s3_bucket():
            return "my-bucket"

        def test_the_plugin_is_the_entry_points(request):
            plugin = request.config.pluginmanager.get_plugin("ml2p")
            assert plugin.__name__ == "ml2p.testing.plugin"

        def test_first_writes(ml2p_s3, ml2p_aws):
            URLS.append(ml2p_aws)
            assert os.environ["AWS_ENDPOINT_URL"] == ml2p_aws
            assert ml2p_aws.startswith("http://127.0.0.1:")
            assert "AWS_PROFILE" not in os.environ and "AWS_ENDPOINT_URL_S3" not in os.environ
            ml2p_s3.put_object(Bucket="my-bucket", Key="a", Body=b"1")
            ml2p_s3.create_bucket(Bucket="other")
            listed = ml2p_s3.list_objects_v2(Bucket="my-bucket")["Contents"]
            assert [o["Key"] for o in listed] == ["a"]

        def test_second_sees_moto_reset(ml2p_s3, ml2p_aws):
            URLS.append(ml2p_aws)
            assert [b["Name"] for b in ml2p_s3.list_buckets()["Buckets"]] == ["my-bucket"]
            assert "Contents" not in ml2p_s3.list_objects_v2(Bucket="my-bucket")

        def test_one_server_and_the_environment_restored():
            assert len(URLS) == 2 and URLS[0] == URLS[1]
            assert "AWS_ENDPOINT_URL" not in os.environ
            assert os.environ["AWS_PROFILE"] == "someone"
            assert os.environ["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:9"
        """,
    )
    result.assert_outcomes(passed=4)


def test_the_plugin_can_be_turned_off(pytester):
    result = run(pytester, "def test_aws(ml2p_aws):\n    pass\n", "-p", "no:ml2p")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'ml2p_aws' not found*"])


def test_without_moto_the_aws_fixtures_fail_naming_the_extra(pytester):
    pytester.makeconftest("import sys\nsys.modules['moto'] = None  # as if not installed\n")
    result = run(
        pytester,
        """
        def test_aws(ml2p_aws):
            pass

        def test_without_aws():
            pass
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    out = result.stdout.str()
    assert "pip install 'ml2p[testing]'" in out
    assert "During handling" not in out  # one clear message, not a chain


def test_the_client_and_server_factories_serve_and_clean_up(pytester):
    result = run(
        pytester,
        """
        import threading

        import pytest

        from ml2p.core import Model, ModelPredictor

        MADE = []

        class EchoPredictor(ModelPredictor):
            def result(self, data):
                return {"echo": data}

        class EchoModel(Model):
            PREDICTOR = EchoPredictor

        def test_in_process(ml2p_prediction_client, tmp_path):
            client = ml2p_prediction_client(EchoModel, environ={"ML2P_MODEL_VERSION": "echo-1"})
            MADE.append(client)
            assert client.app.model.ml_folder == tmp_path
            answer = client.post("/invocations", json={"a": 1})
            assert answer.status_code == 200 and answer.json["result"] == {"echo": {"a": 1}}
            assert answer.json["metadata"]["model_version"] == "echo-1"

        def test_served(ml2p_served_predictor, tmp_path):
            # A class of a test module: the server imports it from this folder.
            server = ml2p_served_predictor(EchoModel, environ={"ML2P_MODEL_VERSION": "echo-1"})
            MADE.append(server)
            assert server.url.startswith("http://127.0.0.1:")
            assert server.post("/invocations", json={"a": 2}).json["result"] == {"echo": {"a": 2}}
            assert (tmp_path / "ml2p-serve-0.log").is_file()

        def test_both_were_stopped():
            client, server = MADE
            with pytest.raises(RuntimeError, match="closed"):
                client.get("/ping")
            assert server.proc.returncode == 0
            assert [t.name for t in threading.enumerate() if t.name.startswith("ml2p-")] == []
        """,
    )
    result.assert_outcomes(passed=3)


# -- ServedPredictor on its own ----------------------------------------------------


def test_a_server_that_cannot_start_says_why_with_its_log(tmp_path):
    server = ServedPredictor("no-such-model", tmp_path, pythonpath=[ROOT])
    with pytest.raises(ServerNotReady, match=r"(?s)server exited with .*no-such-model"):
        server.start()
    assert server.proc.returncode != 0


def test_a_failing_setup_is_raised_at_once_with_the_log(tmp_path):
    environ = {"SERVING_SETUP_FAIL": "weights are missing"}
    server = ServedPredictor(SCALE, tmp_path, environ, pythonpath=[ROOT])
    # The log comes with it, but the setup's traceback may be logged a moment after /ping says so.
    with pytest.raises(ServerNotReady, match="setup failed: RuntimeError: weights are missing"):
        server.start()
    assert server.stop() == 0  # stopped by start, with SIGTERM


def test_a_port_taken_before_the_server_binds_it_is_replaced(tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        ports = [taken.getsockname()[1]]
        real = child_server.free_port
        monkeypatch.setattr(child_server, "free_port", lambda: ports.pop() if ports else real())
        with ServedPredictor(SCALE, tmp_path, pythonpath=[ROOT]) as server:
            assert server.port != taken.getsockname()[1]
            assert server.get("/ping").status_code == 200
    assert server.proc.returncode == 0


def test_server_options_stderr_file_and_removed_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_INHERITED", "yes")
    server = ServedPredictor(
        SCALE,
        tmp_path,
        {"KIT_INHERITED": None, "KIT_GIVEN": "1"},
        pythonpath=[ROOT],
        log_path=tmp_path / "out.log",
        stderr_path=tmp_path / "err.log",
    )
    assert "KIT_INHERITED" not in server.environ and server.environ["KIT_GIVEN"] == "1"
    assert server.environ["ML2P_RECORD_SPILL_DIR"] == f"{tmp_path / 'out.log'}.spill"
    server.args.append("--debug")
    with server:
        assert server.proc.args[-1] == "--debug"
        assert server.proc.args[server.proc.args.index("--port") + 1] == str(server.port)
    assert server.proc.returncode == 0
    err = (tmp_path / "err.log").read_text()
    assert "Listening at: http://127.0.0.1:" in err  # gunicorn's own log is on stderr
    assert "Listening at" not in server.log()
