"""ML2P's naming conventions for datasets, training jobs, models and endpoints.

Names given on the command line are short; the AWS resource is
``<project>-<name>``. Each kind of name has a rule:

============  ==============================================  ====================
kind          rule                                            example
============  ==============================================  ====================
dataset       ``<model>-YYYYMMDD``                            ``churn-20240131``
training job  ``<model>-X-Y[-dev]``                           ``churn-1-2``
model         ``<model>-X-Y-Z[-dev]``                         ``churn-1-2-0``
endpoint      ``<model>-X-Y-Z[-dev][-live|-analysis|-test]``  ``churn-1-2-0-live``
============  ==============================================  ====================

``<model>`` is letters, digits and ``-``. A model's default training job
drops the patch number (``churn-1-2-0-dev`` -> ``churn-1-2-dev``), an
endpoint's default model drops the endpoint suffix (``churn-1-2-0-live`` ->
``churn-1-2-0``).

This module also splits container image names (``host:5000/repo:tag``).
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from ml2p.errors import NamingError

__all__ = [
    "KINDS",
    "TAG_KEY",
    "NamingError",
    "endpoint_config_name",
    "full_name",
    "image_with_tag",
    "lifecycle_config_name",
    "model_for_endpoint",
    "parse_name",
    "project_tags",
    "split_image",
    "training_job_for_model",
    "validate_name",
    "variant_name",
]

#: The tag every AWS resource ML2P creates carries; its value is the project.
TAG_KEY = "ml2p-project"

_MODEL = r"(?P<model>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
_VERSION = r"(?P<major>[0-9]+)-(?P<minor>[0-9]+)"

_RULES: Dict[str, Tuple[re.Pattern[str], str]] = {
    "dataset": (
        re.compile(rf"^{_MODEL}-(?P<date>[0-9]{{8}})$"),
        "<model>-YYYYMMDD (e.g. churn-20240131)",
    ),
    "training-job": (
        re.compile(rf"^{_MODEL}-{_VERSION}(?P<dev>-dev)?$"),
        "<model>-X-Y[-dev] (e.g. churn-1-2 or churn-1-2-dev)",
    ),
    "model": (
        re.compile(rf"^{_MODEL}-{_VERSION}-(?P<patch>[0-9]+)(?P<dev>-dev)?$"),
        "<model>-X-Y-Z[-dev] (e.g. churn-1-2-0 or churn-1-2-0-dev)",
    ),
    "endpoint": (
        re.compile(
            rf"^{_MODEL}-{_VERSION}-(?P<patch>[0-9]+)(?P<dev>-dev)?"
            r"(?P<suffix>-(?:live|analysis|test))?$"
        ),
        "<model>-X-Y-Z[-dev][-live|-analysis|-test] (e.g. churn-1-2-0-live)",
    ),
}

#: The kinds of names :func:`validate_name` knows.
KINDS: Tuple[str, ...] = tuple(_RULES)

# SageMaker resource names: at most 63 characters, alphanumerics and '-'.
_MAX_AWS_NAME = 63


def parse_name(kind: str, name: str) -> Dict[str, Optional[str]]:
    """Split ``name`` into the parts of its rule (``model``, ``major``, ...).

    :param kind: One of :data:`KINDS`.
    :param name: The short name (without the project prefix).
    :returns: A new dict of the rule's groups; absent optional parts are ``None``.
    :raises NamingError: stating the rule, if ``name`` does not follow it.
    :raises ValueError: if ``kind`` is unknown.
    """
    if kind not in _RULES:
        raise ValueError(f"unknown kind of name {kind!r}; expected one of {', '.join(KINDS)}")
    pattern, rule = _RULES[kind]
    match = pattern.match(name) if isinstance(name, str) else None
    if match is None:
        what = kind.replace("-", " ")
        raise NamingError(f"invalid {what} name {name!r}: {what} names must be {rule}")
    return match.groupdict()


def validate_name(kind: str, name: str) -> str:
    """Return ``name`` if it follows the rule for ``kind``.

    :raises NamingError: stating the rule, if it does not.
    """
    parse_name(kind, name)
    return name


def training_job_for_model(model_name: str) -> str:
    """Return a model's default training job: its name without the patch number.

    ``churn-1-2-3`` -> ``churn-1-2``; ``churn-1-2-3-dev`` -> ``churn-1-2-dev``.

    :raises NamingError: if ``model_name`` is not a valid model name.
    """
    p = parse_name("model", model_name)
    return f"{p['model']}-{p['major']}-{p['minor']}{p['dev'] or ''}"


def model_for_endpoint(endpoint_name: str) -> str:
    """Return an endpoint's default model: its name without the endpoint suffix.

    ``churn-1-2-3-live`` -> ``churn-1-2-3``; ``churn-1-2-3-dev-test`` -> ``churn-1-2-3-dev``.

    :raises NamingError: if ``endpoint_name`` is not a valid endpoint name.
    """
    p = parse_name("endpoint", endpoint_name)
    return f"{p['model']}-{p['major']}-{p['minor']}-{p['patch']}{p['dev'] or ''}"


def full_name(project: str, name: str) -> str:
    """Return the AWS resource name ``<project>-<name>``.

    :raises NamingError: if the result is longer than SageMaker's 63 characters.
    """
    full = f"{project}-{name}"
    if len(full) > _MAX_AWS_NAME:
        raise NamingError(
            f"resource name {full!r} is {len(full)} characters long; SageMaker allows "
            f"at most {_MAX_AWS_NAME}: use a shorter name"
        )
    return full


def endpoint_config_name(project: str, endpoint: str) -> str:
    """Return the endpoint configuration name ``<project>-<endpoint>-config``."""
    return full_name(project, f"{endpoint}-config")


def variant_name(project: str, model: str) -> str:
    """Return the production variant name ``<project>-<model>-variant-1``."""
    return full_name(project, f"{model}-variant-1")


def lifecycle_config_name(project: str, notebook: str) -> str:
    """Return the lifecycle configuration name ``<project>-<notebook>-lifecycle-config``."""
    return full_name(project, f"{notebook}-lifecycle-config")


def project_tags(project: str) -> List[Dict[str, str]]:
    """Return the tags of every resource of ``project``: ``[{"Key": "ml2p-project", ...}]``."""
    return [{"Key": TAG_KEY, "Value": project}]


def split_image(image: str) -> Tuple[str, Optional[str]]:
    """Split a container image reference into its repository and tag.

    The tag follows the last ``:`` after the last ``/``, so a registry port is
    not mistaken for a tag: ``host:5000/repo:1.0`` -> ``("host:5000/repo", "1.0")``,
    ``host:5000/repo`` -> ``("host:5000/repo", None)``. A digest
    (``repo@sha256:...``) is kept in the repository part with no tag.
    """
    if "@" in image:
        return image, None
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, None


def image_with_tag(image: str, tag: Optional[str]) -> str:
    """Return ``image`` with its tag replaced by ``tag`` (unchanged if ``tag`` is empty)."""
    if not tag:
        return image
    repository, _ = split_image(image)
    return f"{repository}:{tag}"
