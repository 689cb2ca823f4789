"""``ml2p local transform``: SageMaker batch transform against the real production server.

The server is ``ml2p-docker serve`` in a subprocess on 127.0.0.1 (started and
stopped by the command); the model is ``tests.serving_models.ScaleModel``, whose
answers are compared line by line with what its predictor returns in this
process for each datum.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ml2p import local_transform as engine
from ml2p.cli import cli
from ml2p.core import SageMakerEnv
from ml2p.errors import ML2PError
from ml2p.transforms import TransformSettings
from tests.cli_support import cli_runner
from tests.serving_models import ScalePredictor

ROOT = str(Path(__file__).resolve().parent.parent)


# --- splitting into mini-batches ------------------------------------------------------


def batches(text: bytes, max_bytes: int, strategy: str = "MultiRecord", split: str = "Line"):
    return list(engine.mini_batches(io.BytesIO(text), max_bytes, strategy, split))


def test_multi_record_fills_each_mini_batch_up_to_the_limit():
    text = b'{"x": 1}\n\n{"x": 22}\r\n{"x": 3}\n{"x": 4}'
    found = batches(text, 20)
    assert [(b.first_line, b.last_line, b.records, b.body) for b in found] == [
        (1, 3, 2, b'{"x": 1}\n{"x": 22}\n'),
        (4, 5, 2, b'{"x": 3}\n{"x": 4}\n'),
    ]
    # Every byte of the file is accounted for, blank lines included.
    assert sum(b.consumed for b in found) == len(text)


def test_single_record_sends_one_record_each():
    found = batches(b"1,2\n3,4\n\n5,6\n", 1000, "SingleRecord")
    assert [(b.where(), b.body) for b in found] == [
        ("line 1", b"1,2\n"),
        ("line 2", b"3,4\n"),
        ("line 4", b"5,6\n"),
    ]


def test_a_record_larger_than_the_payload_fails_the_file():
    with pytest.raises(engine.RecordTooLarge, match="line 2 is 31 bytes"):
        batches(b"short\n" + b"x" * 30 + b"\n", 20)


def test_without_splitting_the_file_is_one_request():
    (whole,) = batches(b"a\nb\nc", 100, split="None")
    assert (whole.body, whole.records, whole.where()) == (b"a\nb\nc", 3, "lines 1-3")
    with pytest.raises(engine.RecordTooLarge, match="the file is 5 bytes"):
        batches(b"a\nb\nc", 4, split="None")
    assert batches(b"", 4, split="None") == []


def test_the_plan_takes_the_settings_then_the_container_then_the_defaults():
    from_container = engine.make_plan(
        TransformSettings(),
        {"MaxConcurrentTransforms": 3, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 2},
    )
    assert from_container.summary() == {
        "MaxConcurrentTransforms": 3,
        "MaxPayloadInMB": 2.0,
        "BatchStrategy": "SingleRecord",
        "SplitType": "Line",
        "AssembleWith": "Line",
    }
    configured = engine.make_plan(
        TransformSettings(
            max_concurrent_transforms=5, max_payload_mb=1, batch_strategy="MultiRecord"
        ),
        {"MaxConcurrentTransforms": 3, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 2},
    )
    assert (configured.max_concurrent, configured.max_payload_bytes, configured.strategy) == (
        5,
        1024 * 1024,
        "MultiRecord",
    )
    default = engine.make_plan(TransformSettings(), {})
    assert (default.max_concurrent, default.max_payload_mb, default.strategy) == (
        1,
        6.0,
        "MultiRecord",
    )
    assert engine.content_type_for(Path("x.CSV"), default) == "text/csv"
    assert engine.content_type_for(Path("x.json"), default) == "application/jsonlines"


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (TransformSettings(split_type="RecordIO"), "split_type 'RecordIO' is not supported"),
        (TransformSettings(max_payload_mb=0), "max_payload_mb 0 (streaming)"),
    ],
)
def test_the_plan_refuses_what_cannot_run_locally(settings, words):
    with pytest.raises(ML2PError) as info:
        engine.make_plan(settings, {})
    assert words in str(info.value)


# --- against the production server -------------------------------------------------------

JSONL_DATA = [{"x": 1}, {"x": 2.5}, {"x": -3}, {"x": 10**6}, {"x": 0}]
CSV_ROWS = [[1, 2, 3], [4.5, 5], [0], [-1, -2]]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project serving ScaleModel, a trained-model folder and an input folder."""
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    local = tmp_path / "local"
    (local / "model").mkdir(parents=True)
    (local / "model" / "weights.json").write_text("{}")
    data = tmp_path / "in"
    (data / "sub").mkdir(parents=True)
    (data / "a.jsonl").write_text("".join(json.dumps(d) + "\n" for d in JSONL_DATA))
    (data / "sub" / "b.csv").write_text("".join(",".join(map(str, r)) + "\n" for r in CSV_ROWS))
    (data / "c.jsonl").write_text('{"x": 1}\n{"x": 2}\n{not json\n{"x": 4}\n')

    cfg = tmp_path / "ml2p.yml"
    base = (
        "project: foo\ns3folder: s3://ml2p-test/proj/\n"
        "models:\n  scale: tests.serving_models.ScaleModel\n"
    )
    cfg.write_text(base)

    def run(transform: str = "", *args: str) -> Any:
        cfg.write_text(base + transform)
        argv = ["--cfg", str(cfg), "local", "transform", "scale", str(data), str(tmp_path / "out")]
        return cli_runner().invoke(cli, [*argv, "--local-folder", str(local), *args])

    return {
        "run": run,
        "args": ["--cfg", str(cfg)],
        "out": tmp_path / "out",
        "data": data,
        "local": local,
    }


