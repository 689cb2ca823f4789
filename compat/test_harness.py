"""The suite's own machinery: normalising, comparing and classifying observations."""

from __future__ import annotations

import os

import pytest

from compat import differences, harness
from compat.differences import Allowed
from compat.harness import ABSENT, Difference, classify, compare, normalise

WORK = "/tmp/ml2p-compat-x/v060/scn_cli"


def test_normalise_replaces_uuids_dates_work_folder_and_version():
    doc = {
        "key": "prj/predictions/v/ts-2026-12-01T08:30:26.280685--uuid-"
        "0b7e4f52-8c1d-4e7a-9a43-2f7c1d9e5b60.json",
        "created": "2026-12-01 08:30:26.280685+00:00",
        "path": f"{WORK}/model/model.json",
        "version": "0.6.0",
        "mentions-version": "ml2p 0.6.0",
        "timestamp": 1795941026.28,
        "count": 3,
        "RequestId": "AbC123",
    }
    assert normalise(doc, "0.6.0", WORK) == {
        "key": "prj/predictions/v/ts-<datetime dddd-dd-ddTdd:dd:dd>--uuid-<uuid>.json",
        "created": "<datetime dddd-dd-dd dd:dd:dd+dd:dd>",
        "path": "<work>/model/model.json",
        "version": "<ml2p-version>",
        "mentions-version": "ml2p 0.6.0",
        "timestamp": "<posix-time>",
        "count": 3,
        "RequestId": "<RequestId>",
    }


def test_normalise_keeps_the_shape_of_dates():
    iso = normalise("2026-12-01T08:30:26.280685+00:00", "v", WORK)
    spaced = normalise("2026-12-01 08:30:26.280685+00:00", "v", WORK)
    zulu = normalise("2026-12-01T08:30:26.280685Z", "v", WORK)
    assert len({iso, spaced, zulu}) == 3
    # With or without microseconds (isoformat drops them when they are 0).
    assert normalise("2026-12-01T08:30:26", "v", WORK) == normalise(
        "2026-12-01T08:30:26.000001", "v", WORK
    )


def test_equal_observations_have_no_difference():
    value = {"a": [1, {"b": "c"}], "d": None}
    assert compare("s", value, {"d": None, "a": [1, {"b": "c"}]}) == []


def test_differences_are_found_at_their_paths():
    old = {"a": {"b": 1, "c": [1, 2]}, "gone": True}
    new = {"a": {"b": 2, "c": [1, 2, 3]}, "added": 1}
    assert compare("s", old, new) == [
        Difference("s", "a/b", 1, 2),
        Difference("s", "a/c", [1, 2], [1, 2, 3]),
        Difference("s", "added", ABSENT, 1),
        Difference("s", "gone", True, ABSENT),
    ]


def test_underscore_keys_are_not_compared():
    assert compare("s", {"_stderr": "x", "v": 1}, {"_stderr": "y", "v": 1}) == []


def test_types_matter():
    assert compare("s", {"v": 6}, {"v": 6.0}) == [Difference("s", "v", 6, 6.0)]
    assert compare("s", {"v": 1}, {"v": True}) == [Difference("s", "v", 1, True)]


def exc(*catchable):
    return {"$exc": {"catchable": [*catchable, "builtins.Exception"], "_message": "m"}}


def test_an_exception_0_6_code_still_catches_is_no_difference():
    old = exc("ml2p.errors.LocalEnvError")
    new = exc("ml2p.errors.LocalEnvError", "builtins.ValueError")
    assert compare("s", {"e": old}, {"e": new}) == []


def test_an_exception_0_6_code_would_not_catch_is_a_difference():
    old = exc("ml2p.errors.LocalEnvError")
    new = exc("builtins.ValueError")
    assert [d.path for d in compare("s", {"e": old}, {"e": new})] == ["e"]


def test_an_exception_instead_of_a_value_is_a_difference():
    diffs = compare("s", {"e": {"y": 1}}, {"e": exc("builtins.KeyError")})
    assert [d.path for d in diffs] == ["e"]
    assert diffs[0].ours["$exc"]["_message"] == "m"


def sig(*params):
    return {"$sig": [list(p) for p in params]}


SELF = ("self", "POSITIONAL_OR_KEYWORD", False)


@pytest.mark.parametrize(
    ("new", "compatible"),
    [
        (sig(SELF, ("dataset", "POSITIONAL_OR_KEYWORD", False)), True),
        (
            sig(
                SELF,
                ("dataset", "POSITIONAL_OR_KEYWORD", False),
                ("progress", "POSITIONAL_OR_KEYWORD", True),
            ),
            True,
        ),
        (
            sig(
                SELF,
                ("dataset", "POSITIONAL_OR_KEYWORD", False),
                ("session", "KEYWORD_ONLY", True),
            ),
            True,
        ),
        (sig(SELF, ("name", "POSITIONAL_OR_KEYWORD", False)), False),
        (sig(SELF), False),
        (
            sig(
                SELF,
                ("dataset", "POSITIONAL_OR_KEYWORD", False),
                ("required", "POSITIONAL_OR_KEYWORD", False),
            ),
            False,
        ),
        (
            sig(
                SELF,
                ("dataset", "POSITIONAL_OR_KEYWORD", False),
                ("required", "KEYWORD_ONLY", False),
            ),
            False,
        ),
    ],
)
def test_signature_compatibility(new, compatible):
    old = sig(SELF, ("dataset", "POSITIONAL_OR_KEYWORD", False))
    assert (compare("s", {"f": old}, {"f": new}) == []) is compatible


