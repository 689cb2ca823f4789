"""The worker's model host: make, set up, tear down, flush, without any HTTP.

The plugin that sees the hooks is a real module, written to a folder on
``sys.path`` and registered as a project plugin (``ML2P_PROJECT_PLUGINS``).
"""

from __future__ import annotations

import gc
import json
import sys
import textwrap
import time

import pytest

from ml2p.core import SageMakerEnv
from ml2p.plugins import get_plugin_manager
from ml2p.serving.model_host import TEARDOWN_TIMEOUT, ModelHost
from tests.models import MinimalModel, MinimalPredictor

# Writes each setup and teardown hook call it wraps to the file ``HOOK_LOG`` names.
WITNESS = '''
"""Logs the setup and teardown hooks it wraps."""
import os

from ml2p import hookimpl


def _log(line):
    with open(os.environ["HOOK_LOG"], "a") as f:
        f.write(line + "\\n")


@hookimpl(wrapper=True)
def ml2p_setup(predictor):
    _log("setup " + type(predictor).__name__)
    return (yield)


@hookimpl(wrapper=True)
def ml2p_teardown(predictor):
    _log("teardown " + type(predictor).__name__)
    return (yield)
'''


@pytest.fixture(autouse=True)
def _unfreeze():
    """A worker freezes what its setup loaded (``gc.freeze``): not for the test process."""
    before = gc.get_freeze_count()
    yield
    if gc.get_freeze_count() > before:
        gc.unfreeze()


@pytest.fixture
def witness(tmp_path, monkeypatch):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "host_witness.py").write_text(textwrap.dedent(WITNESS))
    monkeypatch.syspath_prepend(str(folder))
    log = tmp_path / "hooks.log"
    monkeypatch.setenv("HOOK_LOG", str(log))
    yield log
    sys.modules.pop("host_witness", None)


def trained(tmp_path, slope=3):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text(json.dumps({"slope": slope}))
    return tmp_path


def wait_until_started(host, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not host.ready and host.setup_error is None:
        assert time.monotonic() < deadline, "the model host's setup did not end"
        time.sleep(0.01)


def test_a_model_is_made_set_up_and_torn_down_through_its_own_plugins(tmp_path, witness):
    environ = {"ML2P_MODEL_VERSION": "minimal-7", "ML2P_PROJECT_PLUGINS": "host_witness"}
    host = ModelHost(MinimalModel, trained(tmp_path), environ)
    assert not host.ready and host.predictor is None and host.stop_reserve() == 0.0
    host.start()
    wait_until_started(host)
    assert host.setup_error is None
    predictor = host.predictor
    assert isinstance(predictor, MinimalPredictor) and predictor.slope == 3
    assert predictor.invoke({"x": 2})["result"] == {"y": 6}
    # The worker's own manager, with the environment's plugins: not the library default.
    assert predictor.plugin_manager is not get_plugin_manager()
    assert predictor.plugin_manager.has_plugin("host_witness")
    assert json.loads(host.ping_body)["model_version"] == "minimal-7"
    assert host.recorder is None  # not recording
    assert host.stop_reserve() == TEARDOWN_TIMEOUT
    host.stop(time.monotonic() + 5)
    assert not host.ready
    assert witness.read_text().splitlines() == [
        "setup MinimalPredictor",
        "teardown MinimalPredictor",
    ]


def test_a_failed_setup_is_kept_as_the_error_and_nothing_is_torn_down(tmp_path, witness):
    # No model/model.json: MinimalPredictor.setup cannot read its model.
    host = ModelHost(MinimalModel, tmp_path, {"ML2P_PROJECT_PLUGINS": "host_witness"})
    host.start()
    wait_until_started(host)
    assert not host.ready
    assert host.setup_error.startswith("FileNotFoundError: ")
    assert "model.json" in host.setup_error
    assert host.stop_reserve() == 0.0
    host.stop(time.monotonic() + 5)
    assert witness.read_text().splitlines() == ["setup MinimalPredictor"]


def test_recording_without_an_s3_folder_fails_the_setup_naming_the_variable(tmp_path):
    host = ModelHost(MinimalModel, trained(tmp_path), {"ML2P_RECORD_INVOKES": "true"})
    host.start()
    wait_until_started(host)
    assert not host.ready
    assert "ML2P_S3_URL is not set" in host.setup_error


def test_an_environment_already_made_is_the_one_the_predictor_gets(tmp_path):
    env = SageMakerEnv(trained(tmp_path, slope=5), {"ML2P_MODEL_VERSION": "given-1"})
    host = ModelHost(MinimalModel, env.ml_folder, env=env)
    host.start()
    wait_until_started(host)
    assert host.predictor.env is env
    assert json.loads(host.ping_body)["model_version"] == "given-1"
    host.stop(time.monotonic() + 5)


def test_a_given_predictor_is_ready_at_start_and_left_to_its_owner(tmp_path, witness):
    env = SageMakerEnv(tmp_path, {"ML2P_MODEL_VERSION": "mine-2"})
    predictor = MinimalPredictor(env)
    predictor.slope = 4  # set up by its owner
    host = ModelHost(None, tmp_path, predictor=predictor)
    host.start()
    assert host.ready and host.predictor is predictor
    assert json.loads(host.ping_body)["model_version"] == "mine-2"
    host.stop(time.monotonic() + 5)
    assert not witness.exists()  # neither set up nor torn down here


def test_a_host_or_an_app_needs_a_model_or_a_predictor(tmp_path):
    from ml2p.serving.app import PredictionApp
    from ml2p.serving.settings import ServerSettings

    with pytest.raises(TypeError, match="nothing to serve: give a model class or a predictor"):
        ModelHost(None, tmp_path)
    with pytest.raises(TypeError, match="nothing to serve: give a model class or a predictor"):
        PredictionApp(None, tmp_path, ServerSettings())
