"""The server's ``capture`` records made from the bodies alone: which predictors, and the same item.

The decision (:func:`ml2p.serving.model_host.bodies_folder`) is taken once per
predictor; the records a real server writes either way are compared in
``tests/test_record_paths.py``. Here: every kind of predictor against the
rule, and :meth:`~ml2p.serving.recorder.BackgroundRecorder.admit_bodies`
queuing what holding, recording and admitting a ``Record`` of the same
bodies queues.
"""

from __future__ import annotations

import json
import time

import pytest

from ml2p import plugins
from ml2p.core import ModelPredictor, SageMakerEnv
from ml2p.record_format import posix_time
from ml2p.recording import Destination, Record
from ml2p.serving.model_host import bodies_folder
from ml2p.serving.recorder import BackgroundRecorder
from tests import recording_models
from tests.serving_models import ScalePredictor

MODEL_VERSION = "test-model-1-0-0"
FOLDER = f"proj/predictions/capture/{MODEL_VERSION}/{MODEL_VERSION}-variant-1/"


class OwnPredictionPredictor(ScalePredictor):
    """Overrides only what ``invoke`` calls: its records still hold nothing but the bodies."""

    def metadata(self):
        return {**super().metadata(), "own": True}


class NotAModelPredictor:
    """What a model's ``predictor()`` may return instead: anything with ``invoke``."""

    def __init__(self, env):
        self.env = env
        self.recorder = None

    def invoke(self, data):
        return {"result": data}


def environ(**extra):
    env = {
        "ML2P_RECORD_INVOKES": "true",
        "ML2P_S3_URL": "s3://ml2p-test/proj/",
        "ML2P_MODEL_VERSION": MODEL_VERSION,
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


@pytest.fixture
def recorders():
    made = []

    def make(layout="capture"):
        recorder = BackgroundRecorder("ml2p-test", layout=layout, batch_seconds=60)
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.close(0)


CASES = {
    # name: (predictor class, id plugin registered, environ changes, recorder layout, taken)
    "plain": (ScalePredictor, False, {}, "capture", True),
    "own metadata": (OwnPredictionPredictor, False, {}, "capture", True),
    "own invoke": (recording_models.OwnInvokePredictor, False, {}, "capture", False),
    "own batch_invoke": (recording_models.OwnBatchInvokePredictor, False, {}, "capture", False),
    "own record_invoke": (recording_models.OwnRecordInvokePredictor, False, {}, "capture", False),
    "own record_invoke_id": (recording_models.OwnIdPredictor, False, {}, "capture", False),
    "id plugin": (ScalePredictor, True, {}, "capture", False),
    "object layout": (ScalePredictor, False, {}, "object", False),
    "recording off": (ScalePredictor, False, {"ML2P_RECORD_INVOKES": "false"}, "capture", False),
    "no S3 folder": (ScalePredictor, False, {"ML2P_S3_URL": None}, "capture", False),
    "not a ModelPredictor": (NotAModelPredictor, False, {}, "capture", False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_only_a_predictor_recording_as_model_predictor_does_takes_the_bodies_path(
    tmp_path, recorders, case
):
    cls, plugin, changes, layout, taken = CASES[case]
    env = SageMakerEnv(tmp_path, environ(**changes))
    if issubclass(cls, ModelPredictor):
        pm = plugins.make_plugin_manager(load_entry_points=False)
        if plugin:
            pm.register(recording_models, name="region")
        predictor = cls(env, plugin_manager=pm)
    else:
        predictor = cls(env)
    recorder = recorders(layout)
    predictor.recorder = recorder
    assert bodies_folder(predictor, recorder) == (FOLDER if taken else None)
    # A recorder the predictor does not record with, or none: never.
    assert bodies_folder(predictor, None) is None
    assert bodies_folder(predictor, recorders()) is None


REQUEST = (b'{"instances": [{"x": 1}, {"x": 2}, {"x": 3}]}', b"application/json")
RESPONSE = (b'{"predictions": [{"y": 2}, {"y": 4}, {"y": 6}]}', b"application/json; charset=utf-8")


@pytest.mark.parametrize("count", [1, 3])
def test_admitting_bodies_queues_what_admitting_their_record_queues(recorders, count):
    destination = Destination("ml2p-test", "proj/", MODEL_VERSION)
    assert destination.capture_folder == FOLDER
    through_record, from_bodies = recorders(), recorders()

    held = through_record.hold()
    data = [{"x": x} for x in range(1, count + 1)]
    through_record.record(Record(destination, data, data, batch=count > 1, whole=True))
    through_record.unhold()
    held.attach(REQUEST, RESPONSE)
    through_record.admit(held)
    before = time.time()
    made = from_bodies.admit_bodies(FOLDER, count, *REQUEST, *RESPONSE)
    after = time.time()

    assert (made.count, made.size, made.reserved) == (held.count, held.size, held.reserved)
    assert made.reserved and made.count == count
    through_record.commit(held)
    from_bodies.commit(made)
    [expected] = through_record._backlog.drain()
    [item] = from_bodies._backlog.drain()
    # The same item but for the time, which is when it was made, and the line's
    # event id (a new one each), which the line keeps.
    assert (item[0], item[2]) == (expected[0], expected[2])
    assert before <= item[1] <= after
    line, expected_line = json.loads(item[3]), json.loads(expected[3])
    assert line["eventMetadata"]["inferenceTime"] == posix_time(item[1])
    assert line["eventMetadata"]["eventId"] != expected_line["eventMetadata"]["eventId"]
    del line["eventMetadata"], expected_line["eventMetadata"]
    assert line == expected_line


def test_bodies_admitted_then_discarded_are_not_kept_and_free_their_room(recorders):
    recorder = recorders()
    made = recorder.admit_bodies(FOLDER, 2, *REQUEST, *RESPONSE)
    assert recorder._backlog._reserved == 2
    recorder.discard(made, "the caller was gone before the answer")
    assert recorder._backlog._reserved == 0 and recorder.discarded == 2
    assert len(recorder._backlog) == 0
    recorder.not_kept(3, "the prediction was answered 500")
    assert recorder.discarded == 5
