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

``<model>`` is letters, digits and ``-``, starting and ending with a letter or
digit. A model's default training job keeps its model and major and minor
version only (``churn-1-2-0`` -> ``churn-1-2``, and, as in ML2P 0.6,
``churn-1-2-0-dev`` -> ``churn-1-2``); an endpoint's default model drops the
endpoint suffix (``churn-1-2-0-dev-live`` -> ``churn-1-2-0-dev``).

ML2P 0.6 also accepted a ``<model>`` part starting or ending with ``-``
(``-churn-1-2``). :data:`LEGACY_PATTERNS` holds 0.6's rules; :func:`check_name`
accepts what they accept, with a warning, so that a 0.6 project's names keep
working.

This module also splits container image names (``host:5000/repo:tag``).
"""

from __future__ import annotations

import re

from ml2p.errors import NamingError

__all__ = [
    "KINDS",
    "LEGACY_PATTERNS",
    "TAG_KEY",
    "NamingError",
    "check_name",
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

_RULES: dict[str, tuple[re.Pattern[str], str]] = {
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
KINDS: tuple[str, ...] = tuple(_RULES)

_LEGACY_MODEL = r"(?P<model>[a-zA-Z0-9\-]+)"
_LEGACY_VERSION = r"(?P<major>[0-9]+)-(?P<minor>[0-9]+)"

#: ML2P 0.6's rules, as regular expressions with 0.6's group names
#: (``training_suffix``, ``model_suffix``, ``endpoint_suffix`` for the
#: optional parts). They accept what :data:`KINDS`' rules accept and also a
#: ``<model>`` part that starts or ends with ``-``. Anchored with ``\Z``: a
#: trailing newline, which 0.6's ``$`` let through, is not a name.
LEGACY_PATTERNS: dict[str, str] = {
    "dataset": rf"^{_LEGACY_MODEL}-(?P<date>[0-9]{{8}})\Z",
    "training-job": rf"^{_LEGACY_MODEL}-{_LEGACY_VERSION}(?P<training_suffix>\-dev)?\Z",
    "model": rf"^{_LEGACY_MODEL}-{_LEGACY_VERSION}-(?P<patch>[0-9]+)(?P<model_suffix>\-dev)?\Z",
    "endpoint": (
        rf"^{_LEGACY_MODEL}-{_LEGACY_VERSION}-(?P<patch>[0-9]+)(?P<model_suffix>\-dev)?"
        r"(?P<endpoint_suffix>\-(live|analysis|test))?\Z"
    ),
}

_LEGACY_RULES: dict[str, re.Pattern[str]] = {
    kind: re.compile(pattern) for kind, pattern in LEGACY_PATTERNS.items()
}
# 0.6's group names -> this module's.
_LEGACY_GROUPS = {
    "training_suffix": "dev",
    "model_suffix": "dev",
    "endpoint_suffix": "suffix",
}

# SageMaker resource names: at most 63 characters, alphanumerics and '-'.
_MAX_AWS_NAME = 63


def parse_name(kind: str, name: str) -> dict[str, str | None]:
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
    match = pattern.fullmatch(name) if isinstance(name, str) else None
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


def _legacy_parts(kind: str, name: str) -> dict[str, str | None] | None:
    """The parts of ``name`` under ML2P 0.6's rule for ``kind``, or ``None``."""
    match = _LEGACY_RULES[kind].match(name) if isinstance(name, str) else None
    if match is None:
        return None
    return {_LEGACY_GROUPS.get(k, k): v for k, v in match.groupdict().items()}


def _parts(kind: str, name: str) -> dict[str, str | None]:
    """The parts of ``name`` under the rule for ``kind``, or under 0.6's rule."""
    try:
        return parse_name(kind, name)
    except NamingError:
        parts = _legacy_parts(kind, name)
        if parts is None:
            raise
        return parts


def check_name(kind: str, name: str, enforced: bool = True) -> str | None:
    """Check ``name`` the way the ``ml2p`` command does.

    A name that follows the rule for ``kind`` passes silently. A name that
    breaks it but that ML2P 0.6 accepted is accepted with a warning: with
    ``enforced`` (the default), one :data:`LEGACY_PATTERNS` accepts; without
    it (a name ML2P 0.6 did not check at all), any non-empty name free of
    control characters.

    :param kind: One of :data:`KINDS`.
    :param name: The short name (without the project prefix).
    :param enforced: Whether ML2P 0.6 checked this name against its rule.
    :returns: ``None``, or the warning to show for an accepted name that
        breaks the rule.
    :raises ml2p.errors.NamingError: stating the rule, if the name is refused.
    """
    try:
        parse_name(kind, name)
        return None
    except NamingError as exc:
        error = exc
    if _legacy_parts(kind, name) is not None or (not enforced and _harmless(name)):
        _, rule = _RULES[kind]
        what = kind.replace("-", " ")
        return (
            f"{what} name {name!r} does not follow the rule {rule}; used as given, as ML2P 0.6 did"
        )
    raise error


def _harmless(name: str) -> bool:
    return isinstance(name, str) and bool(name) and name.isprintable()


def training_job_for_model(model_name: str) -> str:
    """Return a model's default training job: ``<model>-X-Y`` of ``<model>-X-Y-Z[-dev]``.

    As in ML2P 0.6, the patch number and any ``-dev`` are dropped:
    ``churn-1-2-3`` -> ``churn-1-2``; ``churn-1-2-3-dev`` -> ``churn-1-2``.
    Names that only ML2P 0.6's rule accepts (see :func:`check_name`) are
    split by that rule.

    :raises NamingError: if ``model_name`` is not a valid model name.
    """
    p = _parts("model", model_name)
    return f"{p['model']}-{p['major']}-{p['minor']}"


def model_for_endpoint(endpoint_name: str) -> str:
    """Return an endpoint's default model: its name without the endpoint suffix.

    ``churn-1-2-3-live`` -> ``churn-1-2-3``; ``churn-1-2-3-dev-test`` -> ``churn-1-2-3-dev``.
    Names that only ML2P 0.6's rule accepts (see :func:`check_name`) are
    split by that rule.

    :raises NamingError: if ``endpoint_name`` is not a valid endpoint name.
    """
    p = _parts("endpoint", endpoint_name)
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


def variant_name(project: str, model: str, number: int = 1) -> str:
    """Return the production variant name ``<project>-<model>-variant-<number>``.

    An endpoint's variants are numbered from 1 in the order they are given, so a
    one-variant endpoint's variant is ``<project>-<model>-variant-1``.
    """
    return full_name(project, f"{model}-variant-{number}")


def lifecycle_config_name(project: str, notebook: str) -> str:
    """Return the lifecycle configuration name ``<project>-<notebook>-lifecycle-config``."""
    return full_name(project, f"{notebook}-lifecycle-config")


def project_tags(project: str) -> list[dict[str, str]]:
    """Return the tags of every resource of ``project``: ``[{"Key": "ml2p-project", ...}]``."""
    return [{"Key": TAG_KEY, "Value": project}]


def split_image(image: str) -> tuple[str, str | None]:
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


def image_with_tag(image: str, tag: str | None) -> str:
    """Return ``image`` with its tag replaced by ``tag`` (unchanged if ``tag`` is empty)."""
    if not tag:
        return image
    repository, _ = split_image(image)
    return f"{repository}:{tag}"
