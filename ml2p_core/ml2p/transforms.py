"""Batch transform: the ``transform`` section and the ``CreateTransformJob`` request.

A transform job runs a SageMaker model (``ml2p model create``) over every file
under an S3 prefix, a dataset's (``datasets/<dataset>/``) or any other, and writes
``<file>.out`` for each under ``transforms/<name>/`` in ``s3folder``.

:class:`TransformSettings` reads the ``transform`` section (over ``defaults``) once
for both :func:`transform_job_request` and ``ml2p local transform``. Settings that
are not given are left to SageMaker, which asks the container's
``GET /execution-parameters`` (max concurrent transforms, max payload, batch
strategy), except those ML2P's server needs to read the records: the split type
(``Line``), the content type (JSON Lines), the accept type (the content type) and
the assembly (``Line``).

Nothing here talks to AWS or imports boto3; the configuration is never changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ml2p import naming
from ml2p.config import Config
from ml2p.errors import ML2PError

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "TransformSettings",
    "input_url",
    "output_url",
    "transform_job_request",
    "validate_transform_name",
]

#: The content type of the records when ``transform.content_type`` is not set.
DEFAULT_CONTENT_TYPE = "application/jsonlines"
#: SageMaker's defaults for a failing invocation (``ModelClientConfig``).
DEFAULT_INVOCATION_TIMEOUT = 600
DEFAULT_INVOCATION_RETRIES = 3

# SageMaker's rule for transform job names (the project prefix is added to it).
_NAME = re.compile(r"^[A-Za-z0-9](?:-*[A-Za-z0-9])*$")


@dataclass(frozen=True)
class TransformSettings:
    """The ``transform`` section, with ML2P's defaults where the server needs one.

    ``None`` means "not set": SageMaker (and ``ml2p local transform``) then uses the
    container's ``/execution-parameters``, or for ``content_type`` and ``accept``
    the default described in :mod:`ml2p.transforms`.
    """

    instance_type: str | None = None
    instance_count: int = 1
    max_concurrent_transforms: int | None = None
    max_payload_mb: int | None = None
    batch_strategy: str | None = None
    split_type: str = "Line"
    content_type: str | None = None
    accept: str | None = None
    assemble_with: str = "Line"
    invocations_timeout_seconds: int = DEFAULT_INVOCATION_TIMEOUT
    invocations_max_retries: int = DEFAULT_INVOCATION_RETRIES

    @classmethod
    def from_config(cls, cfg: Config) -> TransformSettings:
        """Read the ``transform`` section of ``cfg`` over its ``defaults``."""
        section = cfg.section("transform")
        known = {name: section[name] for name in cls.__dataclass_fields__ if name in section}
        return cls(**known)


def validate_transform_name(name: str) -> str:
    """Return ``name`` if it is a valid transform job name (letters, digits, ``-``).

    :raises ML2PError: stating the rule, if it is not.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ML2PError(
            f"invalid transform job name {name!r}: use letters, digits and '-', starting "
            "and ending with a letter or digit (e.g. churn-1-2-0-20240131)"
        )
    return name


def input_url(cfg: Config, source: str) -> str:
    """Return the S3 prefix of a transform's input.

    :param source: An ``s3://bucket/prefix`` URL, used as given, or a dataset name
        (``<model>-YYYYMMDD``), whose files are ``datasets/<dataset>/`` under ``s3folder``.
    :raises ML2PError: if ``source`` is neither.
    """
    from ml2p.core import S3URL

    if source.startswith("s3://"):
        S3URL(source)  # checks the URL has a bucket
        return source
    try:
        naming.validate_name("dataset", source)
    except naming.NamingError as exc:
        raise ML2PError(
            f"input {source!r} is neither an s3:// prefix nor a dataset name: {exc}"
        ) from None
    return S3URL(cfg.s3folder).url(f"datasets/{source}/")


def output_url(cfg: Config, name: str) -> str:
    """Return where a transform job writes its ``.out`` files: ``transforms/<name>/``."""
    from ml2p.core import S3URL

    return S3URL(cfg.s3folder).url(f"transforms/{validate_transform_name(name)}/")


def transform_job_request(cfg: Config, name: str, model: str, source: str) -> dict[str, Any]:
    """Return the ``CreateTransformJob`` request running ``model`` over ``source``.

    :param name: The short transform job name.
    :param model: The short model name (``<model>-X-Y-Z[-dev]``; the command line checks it).
    :param source: A dataset name or an ``s3://`` prefix (see :func:`input_url`).
    :raises ML2PError: for a bad name or input.
    :raises ConfigError: if no instance type is configured.
    """
    from ml2p.sagemaker import _require

    validate_transform_name(name)
    settings = TransformSettings.from_config(cfg)
    content_type = settings.content_type or DEFAULT_CONTENT_TYPE
    request: dict[str, Any] = {
        "TransformJobName": naming.full_name(cfg.project, name),
        "ModelName": naming.full_name(cfg.project, model),
    }
    if settings.max_concurrent_transforms is not None:
        request["MaxConcurrentTransforms"] = settings.max_concurrent_transforms
    if settings.max_payload_mb is not None:
        request["MaxPayloadInMB"] = settings.max_payload_mb
    if settings.batch_strategy is not None:
        request["BatchStrategy"] = settings.batch_strategy
    request["ModelClientConfig"] = {
        "InvocationsTimeoutInSeconds": settings.invocations_timeout_seconds,
        "InvocationsMaxRetries": settings.invocations_max_retries,
    }
    request["TransformInput"] = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_url(cfg, source)}},
        "ContentType": content_type,
        "SplitType": settings.split_type,
    }
    request["TransformOutput"] = {
        "S3OutputPath": output_url(cfg, name),
        "Accept": settings.accept or content_type,
        "AssembleWith": settings.assemble_with,
    }
    request["TransformResources"] = {
        "InstanceType": _require(cfg, "transform", "instance_type"),
        "InstanceCount": settings.instance_count,
    }
    request["Tags"] = naming.project_tags(cfg.project)
    return request
