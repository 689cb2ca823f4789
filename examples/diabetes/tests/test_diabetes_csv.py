"""The diabetes model takes CSV rows, through the real server (``ml2p-docker serve``) on 127.0.0.1.

A CSV body reaches the predictor as lists (no header row: the ten features
in model order) or as objects (``Content-Type: text/csv; header=present``,
e.g. ``test.csv`` as it is): both must work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from ml2p_example_diabetes import dataset
from ml2p_example_diabetes.model import (
    DiabetesDatasetGenerator,
    DiabetesPredictor,
    DiabetesTrainer,
)

from ml2p import lifecycle
from ml2p.core import SageMakerEnv
from ml2p.errors import ClientError
from ml2p.plugins import make_plugin_manager
from ml2p.testing import ServedPredictor

HEADER = "text/csv; header=present"
NAMES = ", ".join(dataset.FEATURES)


def post(server: ServedPredictor, body: str, content_type: str) -> Any:
    response = server.post("/invocations", data=body, content_type=content_type)
    return response.status_code, response.get_json(force=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Any:
    folder = tmp_path_factory.mktemp("ml")
    env = SageMakerEnv(folder, environ={})
    pm = make_plugin_manager(load_entry_points=False)
    lifecycle.generate(DiabetesDatasetGenerator(env, plugin_manager=pm))
    lifecycle.train(DiabetesTrainer(env, plugin_manager=pm))
    return folder


@pytest.fixture(scope="module")
def server(trained) -> Iterator[ServedPredictor]:
    """The installed model served by ``ml2p-docker serve`` on 127.0.0.1."""
    environ = {
        "ML2P_MODEL_VERSION": "diabetes-0-1-0",
        # Only the model: an installed ml2p-validate would check inputs first.
        "ML2P_LOAD_PLUGINS": "diabetes",
    }
    with ServedPredictor("diabetes", trained, environ, log_path=trained / "server.log") as served:
        yield served


@pytest.fixture(scope="module")
def predictor(trained) -> DiabetesPredictor:
    pm = make_plugin_manager(load_entry_points=False)
    p = DiabetesPredictor(SageMakerEnv(trained, environ={}), plugin_manager=pm)
    lifecycle.setup(p)
    return p


@pytest.fixture(scope="module")
def test_csv(trained) -> str:
    return (trained / "input" / "data" / "training" / dataset.TEST_FILE).read_text()


@pytest.mark.parametrize(
    "row, message",
    [
        ([], f"$: expected a row of 10 values ({NAMES}), got 0"),
        ([0.0] * 11, f"$: expected a row of 10 values ({NAMES}), got 11"),
        ([0.0, 0.0, "x", *[0.0] * 7], "$[2] (bmi): expected a number, got 'x'"),
        ([*[0.0] * 8, None, 0.0], "$[8] (s5): expected a number, got None"),
    ],
)
def test_a_bad_row_is_a_400_naming_the_cell(predictor, row, message):
    with pytest.raises(ClientError) as info:
        predictor.result(row)
    assert info.value.status_code == 400 and info.value.message == message


def test_the_test_file_can_be_sent_as_it_is(server, predictor, test_csv):
    """test.csv has a header and a target column the model does not use."""
    expected = [
        predictor.result(dict(zip(dataset.FEATURES, map(float, line.split(",")[:10]))))
        for line in test_csv.splitlines()[1:]
    ]
    assert len(expected) == 89
    status, answer = post(server, test_csv, HEADER)
    assert status == 200, answer
    got = [p["result"]["prediction"] for p in answer["predictions"]]
    assert got == pytest.approx([e["prediction"] for e in expected], rel=1e-12)


def test_rows_of_features_without_a_header(server, predictor, test_csv):
    lines = [",".join(line.split(",")[:10]) for line in test_csv.splitlines()[1:6]]
    status, answer = post(server, "\n".join(lines) + "\n", "text/csv")
    assert status == 200, answer
    expected = [
        predictor.result(dict(zip(dataset.FEATURES, map(float, line.split(","))))) for line in lines
    ]
    got = [p["result"]["prediction"] for p in answer["predictions"]]
    assert got == pytest.approx([e["prediction"] for e in expected], rel=1e-12)


def test_a_file_with_a_header_sent_without_saying_so_is_a_400(server, test_csv):
    status, answer = post(server, test_csv, "text/csv")
    assert status == 400
    assert answer["message"] == f"$.instances[0]: expected a row of 10 values ({NAMES}), got 11"


def test_the_input_schema_takes_both_row_shapes(trained):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((trained / "model" / "input-schema.json").read_text())
    datum = {name: 0.01 for name in dataset.FEATURES}
    for good in (datum, {**datum, "customer_id": "c-1"}, [0.01] * 10):
        jsonschema.validate(good, schema)
    for bad in ({**datum, "bmi": "x"}, [0.01] * 9, [0.01] * 11, ["x", *[0.01] * 9]):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
