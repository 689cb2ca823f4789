"""The minimal model takes CSV rows, through the real server (``ml2p-docker serve``) on 127.0.0.1.

A CSV body reaches the predictor as lists (no header row) or as objects
(``Content-Type: text/csv; header=present``): both must work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from ml2p_example_minimal import model as minimal

from ml2p import lifecycle
from ml2p.core import SageMakerEnv
from ml2p.errors import ClientError
from ml2p.plugins import make_plugin_manager
from ml2p.testing import ServedPredictor

HEADER = "text/csv; header=present"


def post(server: ServedPredictor, body: str, content_type: str) -> Any:
    response = server.post("/invocations", data=body, content_type=content_type)
    return response.status_code, response.get_json(force=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Any:
    folder = tmp_path_factory.mktemp("ml")
    env = SageMakerEnv(folder, environ={})
    pm = make_plugin_manager(load_entry_points=False)
    lifecycle.generate(minimal.MinimalDatasetGenerator(env, plugin_manager=pm))
    lifecycle.train(minimal.MinimalTrainer(env, plugin_manager=pm))
    return folder


@pytest.fixture(scope="module")
def server(trained) -> Iterator[ServedPredictor]:
    """The installed model served by ``ml2p-docker serve`` on 127.0.0.1."""
    environ = {
        "ML2P_MODEL_VERSION": "minimal-0-1-0",
        # Only the model: an installed ml2p-validate would check inputs first.
        "ML2P_LOAD_PLUGINS": "minimal",
    }
    with ServedPredictor("minimal", trained, environ, log_path=trained / "server.log") as served:
        yield served


@pytest.fixture
def predictor(trained) -> minimal.MinimalPredictor:
    pm = make_plugin_manager(load_entry_points=False)
    p = minimal.MinimalPredictor(SageMakerEnv(trained, environ={}), plugin_manager=pm)
    lifecycle.setup(p)
    return p


@pytest.mark.parametrize(
    "row, message",
    [
        ([], "$: expected a row of 1 value (x), got 0"),
        ([1, 2], "$: expected a row of 1 value (x), got 2"),
        (["abc"], "$[0] (x): expected a finite number, got 'abc'"),
        ([None], "$[0] (x): expected a finite number, got None"),
    ],
)
def test_a_bad_row_is_a_400_naming_the_cell(predictor, row, message):
    with pytest.raises(ClientError) as info:
        predictor.result(row)
    assert info.value.status_code == 400 and info.value.message == message


def test_csv_rows_with_and_without_a_header_predict_as_json_does(server, predictor):
    expected = [predictor.result({"x": x}) for x in (1, 2.5, -3)]
    for body, kind in [("x\n1\n2.5\n-3\n", HEADER), ("1\n2.5\n-3\n", "text/csv")]:
        status, answer = post(server, body, kind)
        assert status == 200, answer
        assert [p["result"] for p in answer["predictions"]] == expected


def test_the_generated_data_file_can_be_sent_as_it_is(server, trained, predictor):
    """data.csv has a header (x,y): y is a column the model does not use."""
    text = (trained / "input" / "data" / "training" / minimal.DATA_FILE).read_text()
    status, answer = post(server, text, HEADER)
    assert status == 200, answer
    xs = [float(line.split(",")[0]) for line in text.splitlines()[1:]]
    assert [p["result"] for p in answer["predictions"]] == [predictor.result({"x": x}) for x in xs]


def test_a_header_sent_as_a_row_is_a_400_naming_it(server):
    status, answer = post(server, "x\n1\n", "text/csv")
    assert status == 400
    assert answer["message"] == "$.instances[0][0] (x): expected a finite number, got 'x'"


def test_the_input_schema_takes_both_row_shapes(trained):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((trained / "model" / minimal.SCHEMA_FILE).read_text())
    for good in ({"x": 1.5}, {"x": 2, "y": 5}, [1.5]):
        jsonschema.validate(good, schema)
    for bad in ({}, {"x": "1"}, [], [1, 2], ["a"], "x"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