def test_reordered_optional_parameters_are_a_difference():
    old = sig(
        SELF,
        ("message", "POSITIONAL_OR_KEYWORD", False),
        ("details", "POSITIONAL_OR_KEYWORD", True),
        ("status_code", "POSITIONAL_OR_KEYWORD", True),
    )
    new = sig(
        SELF,
        ("message", "POSITIONAL_OR_KEYWORD", False),
        ("status_code", "POSITIONAL_OR_KEYWORD", True),
        ("details", "POSITIONAL_OR_KEYWORD", True),
    )
    assert len(compare("s", {"f": old}, {"f": new})) == 1


def test_classify_needs_scenario_path_and_check():
    entry = Allowed(
        id="batch-invoke-returns-a-list",
        where=("scn_records:default/batch_invoke*",),
        kind=differences.REFERENCE,
        summary="s",
        reason="r",
        check=lambda old, new: old == {"predictions": new},
    )
    fits = Difference("scn_records", "default/batch_invoke", {"predictions": [1]}, [1])
    other_value = Difference("scn_records", "default/batch_invoke", {"predictions": [1]}, [2])
    other_path = Difference("scn_records", "default/invoke", {"predictions": [1]}, [1])
    other_scenario = Difference("scn_http", "default/batch_invoke", {"predictions": [1]}, [1])
    hits, unexpected = classify([fits, other_value, other_path, other_scenario], [entry])
    assert hits == {"batch-invoke-returns-a-list": [fits]}
    assert unexpected == [other_value, other_path, other_scenario]


def test_a_check_that_fails_on_a_value_does_not_allow_it():
    entry = Allowed("x", ("s:p",), differences.DEFECT, "s", "r", check=lambda old, new: old[0])
    assert classify([Difference("s", "p", None, 1)], [entry]) == (
        {},
        [Difference("s", "p", None, 1)],
    )


def test_every_allowed_difference_is_well_formed():
    ids = [entry.id for entry in differences.ALLOWED]
    assert len(ids) == len(set(ids)), "duplicate ids"
    scenarios = {
        name[:-3]
        for name in os.listdir(harness.SCENARIOS_DIR)
        if name.startswith("scn_") and name.endswith(".py")
    }
    for entry in differences.ALLOWED:
        assert entry.kind in differences.KINDS, entry.id
        assert entry.where and all(":" in pattern for pattern in entry.where), entry.id
        assert set(entry.scenarios) <= scenarios, entry.id
        assert entry.summary.strip() and entry.reason.strip(), entry.id
    not_comparable = [item.id for item in differences.NOT_COMPARABLE]
    assert len(not_comparable) == len(set(not_comparable))


WERKZEUG = "werkzeug.exceptions.HTTPException"


@pytest.mark.parametrize(
    ("entry_id", "old", "new", "allowed"),
    [
        ("batch-invoke-returns-a-list", {"predictions": [{"r": 1}]}, [{"r": 1}], True),
        ("batch-invoke-returns-a-list", {"predictions": [{"r": 1}]}, [{"r": 2}], False),
        ("batch-invoke-returns-a-list", "passed", "failure", True),
        ("log-lines-are-printed-once", 2, 1, True),
        ("log-lines-are-printed-once", 1, 1, False),
        (
            "no-flask",
            {"$class": {"catchable": ["ml2p.errors.APIError", WERKZEUG, "builtins.Exception"]}},
            {"$class": {"catchable": ["ml2p.errors.APIError", "builtins.Exception"]}},
            True,
        ),
        (
            "no-flask",
            {"$class": {"catchable": ["ml2p.errors.APIError", WERKZEUG, "builtins.Exception"]}},
            {"$class": {"catchable": ["builtins.Exception"]}},
            False,
        ),
        ("failure-reason-always-written", False, True, True),
        ("failure-reason-always-written", True, False, False),
    ],
)
def test_checks_accept_only_the_documented_difference(entry_id, old, new, allowed):
    entry = next(e for e in differences.ALLOWED if e.id == entry_id)
    assert bool(entry.check(old, new)) is allowed


def test_a_list_difference_shows_what_only_one_side_has():
    diff = Difference("s", "records", [1, 2, 2, 3], [2, 3, 4])
    text = diff.render()
    assert "0.6.0: [1, 2]" in text
    assert "ours : [4]" in text
