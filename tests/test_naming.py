"""ML2P's name conventions: each rule, its defaults, and image tags with registry ports."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml2p import naming
from ml2p.errors import ML2PError

BAD = [
    ("dataset", "churn-2024010", "<model>-YYYYMMDD"),
    ("dataset", "churn_20240101", "<model>-YYYYMMDD"),
    ("dataset", "-20240101", "<model>-YYYYMMDD"),
    ("dataset", "churn-20240101/..", "<model>-YYYYMMDD"),
    ("training-job", "churn-1", "<model>-X-Y[-dev]"),
    ("training-job", "churn-a-b", "<model>-X-Y[-dev]"),
    ("training-job", "churn-1-2-prod", "<model>-X-Y[-dev]"),
    ("model", "churn-1-2", "<model>-X-Y-Z[-dev]"),
    ("model", "churn-1-2-x", "<model>-X-Y-Z[-dev]"),
    ("model", "churn 1-2-3", "<model>-X-Y-Z[-dev]"),
    ("endpoint", "churn-1-2-3-prod", "[-live|-analysis|-test]"),
    ("endpoint", "churn-1-2", "[-live|-analysis|-test]"),
    ("endpoint", "", "[-live|-analysis|-test]"),
    # A trailing newline is not part of a name (0.6's `$` let it through).
    ("model", "churn-1-2-3\n", "<model>-X-Y-Z[-dev]"),
    ("dataset", "churn-20240101\n", "<model>-YYYYMMDD"),
]


@pytest.mark.parametrize(("kind", "name", "rule"), BAD)
def test_invalid_names_state_the_rule(kind, name, rule):
    with pytest.raises(naming.NamingError) as info:
        naming.validate_name(kind, name)
    message = str(info.value)
    assert rule in message
    assert repr(name) in message
    assert isinstance(info.value, ML2PError)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown kind"):
        naming.validate_name("notebook", "x")


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("dataset", "churn-20240131"),
        ("dataset", "my-churn-model-20240131"),
        ("training-job", "churn-1-2"),
        ("training-job", "churn-10-20-dev"),
        ("model", "churn-1-2-3"),
        ("model", "churn-1-2-3-dev"),
        ("endpoint", "churn-1-2-3"),
        ("endpoint", "churn-1-2-3-live"),
        ("endpoint", "churn-1-2-3-dev-analysis"),
        ("endpoint", "churn-1-2-3-test"),
    ],
)
def test_valid_names(kind, name):
    assert naming.validate_name(kind, name) == name


@pytest.mark.parametrize(
    ("model", "job"),
    [("churn-1-2-3", "churn-1-2"), ("churn-1-2-3-dev", "churn-1-2"), ("a-b-0-1-9", "a-b-0-1")],
)
def test_training_job_for_model_drops_the_patch_and_dev(model, job):
    """As ML2P 0.6: a -dev model's default training job is the plain X-Y one."""
    assert naming.training_job_for_model(model) == job
    assert naming.validate_name("training-job", job)


@pytest.mark.parametrize(
    ("endpoint", "model"),
    [
        ("churn-1-2-3-live", "churn-1-2-3"),
        ("churn-1-2-3-dev-test", "churn-1-2-3-dev"),
        ("churn-1-2-3", "churn-1-2-3"),
        ("churn-1-2-3-dev", "churn-1-2-3-dev"),
    ],
)
def test_model_for_endpoint_drops_the_suffix(endpoint, model):
    assert naming.model_for_endpoint(endpoint) == model


def test_defaults_refuse_invalid_names():
    with pytest.raises(naming.NamingError, match="model names must be"):
        naming.training_job_for_model("churn-1-2")
    with pytest.raises(naming.NamingError, match="endpoint names must be"):
        naming.model_for_endpoint("churn-live")


def test_aws_names_and_tags():
    assert naming.full_name("proj", "churn-1-2") == "proj-churn-1-2"
    assert naming.endpoint_config_name("proj", "e-1-2-3-live") == "proj-e-1-2-3-live-config"
    assert naming.variant_name("proj", "e-1-2-3") == "proj-e-1-2-3-variant-1"
    assert naming.lifecycle_config_name("proj", "nb") == "proj-nb-lifecycle-config"
    assert naming.project_tags("proj") == [{"Key": "ml2p-project", "Value": "proj"}]


def test_too_long_aws_names_are_refused():
    with pytest.raises(naming.NamingError, match="at most 63"):
        naming.full_name("p" * 40, "m" * 30)


@pytest.mark.parametrize(
    ("image", "repository", "tag"),
    [
        ("repo", "repo", None),
        ("repo:1.0", "repo", "1.0"),
        ("host:5000/repo", "host:5000/repo", None),
        ("host:5000/team/repo:2.1", "host:5000/team/repo", "2.1"),
        (
            "123.dkr.ecr.eu-west-1.amazonaws.com/repo:latest",
            "123.dkr.ecr.eu-west-1.amazonaws.com/repo",
            "latest",
        ),
        ("repo@sha256:abcd", "repo@sha256:abcd", None),
    ],
)
def test_split_image_keeps_registry_ports(image, repository, tag):
    assert naming.split_image(image) == (repository, tag)


