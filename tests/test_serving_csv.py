"""CSV request bodies through the real server: what the model receives for each row."""

from __future__ import annotations

import pytest

from ml2p.core import Model, ModelPredictor
from tests.serving_support import Server, post

HEADER = "text/csv; header=present"


class EchoPredictor(ModelPredictor):
    """Answers each datum as it received it, with the Python type of each value."""

    def result(self, data):
        values = data.values() if isinstance(data, dict) else data
        return {"datum": data, "types": [type(v).__name__ for v in values]}


class EchoModel(Model):
    PREDICTOR = EchoPredictor


MODEL = "tests.test_serving_csv.EchoModel"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ml")
    with Server(folder, folder / "server.log", model=MODEL) as srv:
        assert srv.wait_ready().status == 200, srv.log()
        yield srv


@pytest.fixture(scope="module")
def single_record_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ml")
    env = {"SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD"}
    with Server(folder, folder / "server.log", model=MODEL, env=env) as srv:
        assert srv.wait_ready().status == 200, srv.log()
        yield srv


def send(server, text, content_type="text/csv"):
    return post(server.port, text.encode("utf-8"), headers={"Content-Type": content_type})


def data_of(resp):
    assert resp.status == 200, resp
    return [p["result"]["datum"] for p in resp.json()["predictions"]]


# --- bad input first ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ("x,y\n1,2\n3\n", "CSV line 3 has 1 cell; the header has 2 columns (x, y)"),
        ("x,x\n1,2\n", "CSV header: column 'x' appears more than once"),
        ("x,,z\n1,2,3\n", "CSV header: column 2 has no name"),
        ("x,y\n", "request body holds no records"),
    ],
)
def test_bad_csv_with_a_header_is_a_400_naming_the_problem(server, text, message):
    resp = send(server, text, HEADER)
    assert resp.status == 400, resp
    assert resp.json()["message"] == message


def test_an_unknown_header_parameter_is_a_415(server):
    resp = send(server, "x\n1\n", "text/csv; header=maybe")
    assert resp.status == 415, resp
    assert "header=present or header=absent" in resp.json()["message"]


# --- rows without a header: lists ------------------------------------------------------


def test_rows_become_lists_with_numbers_typed(server):
    resp = send(server, '1, 2.5 ,abc,1e3,007,-0,NaN,"3",,true\n\n4,5\n')
    assert data_of(resp) == [
        [1, 2.5, "abc", 1000.0, "007", 0, "NaN", 3, None, "true"],
        [4, 5],
    ]
    types = resp.json()["predictions"][0]["result"]["types"]
    assert types == ["int", "float", "str", "float", "str", "int", "str", "int", "NoneType", "str"]


def test_header_absent_is_the_default(server):
    assert data_of(send(server, "x,y\n1,2\n", "text/csv; header=absent")) == [["x", "y"], [1, 2]]


# --- rows with a header: objects ------------------------------------------------------


def test_header_present_makes_each_row_an_object(server):
    text = '\ufeffx, name ,z\r\n1,ab,\r\n2.5,"c,d",7\r\n'
    assert data_of(send(server, text, 'text/csv; charset=utf-8; Header="Present"')) == [
        {"x": 1, "name": "ab", "z": None},
        {"x": 2.5, "name": "c,d", "z": 7},
    ]


def test_single_record_with_a_header_invokes_one_object(single_record_server):
    resp = send(single_record_server, "x,y\n1,2\n", HEADER)
    assert resp.status == 200, resp
    assert resp.json()["result"]["datum"] == {"x": 1, "y": 2}
    resp = send(single_record_server, "x,y\n1,2\n3,4\n", HEADER)
    assert resp.status == 400 and "holds 2 records" in resp.json()["message"]
