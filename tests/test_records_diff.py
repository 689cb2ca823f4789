"""Field-by-field differences, their text table and their offline HTML page."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from ml2p.errors import ML2PError
from ml2p.records.diff import ROOT, DiffReport, compared_value, flatten
from ml2p.records.replay import load_done, sample
from ml2p.records.report import histogram_svg, html_page, text_table


def test_bad_report_settings_are_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        DiffReport(top=-1)
    with pytest.raises(ValueError, match="must not be negative"):
        DiffReport(tolerance=-0.1)


def test_flatten_names_nested_fields_and_list_items():
    value = {"a": {"b": 1, "c": [2, {"d": 3}]}, "e": [], "f": {}, "g": None}
    assert flatten(value) == {"a.b": 1, "a.c[0]": 2, "a.c[1].d": 3, "e": [], "f": {}, "g": None}
    assert flatten(5) == {ROOT: 5} and flatten([1, "x"]) == {"[0]": 1, "[1]": "x"}


def test_compared_value_is_the_result_or_the_whole_prediction():
    assert compared_value({"metadata": {"timestamp": 1}, "result": {"y": 2}}) == {"y": 2}
    assert compared_value([1, 2]) == [1, 2]


def test_numbers_by_delta_others_by_equality_missing_fields_as_none():
    report = DiffReport(top=5, tolerance=0.01)
    assert report.compare("r1", {"y": 1.0, "label": "a"}, {"y": 1.005, "label": "a"}) == []
    assert report.compare("r2", {"y": 1.0, "label": "a"}, {"y": 3.0, "label": "b"}) == [
        "label",
        "y",
    ]
    assert report.compare("r3", {"y": 1, "flag": True}, {"y": 1, "flag": 1, "new": 0}) == [
        "flag",
        "new",
    ]
    y, label, flag, new = (report.fields[n] for n in ("y", "label", "flag", "new"))
    assert (y.compared, y.changed, y.kind) == (3, 1, "number")
    assert (label.compared, label.changed, label.kind) == (2, 1, "other")
    assert flag.kind == "other" and flag.most_changed() == [
        ("r3", True, 1, None)
    ]  # bool is no number
    assert new.most_changed() == [("r3", None, 0, None)]
    assert report.replayed == 3 and report.changed == 2


def test_numeric_statistics_and_the_most_changed_records():
    report = DiffReport(top=3)
    deltas = [0, 0, 0, 0, 0, 1, -2, 3, -4, 10]
    for i, delta in enumerate(deltas):
        report.compare(f"r{i}", {"score": 100}, {"score": 100 + delta})
    score = report.fields["score"]
    assert score.changed == 5
    assert score.mean() == pytest.approx(0.8)
    assert score.quantiles() == {"max": 10, "p50": 0, "p90": 4, "p99": 10}
    assert score.most_changed() == [("r9", 100, 110, 10), ("r8", 100, 96, -4), ("r7", 100, 103, 3)]


def test_ties_keep_the_earlier_record_first():
    report = DiffReport(top=2)
    for i in range(4):
        report.compare(f"r{i}", 1.0, 2.0)
    assert [row[0] for row in report.fields[ROOT].most_changed()] == ["r0", "r1"]


def test_errors_are_counted_apart_from_changes():
    report = DiffReport()
    report.add({"id": "a", "old": {"y": 1}, "error": "422: bad x", "status": 422})
    report.add({"id": "b", "old": {"y": 1}, "error": "422: bad x", "status": 422})
    line = report.add({"id": "c", "old": {"y": 1}, "new": {"y": 2}})
    assert line["changed"] == ["y"]
    assert (report.replayed, report.errors, report.changed) == (3, 2, 1)
    assert "  2 x error: 422: bad x" in text_table(report, "B")


def test_text_table_names_fields_and_records():
    report = DiffReport(top=2)
    report.add({"id": "x3", "old": {"y": 6, "label": "odd"}, "new": {"y": 7.5, "label": "odd"}})
    report.add({"id": "x5", "old": {"y": 10, "label": "odd"}, "new": {"y": 10, "label": "five"}})
    report.add({"id": "x6", "old": {"y": 12, "label": "even"}, "new": {"y": 12, "label": "even"}})
    table = text_table(report, "http://b/invocations")
    lines = table.splitlines()
    assert lines[0] == (
        "replayed 3 records against http://b/invocations: 2 changed (66.7%), "
        "0 answered with an error"
    )
    assert re.search(r"^label\s+other\s+3\s+1\s*$", table, re.M)
    assert re.search(r"^y\s+number\s+3\s+1\s+0\.5\s+1\.5\s+0\s+1\.5\s+1\.5$", table, re.M)
    assert re.search(r'^  x5\s+"odd"\s+"five"\s*$', table, re.M)
    assert re.search(r"^  x3\s+6\s+7\.5\s+1\.5$", table, re.M)


def test_html_page_is_one_offline_document_with_histograms_and_records():
    report = DiffReport(top=3)
    for i in range(20):
        report.add(
            {"id": f"r{i}", "old": {"y": i, "tag": "<a>"}, "new": {"y": i + (i % 4), "tag": "<a>"}}
        )
    report.add({"id": "r&<20>", "old": {"y": 0, "tag": "<a>"}, "new": {"y": 0, "tag": "<b>"}})
    page = html_page(report, "B <local>", "v1 replayed against B <local>")
    root = ET.fromstring(page.split("\n", 1)[1])  # well-formed (after the doctype)
    assert root.tag == "html"
    # Nothing fetched: no scripts, links, images, frames or URLs in styles.
    for tag in ("script", "link", "img", "iframe", "object"):
        assert root.find(f".//{tag}") is None
    assert not re.search(r"\b(src|href)=|url\(|@import", page)
    svgs = root.findall(".//{http://www.w3.org/2000/svg}svg")
    assert len(svgs) == 1  # one numeric field changed
    bars = svgs[0].findall("{http://www.w3.org/2000/svg}rect")
    assert sum(int(b.find("{http://www.w3.org/2000/svg}title").text.split()[0]) for b in bars) == 15
    text = ET.tostring(root, encoding="unicode", method="text")
    assert "r&<20>" in text and "15 of 21 records changed" in text and "B <local>" in text
    assert [h.text for h in root.iter("h2")] == ["y", "tag"]


def test_histogram_of_equal_deltas_and_of_nothing():
    assert histogram_svg([]) == ""
    svg = ET.fromstring(histogram_svg([2.0, 2.0, 2.0]))
    assert len(svg.findall("{http://www.w3.org/2000/svg}rect")) == 1


def test_sample_is_seeded_uniform_and_keeps_order():
    chosen = sample(iter(range(1000)), 10, seed=3)
    assert chosen == sorted(chosen) and len(set(chosen)) == 10
    assert chosen == sample(iter(range(1000)), 10, seed=3) != sample(iter(range(1000)), 10, seed=4)
    assert sample(iter(range(5)), 10) == [0, 1, 2, 3, 4]
    hits = [0] * 10
    for seed in range(400):
        for item in sample(iter(range(10)), 3, seed=seed):
            hits[item] += 1
    assert min(hits) > 80  # each of 10 items is in about 120 of 400 samples of 3


def test_resuming_reads_an_earlier_out_file_and_drops_a_cut_last_line(tmp_path):
    out = tmp_path / "out.jsonl"
    lines = [
        {"id": "a", "old": {"y": 1}, "new": {"y": 2}, "changed": ["y"]},
        {"id": "b", "old": {"y": 1}, "error": "500: boom", "status": 500},
    ]
    out.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"id": "c", "ol')
    report = DiffReport()
    assert load_done(str(out), report) == {"a", "b"}
    assert out.read_text().endswith('"status": 500}\n')
    assert (report.replayed, report.changed, report.errors) == (2, 1, 1)
    assert load_done(str(tmp_path / "missing.jsonl"), DiffReport()) == set()


def test_resuming_from_a_file_that_is_not_a_replay_names_the_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a", "old": 1, "new": 1}\n{"name": "x"}\n')
    with pytest.raises(ML2PError, match=r"out\.jsonl line 2 is not a line of a replay"):
        load_done(str(out), DiffReport())