def test_image_with_tag_replaces_only_the_tag():
    assert naming.image_with_tag("host:5000/repo:1.0", "2.0") == "host:5000/repo:2.0"
    assert naming.image_with_tag("host:5000/repo", "2.0") == "host:5000/repo:2.0"
    assert naming.image_with_tag("host:5000/repo:1.0", None) == "host:5000/repo:1.0"


# --- ML2P 0.6's rules ------------------------------------------------------------

# ML2P 0.6.0's regular expressions, as facts to check against (0.6 used re.match).
V06 = {
    "dataset": r"^(?P<model>[a-zA-Z0-9\-]+)-(?P<date>[0-9]{8})$",
    "training-job": (
        r"^(?P<model>[a-zA-Z0-9\-]+)-(?P<major>[0-9]+)-(?P<minor>[0-9]+)"
        r"(?P<training_suffix>\-dev)?$"
    ),
    "model": (
        r"^(?P<model>[a-zA-Z0-9\-]+)-(?P<major>[0-9]+)-(?P<minor>[0-9]+)"
        r"-(?P<patch>[0-9]+)(?P<model_suffix>\-dev)?$"
    ),
    "endpoint": (
        r"^(?P<model>[a-zA-Z0-9\-]+)-(?P<major>[0-9]+)-(?P<minor>[0-9]+)-(?P<patch>[0-9]+)"
        r"(?P<model_suffix>\-dev)?(?P<endpoint_suffix>\-(live|analysis|test))?$"
    ),
}


def v06_names(kind):
    return st.from_regex(V06[kind].replace("$", r"\Z"), fullmatch=True)


@pytest.mark.parametrize("kind", naming.KINDS)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_every_name_06_accepted_is_accepted(kind, data):
    name = data.draw(v06_names(kind))
    warning = naming.check_name(kind, name)
    try:
        naming.validate_name(kind, name)
    except naming.NamingError:
        assert warning is not None and repr(name) in warning and "ML2P 0.6" in warning
    else:
        assert warning is None


@pytest.mark.parametrize("kind", naming.KINDS)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_legacy_patterns_match_what_06_matched(kind, data):
    """LEGACY_PATTERNS are 0.6's rules, with 0.6's group names, minus trailing newlines."""
    name = data.draw(st.one_of(v06_names(kind), st.text(alphabet="ab-019dvelitsn\n", max_size=20)))
    ours = re.match(naming.LEGACY_PATTERNS[kind], name)
    theirs = re.match(V06[kind], name)
    if name.endswith("\n"):
        assert ours is None
    else:
        assert (ours and ours.groupdict()) == (theirs and theirs.groupdict())


@settings(max_examples=300, deadline=None)
@given(name=v06_names("model"))
def test_default_training_job_is_06s(name):
    parts = re.match(V06["model"], name).groupdict()
    assert naming.training_job_for_model(name) == "{model}-{major}-{minor}".format(**parts)


@settings(max_examples=300, deadline=None)
@given(name=v06_names("endpoint"))
def test_default_model_is_06s(name):
    parts = re.match(V06["endpoint"], name).groupdict()
    expected = "{model}-{major}-{minor}-{patch}".format(**parts) + (parts["model_suffix"] or "")
    assert naming.model_for_endpoint(name) == expected


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("model", "-churn-1-2-3"),
        ("model", "churn--1-2-3"),
        ("training-job", "-churn-1-2-dev"),
        ("dataset", "churn--20240101"),
        ("endpoint", "--1-2-3-live"),
    ],
)
def test_names_only_06_accepted_warn(kind, name):
    with pytest.raises(naming.NamingError):
        naming.validate_name(kind, name)
    warning = naming.check_name(kind, name)
    assert warning.startswith(f"{kind.replace('-', ' ')} name {name!r} does not follow the rule")


@pytest.mark.parametrize("kind", naming.KINDS)
def test_names_06_refused_are_refused(kind):
    with pytest.raises(naming.NamingError, match="names must be"):
        naming.check_name(kind, "churn_1")


def test_unchecked_names_warn_unless_empty_or_with_control_characters():
    """Names ML2P 0.6 never checked (e.g. `model create -t`) are used as given."""
    assert "used as given" in naming.check_name("training-job", "my job", enforced=False)
    assert naming.check_name("training-job", "churn-1-2", enforced=False) is None
    for bad in ("", "churn-1-2\n", "a\x00b"):
        with pytest.raises(naming.NamingError):
            naming.check_name("training-job", bad, enforced=False)