def predictor() -> ScalePredictor:
    predictor = ScalePredictor(SageMakerEnv("/nonexistent", environ={}))
    predictor.setup()
    return predictor


def summary_and_error(result) -> Any:
    """The JSON summary printed before the one-line error."""
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: "), result.output
    return json.loads("\n".join(lines[:-1])), lines[-1]


def parse_concatenated(text: str) -> list[Any]:
    decoder, docs, pos = json.JSONDecoder(), [], 0
    while pos < len(text):
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)
    return docs


def test_multi_record_transform_of_json_lines_and_csv(project):
    stale = project["out"] / "c.jsonl.out"
    stale.parent.mkdir(parents=True)
    stale.write_text("a previous run's output\n")
    result = project["run"]("", "--workers", "1")
    assert result.exit_code == 1
    summary, error = summary_and_error(result)
    # The server's /execution-parameters decided the plan (nothing is configured).
    assert summary["execution_parameters"] == {
        "MaxConcurrentTransforms": 1,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6.0,
    }
    assert summary["settings"]["BatchStrategy"] == "MultiRecord"
    files = {f["input"]: f for f in summary["files"]}
    assert (files["a.jsonl"]["records"], files["a.jsonl"]["mini_batches"]) == (5, 1)
    assert files["sub/b.csv"]["content_type"] == "text/csv"

    model = predictor()
    lines = (project["out"] / "a.jsonl.out").read_text().splitlines()
    assert len(lines) == len(JSONL_DATA)
    for datum, line in zip(JSONL_DATA, lines):
        answer = json.loads(line)
        assert answer["result"] == model.result(datum)
        assert answer["metadata"]["model_version"] == "foo-local"
    rows = list(csv.reader(io.StringIO((project["out"] / "sub" / "b.csv.out").read_text())))
    assert len(rows) == len(CSV_ROWS)
    for row, out in zip(CSV_ROWS, rows):
        expected = model.result(row)
        assert [float(v) for v in out] == [expected["sum"], expected["count"]]

    # The malformed line fails its whole mini-batch, so its file gets no output at all.
    assert not (project["out"] / "c.jsonl.out").exists()
    assert not list(project["out"].rglob("*.partial"))
    assert files["c.jsonl"]["output"] is None
    assert error.startswith("Error: 1 of 3 files failed")
    assert "c.jsonl: lines 1-4: the model server answered 400: malformed JSON in line 3" in error


def test_single_record_transform_with_assembly_none(project):
    result = project["run"](
        "transform:\n"
        "  batch_strategy: SingleRecord\n"
        "  max_concurrent_transforms: 2\n"
        "  accept: application/json\n"
        "  assemble_with: None\n",
        "--workers",
        "1",
    )
    assert result.exit_code == 1
    summary, error = summary_and_error(result)
    # The job's settings reach the container, which reports them back.
    assert summary["execution_parameters"]["BatchStrategy"] == "SINGLE_RECORD"
    files = {f["input"]: f for f in summary["files"]}
    assert (files["a.jsonl"]["records"], files["a.jsonl"]["mini_batches"]) == (5, 5)
    # One JSON answer per record, concatenated without separators (AssembleWith None).
    text = (project["out"] / "a.jsonl.out").read_text()
    assert "\n" not in text
    model = predictor()
    answers = parse_concatenated(text)
    assert [a["result"] for a in answers] == [model.result(d) for d in JSONL_DATA]
    csv_answers = parse_concatenated((project["out"] / "sub" / "b.csv.out").read_text())
    assert [a["result"] for a in csv_answers] == [model.result(r) for r in CSV_ROWS]
    # With one record per request, the error names the bad line itself.
    assert "c.jsonl: line 3: the model server answered 400: malformed JSON" in error
    assert not (project["out"] / "c.jsonl.out").exists()


def test_model_setup_failure_is_reported_and_nothing_written(project, monkeypatch):
    monkeypatch.setenv("SERVING_SETUP_FAIL", "the weights are corrupt")
    result = project["run"]("", "--workers", "1")
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert "model setup failed: RuntimeError: the weights are corrupt" in line
    assert str(project["local"] / "output" / "transform-server.log") in line
    assert not project["out"].exists()


def test_unsupported_split_fails_before_the_server_starts(project):
    result = project["run"]("transform:\n  split_type: TFRecord\n")
    assert result.exit_code == 1
    assert "split_type 'TFRecord' is not supported by ml2p local transform" in result.output
    assert not (project["local"] / "output" / "transform-server.log").exists()


def test_output_inside_the_input_is_refused(project):
    result = cli_runner().invoke(
        cli,
        [
            *project["args"],
            "local",
            "transform",
            "scale",
            str(project["data"]),
            str(project["data"] / "sub" / "out"),
            "--local-folder",
            str(project["local"]),
        ],
    )
    assert result.exit_code == 1 and "is inside the input folder" in result.output
    assert not (project["data"] / "sub" / "out").exists()
    assert not (project["local"] / "output" / "transform-server.log").exists()


def test_no_trained_model(project, tmp_path):
    result = project["run"]("", "--local-folder", str(tmp_path / "empty"))
    assert result.exit_code == 1 and "no trained model" in result.output
