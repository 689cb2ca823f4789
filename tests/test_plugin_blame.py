"""Which plugin an exception is blamed on: only one whose own code raised it.

A wrapper whose ``yield`` re-raises the model's exception did not raise it; a
wrapper that raises its own exception, or a plain implementation that raises,
did. Checked through the real server (the 500 body and the log) and
``ml2p-docker train`` (``output/failure``).
"""

from __future__ import annotations

import pytest

from ml2p.core import SageMakerEnv
from ml2p.docker import main
from ml2p.plugins import make_plugin_manager
from tests.serving_models import FailingModel, ScalePredictor
from tests.serving_support import Server, post

WRAPPER = "tests.wrapping_plugins"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ml")
    with Server(folder, folder / "server.log", env={"ML2P_PROJECT_PLUGINS": WRAPPER}) as srv:
        assert srv.wait_ready().status == 200, srv.log()
        yield srv


def test_model_exception_through_a_wrapper_names_no_plugin_in_the_500(server):
    resp = post(server.port, {"fail": "crash"})
    assert resp.status == 500
    assert resp.json() == {"message": "internal error", "error": "ZeroDivisionError"}
    failed = [line for line in server.log().splitlines() if "ZeroDivisionError" in line]
    assert failed, server.log()
    assert "raised by plugin" not in server.log()


def test_wrapper_raising_its_own_exception_is_named(server):
    resp = post(server.port, {"fail": "wrapper"})
    assert resp.status == 500
    assert resp.json() == {"message": "internal error", "error": "RuntimeError", "plugin": WRAPPER}
    resp = post(server.port, {"fail": "crash", "convert": True})
    assert resp.status == 500
    assert resp.json() == {"message": "internal error", "error": "LookupError", "plugin": WRAPPER}
    log = server.log()
    assert f"RuntimeError: the wrapper refused (raised by plugin '{WRAPPER}')" in log
    assert f"LookupError: converted by the wrapper (raised by plugin '{WRAPPER}')" in log


@pytest.mark.usefixtures("restore_ml2p_logger")
def test_training_failure_through_a_wrapper_names_no_plugin(tmp_path, monkeypatch):
    monkeypatch.setenv("ML2P_PROJECT_PLUGINS", WRAPPER)
    monkeypatch.setenv("ML2P_TRAINING_JOB", "job-1")
    code = main(
        ["--ml-folder", str(tmp_path), "--model", "tests.serving_models.FailingModel", "train"]
    )
    assert code == 1
    first = (tmp_path / "output" / "failure").read_text().splitlines()[0]
    assert first == "ValueError: bad training data: none"


def _raised(predictor, data):
    with pytest.raises(Exception) as info:
        predictor.invoke(data)
    return info.value


def test_plugin_for_exception_follows_the_raiser(tmp_path):
    pm = make_plugin_manager([WRAPPER, "tests.serving_plugins"], load_entry_points=False)
    predictor = ScalePredictor(SageMakerEnv(tmp_path, {}), plugin_manager=pm)
    predictor.factor = 2
    assert pm.plugin_for_exception(_raised(predictor, {"fail": "crash"})) is None
    assert pm.plugin_for_exception(_raised(predictor, {"fail": "wrapper"})) == WRAPPER
    converted = _raised(predictor, {"fail": "crash", "convert": True})
    assert pm.plugin_for_exception(converted) == WRAPPER
    # A plain implementation that raises is named (tests.serving_plugins' ml2p_train).
    trainer = FailingModel.TRAINER(SageMakerEnv(tmp_path, {}), plugin_manager=pm)
    with pytest.raises(ValueError, match="plugin refused to train") as info:
        pm.hook.ml2p_train(trainer=trainer)
    assert pm.plugin_for_exception(info.value) == "tests.serving_plugins"


def test_model_code_called_by_a_plugin_is_not_the_plugins_fault(tmp_path):
    from ml2p import hookimpl

    class Caller:
        """A plugin that calls the model's result itself (e.g. to cache it)."""

        @hookimpl(tryfirst=True)
        def ml2p_result(self, predictor, data):
            return predictor.result(data)

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Caller(), name="caller")
    predictor = ScalePredictor(SageMakerEnv(tmp_path, {}), plugin_manager=pm)
    predictor.factor = 2
    assert pm.plugin_for_exception(_raised(predictor, {"fail": "crash"})) is None
