"""``ml2p predictions``: ls, cat, export and replay, against moto in server mode."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import time
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from ml2p.cli import cli
from ml2p.records import export as export_module
from ml2p.records.times import posix_time
from tests.cli_support import cli_runner
from tests.records_support import Request, predictor, put_capture
from tests.replay_models import CHANGED_LABEL, CHANGED_Y, VersionA
from tests.serving_support import ROOT, Server, free_port, post

VERSION = "minimal-1-0-0"  # test-proj-minimal-1-0-0, records_support.MODEL_VERSION


@pytest.fixture
def yml(tmp_path):
    path = tmp_path / "ml2p.yml"
    path.write_text(
        "project: test-proj\n"
        's3folder: "s3://ml2p-test/proj/"\n'
        "models:\n"
        "  minimal: tests.models.MinimalModel\n"
        "  a: tests.replay_models.ModelA\n"
        "  b: tests.replay_models.ModelB\n"
    )
    return str(path)


def run(yml, *args):
    return cli_runner().invoke(cli, ["--cfg", yml, "predictions", *args])


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def lines(text):
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def recorded(s3, tmp_path):
    """Five records of test-proj-minimal-1-0-0 written by the predictor, x = 0..4."""
    p = predictor(tmp_path)
    for i in range(5):
        p.invoke({"x": i})
        time.sleep(0.002)  # distinct times
    return p


# -- bad input -----------------------------------------------------------------------


def test_an_invalid_model_name_states_the_rule_and_full_name(yml, s3):
    result = run(yml, "ls", "minimal")
    assert result.exit_code == 1
    assert "invalid model name 'minimal'" in result.output and "--full-name" in result.output


def test_no_records_names_both_folders(yml, s3):
    result = run(yml, "cat", "minimal-9-9-9")
    assert result.exit_code == 1
    assert (
        "no records of model version 'test-proj-minimal-9-9-9': nothing under "
        "s3://ml2p-test/proj/predictions/test-proj-minimal-9-9-9/ nor "
        "s3://ml2p-test/proj/predictions/capture/test-proj-minimal-9-9-9/"
    ) in result.output


@pytest.mark.parametrize(
    "args",
    [[], ["--to", "http://127.0.0.1:1", "--endpoint", "e-1-0-0-live"]],
)
def test_replay_needs_exactly_one_target(yml, s3, args):
    result = run(yml, "replay", VERSION, *args)
    assert result.exit_code == 2
    assert "give one target: --to URL, --local MODEL or --endpoint ENDPOINT" in result.output


def test_a_bad_time_is_a_usage_error(yml, s3):
    result = run(yml, "ls", VERSION, "--since", "last week")
    assert result.exit_code == 2
    assert "'last week' is not a time" in result.output


def test_an_out_file_that_is_not_a_replay_is_refused_before_sending(yml, recorded, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("hello\n")
    result = run(
        yml, "replay", VERSION, "--to", f"http://127.0.0.1:{free_port()}", "--out", str(out)
    )
    assert result.exit_code == 1 and "out.jsonl line 1 is not a line of a replay" in result.output


# -- ls, cat, export -------------------------------------------------------------------


def test_ls_lists_ids_times_and_keys_oldest_first(yml, recorded):
    listed = lines(ok(run(yml, "ls", VERSION)))
    assert len(listed) == 5 and [sorted(item) for item in listed] == [["id", "key", "time"]] * 5
    assert [item["time"] for item in listed] == sorted(item["time"] for item in listed)
    assert all(item["key"] == f"proj/predictions/test-proj-minimal-1-0-0/{item['id']}.json"
               for item in listed)  # fmt: skip
    assert lines(ok(run(yml, "ls", VERSION, "--limit", "2"))) == listed[:2]
    since = listed[2]["time"]
    assert lines(ok(run(yml, "ls", VERSION, "--since", since))) == listed[2:]
    assert lines(ok(run(yml, "ls", VERSION, "--until", since, "--layout", "object"))) == listed[:2]
    assert ok(run(yml, "ls", VERSION, "--layout", "capture")) == ""


def test_cat_prints_inputs_and_whole_predictions(yml, recorded):
    printed = lines(ok(run(yml, "cat", VERSION)))
    assert [item["input"] for item in printed] == [{"x": i} for i in range(5)]
    assert [item["prediction"]["result"] for item in printed] == [{"y": 2 * i} for i in range(5)]
    assert printed[0]["prediction"]["metadata"]["model_version"] == "test-proj-minimal-1-0-0"
    assert [sorted(item) for item in printed] == [["id", "input", "prediction"]] * 5


def test_full_name_reads_what_local_serve_recorded(yml, s3, tmp_path):
    p = predictor(tmp_path, version="test-proj-local")
    p.invoke({"x": 1})
    printed = lines(ok(run(yml, "cat", "--full-name", "test-proj-local")))
    assert [item["input"] for item in printed] == [{"x": 1}]


def test_export_jsonl_and_csv_files(yml, recorded, tmp_path):
    target = tmp_path / "records.jsonl"
    result = run(yml, "export", VERSION, "--out", str(target))
    ok(result)
    assert "exported 5 records to" in result.stderr
    exported = lines(target.read_text())
    assert [sorted(item) for item in exported] == [["id", "input", "prediction", "time"]] * 5
    table = tmp_path / "records.csv"
    ok(run(yml, "export", VERSION, "--format", "csv", "--out", str(table)))
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert list(rows[0]) == [
        "id",
        "time",
        "input.x",
        "prediction.metadata.model_version",
        "prediction.metadata.ml2p_version",
        "prediction.metadata.timestamp",
        "prediction.result.y",
        "_other",
    ]
    assert [(r["input.x"], r["prediction.result.y"], r["_other"]) for r in rows] == [
        (str(i), str(2 * i), "") for i in range(5)
    ]
    assert [r["id"] for r in rows] == [item["id"] for item in exported]


def test_csv_fields_first_seen_late_go_to_the_last_column(yml, recorded, monkeypatch):
    monkeypatch.setattr(export_module, "HEADER_SAMPLE", 2)
    recorded.invoke({"x": 9, "extra": [1, {"z": None}]})
    rows = list(csv.reader(io.StringIO(ok(run(yml, "export", VERSION, "--format", "csv")))))
    assert rows[0][-1] == "_other" and len({len(r) for r in rows}) == 1
    assert json.loads(rows[-1][-1]) == {"input.extra[0]": 1, "input.extra[1].z": None}


def test_export_advances_a_progress_bar_per_record(yml, recorded, monkeypatch):
    from ml2p.cli import predictions as module

    calls = []
    real = module.progress

    def spying(total, label, quiet=False):
        calls.append((total, label, quiet))
        bar = real(total, label, quiet)

        class Counting:
            def __enter__(self):
                advance = bar.__enter__()
                return lambda n: calls.append(n) or advance(n)

            def __exit__(self, *exc):
                return bar.__exit__(*exc)

        return Counting()

    monkeypatch.setattr(module, "progress", spying)
    ok(run(yml, "export", VERSION, "--out", os.devnull))
    assert calls == [(None, "exporting records", False), 1, 1, 1, 1, 1]


def test_cat_reads_capture_files(yml, s3, tmp_path):
    p = predictor(tmp_path, record=False)
    now = time.time()
    put_capture(
        s3, [(now, "e1", Request(p, b'{"instances": [{"x": 1}, {"x": 2}]}', "application/json"))]
    )
    printed = lines(ok(run(yml, "cat", VERSION)))
    assert [(item["id"].split("--uuid-")[1], item["input"]) for item in printed] == [
        ("e1--i-0", {"x": 1}),
        ("e1--i-1", {"x": 2}),
    ]


# -- replay, end to end -------------------------------------------------------------------------


def _version_a_traffic(tmp_path, moto, xs):
    """Serve version A with ML2P_RECORD_INVOKES=true and send it ``{"x": x}`` one by one."""
    env = {
        "ML2P_RECORD_INVOKES": "true",
        "ML2P_S3_URL": "s3://ml2p-test/proj/",
        "ML2P_MODEL_VERSION": "test-proj-a-1-0-0",
        "AWS_ENDPOINT_URL": moto,
    }
    (tmp_path / "a").mkdir()
    with Server(
        tmp_path / "a", tmp_path / "a.log", model="tests.replay_models.ModelA", env=env
    ) as server:
        server.wait_ready()
        for x in xs:
            assert post(server.port, {"x": x}).status == 200
        code, _ = server.terminate()  # flushes the recorder
    assert code == 0, server.log()


@pytest.mark.slow
def test_replay_names_exactly_the_changed_records_and_fields(yml, s3, aws, tmp_path, monkeypatch):
    xs = list(range(10))
    _version_a_traffic(tmp_path, aws, xs)
    ids = {item["input"]["x"]: item["id"] for item in lines(ok(run(yml, "cat", "a-1-0-0")))}
    assert sorted(ids) == xs

    folder = tmp_path / "local-b"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.json").write_text("{}")
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", "1")
    out, page = tmp_path / "replay.jsonl", tmp_path / "replay.html"
    args = ["replay", "a-1-0-0", "--local", "b", "--local-folder", str(folder)]
    table = ok(run(yml, *args, "--out", str(out), "--html", str(page), "--top", "5"))

    # The table: the summary, the two changed fields, and exactly their records.
    assert table.startswith("replayed 10 records against b served locally (http://127.0.0.1:")
    assert ": 3 changed (30.0%), 0 answered with an error\n" in table
    assert re.search(r"^y\s+number\s+10\s+2\s+-0\.25\s+4\s+0\s+1\.5\s+4$", table, re.M)
    assert re.search(r"^label\s+other\s+10\s+1\s*$", table, re.M)
    assert re.search(r"^n\s+number\s+10\s+0\s+0\s+0\s+0\s+0\s+0$", table, re.M)
    y_rows = table.split("most changed: y\n")[1].split("\n\n")[0].splitlines()[1:]
    assert [row.split()[0] for row in y_rows] == [ids[7], ids[3]]
    label_rows = table.split("most changed: label\n")[1].splitlines()[1:]
    assert [row.split()[:3] for row in label_rows] == [[ids[5], '"odd"', '"five"']]

    # The JSON Lines: one line per record, the changed fields exactly.
    replayed = {item["id"]: item for item in lines(out.read_text())}
    assert len(replayed) == 10
    expected = {ids[x]: ["y"] for x in CHANGED_Y} | {ids[x]: ["label"] for x in CHANGED_LABEL}
    assert {i: item["changed"] for i, item in replayed.items() if item["changed"]} == expected
    assert replayed[ids[7]]["old"] == {"y": 14, "label": "odd", "n": 1}
    assert replayed[ids[7]]["new"] == {"y": 10.0, "label": "odd", "n": 1}

    # The HTML page: the same fields and records, a histogram for the numeric one.
    root = ET.fromstring(page.read_text().split("\n", 1)[1])
    assert [h.text for h in root.iter("h2")] == ["y", "label"]
    assert len(root.findall(".//{http://www.w3.org/2000/svg}svg")) == 1
    cells = [td.text for td in root.iter("td")]
    assert {ids[3], ids[5], ids[7]} <= set(cells)
    assert not {ids[x] for x in xs if x not in (3, 5, 7)} & set(cells)

    # A rerun with the same --out replays nothing new: its target is not even listening.
    before = out.read_text()
    again = ok(run(yml, "replay", "a-1-0-0", "--to", f"http://127.0.0.1:{free_port()}",
                   "--out", str(out)))  # fmt: skip
    assert again.startswith("replayed 10 records against") and ": 3 changed (30.0%)" in again
    assert out.read_text() == before


@pytest.mark.slow
def test_replay_sends_capture_requests_as_their_batches(yml, s3, aws, tmp_path):
    a = predictor(tmp_path, cls=VersionA, record=False)
    requests = [
        Request(a, b'{"x": 3}', "application/json"),
        Request(a, b'{"instances": [{"x": 1}, {"x": 5}, {"x": 7}]}', "application/json"),
        Request(a, b'{"x": 2}\n{"x": 3}\n', "application/jsonlines", "application/jsonlines"),
        Request(a, b"7\n8\n", "text/csv"),
    ]
    start = time.time() - 60
    put_capture(s3, [(start + i, f"e{i}", r) for i, r in enumerate(requests)])
    (tmp_path / "b").mkdir()
    with Server(tmp_path / "b", tmp_path / "b.log", model="tests.replay_models.ModelB") as server:
        server.wait_ready()
        out = tmp_path / "replay.jsonl"
        url = f"http://127.0.0.1:{server.port}"
        table = ok(
            run(yml, "replay", VERSION, "--to", url, "--out", str(out), "--concurrency", "2")
        )
    assert table.startswith(f"replayed 8 records against {url}/invocations: 5 changed (62.5%)")
    changed = {item["id"]: item["changed"] for item in lines(out.read_text())}
    stamp = posix_time(start)[:-1]
    assert changed[f"ts-{stamp}--uuid-e0"] == ["y"]  # x = 3
    expected = {"e1--i-1": ["label"], "e1--i-2": ["y"], "e2--i-1": ["y"], "e3--i-0": ["y"]}
    assert {k.split("--uuid-")[1]: v for k, v in changed.items() if v and "--i-" in k} == expected
    # Sent as the same batches: every answer's n is the recorded one.
    assert re.search(r"^n\s+number\s+8\s+0\s", table, re.M)


def test_a_local_target_without_a_trained_model_says_so(yml, recorded, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    empty = tmp_path / "empty"
    result = run(yml, "replay", VERSION, "--local", "b", "--local-folder", str(empty))
    assert result.exit_code == 1
    assert "`ml2p local serve b` exited with status 1 before it was ready" in result.output
    assert "no trained model in" in result.output


@pytest.mark.slow
def test_local_server_takes_another_port_when_its_port_is_taken(yml, tmp_path, monkeypatch):
    from ml2p import child_server
    from ml2p.records import replay as replay_module

    folder = tmp_path / "local-b"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.json").write_text("{}")
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", "1")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ports = iter([busy.getsockname()[1], free_port()])
        monkeypatch.setattr(child_server, "free_port", lambda: next(ports))
        with replay_module.LocalServer("b", yml, str(folder)) as server:
            process = server._child.proc
            assert server.port != busy.getsockname()[1]
            target = replay_module.HTTPTarget(server.url)
            answer = target.send(b'{"x": 3}', "application/json", "application/json")
            target.close()
            assert answer.status == 200 and json.loads(answer.body)["result"]["y"] == 7.5
    assert process.returncode is not None and server._child is None


def test_replay_against_an_endpoint_through_sagemaker_runtime(yml, recorded, aws):
    # moto's sagemaker-runtime answers requests with the results queued here, in order.
    answers = [{"metadata": {}, "result": {"y": y}} for y in (0, 2, 5, 6, 8)]
    queued = {
        "results": [{"Body": json.dumps(a), "ContentType": "application/json"} for a in answers]
    }
    request = urllib.request.Request(
        f"{aws}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps(queued).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()
    table = ok(
        run(yml, "replay", VERSION, "--endpoint", "minimal-1-0-0-live", "--concurrency", "1")
    )
    assert table.startswith(
        "replayed 5 records against endpoint test-proj-minimal-1-0-0-live: 1 changed (20.0%)"
    )
    assert re.search(r"^y\s+number\s+5\s+1\s+0\.2\s+1\s", table, re.M)
    x2 = lines(ok(run(yml, "ls", VERSION)))[2]["id"]
    assert table.split("most changed: y\n")[1].splitlines()[1].split() == [x2, "4", "5", "1"]
