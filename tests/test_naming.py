"""ML2P's name conventions: each rule, its defaults, and image tags with registry ports."""

from __future__ import annotations

import pytest

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
    [("churn-1-2-3", "churn-1-2"), ("churn-1-2-3-dev", "churn-1-2-dev"), ("a-b-0-1-9", "a-b-0-1")],
)
def test_training_job_for_model_drops_the_patch(model, job):
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
