"""ML2P 0.6's ``ml2p.cli_commands.utils``: name rules, request builders and JSON output.

Each function keeps its ML2P 0.6 signature and result and is a thin adapter:
names over :mod:`ml2p.naming`, requests over :mod:`ml2p.sagemaker` (the
``mk_*`` functions take a 0.6 project object, e.g.
:class:`ml2p.project.ModellingProject`, and never change its configuration),
output over ``ml2p.cli.output``. Where a result differs from 0.6's, the
function says so.
"""

from __future__ import annotations

from typing import Any

import click

from ml2p import naming, sagemaker
from ml2p.cli import endpoints
from ml2p.cli.output import echo_json, json_default
from ml2p.project import modelling_config

__all__ = [
    "VALIDATION_REGEXES",
    "click_echo_json",
    "date_to_string_serializer",
    "endpoint_url_for_arn",
    "mk_endpoint_config",
    "mk_lifecycle_config",
    "mk_model",
    "mk_multimodel",
    "mk_notebook",
    "mk_processing_job",
    "mk_repo",
    "mk_training_job",
    "mk_vpc_config",
    "model_name_for_endpoint",
    "training_job_name_for_model",
    "validate_model_type",
    "validate_name",
]

#: ML2P 0.6's naming rules: kind -> regular expression (see
#: :data:`ml2p.naming.LEGACY_PATTERNS`).
VALIDATION_REGEXES: dict[str, str] = dict(naming.LEGACY_PATTERNS)


def date_to_string_serializer(value: Any) -> Any:
    """JSON ``default`` for dates: ``str(value)``, as ML2P 0.6 printed them.

    Also turns bytes and response bodies into text
    (``ml2p.cli.output.json_default``).

    :raises TypeError: for anything else.
    """
    return json_default(value)


def click_echo_json(response: Any) -> None:
    """Print ``response`` as JSON indented by two spaces, as every ``ml2p`` command does."""
    echo_json(response)


def endpoint_url_for_arn(endpoint_arn: str) -> str | None:
    """Return the invocation URL of an endpoint ARN (``None`` if it is not one).

    The same answer as ``ml2p endpoint describe`` gives as ``EndpointUrl``.
    """
    return endpoints.endpoint_url_for_arn(endpoint_arn)


def validate_name(name: str, resource: str) -> None:
    """Check that ``name`` follows the convention for ``resource``.

    :param str name: The name of the SageMaker resource to validate.
    :param str resource: The kind of resource: ``"dataset"``,
        ``"training-job"``, ``"model"`` or ``"endpoint"``.
    :raises ml2p.errors.NamingError: if ML2P 0.6's rule refuses the name (a
        name only 0.6's rule accepts passes; see :func:`ml2p.naming.check_name`).
    :raises KeyError: naming ``resource``, if it is not one of those kinds (as
        in ML2P 0.6).
    """
    if resource not in naming.KINDS:
        raise KeyError(
            f"unknown kind of resource {resource!r}; expected one of {', '.join(naming.KINDS)}"
        )
    naming.check_name(resource, name)


def training_job_name_for_model(model_name: str) -> str:
    """Return a model's default training job (``churn-1-2-3-dev`` -> ``churn-1-2``)."""
    return naming.training_job_for_model(model_name)


def model_name_for_endpoint(endpoint_name: str) -> str:
    """Return an endpoint's default model (``churn-1-2-3-dev-live`` -> ``churn-1-2-3-dev``)."""
    return naming.model_for_endpoint(endpoint_name)


def validate_model_type(ctx: click.Context, param: Any, value: str | None) -> str | None:
    """The ``--model-type`` callback: return the model type a command uses.

    ``value`` if it is a defined model; if omitted, the only model defined, or
    ``None`` if none is.

    :raises click.BadParameter: if ``value`` is not defined, or is omitted
        while several models are defined.
    """
    from ml2p.cli.params import model_type_callback

    return model_type_callback(ctx, param, value)


def mk_vpc_config(subcfg: Any) -> dict[str, list[str]] | None:
    """Return the ``VpcConfig`` request for a section's ``vpc_config``, or ``None``.

    :param subcfg: A section view (``prj.train``) or any mapping.
    :raises ml2p.errors.ConfigError: if ``vpc_config`` is not a mapping of
        non-empty ``security_groups`` and ``subnets`` lists.
    """
    from ml2p.config import check_vpc_config

    value = subcfg.get("vpc_config", None)
    if value is None:
        return None
    check_vpc_config(value)
    return sagemaker.vpc_request(value)


def mk_training_job(
    prj: Any, training_job: str, dataset: str, model_type: str | None = None
) -> dict[str, Any]:
    """Return the ``CreateTrainingJob`` request: :func:`ml2p.sagemaker.training_job_request`."""
    return sagemaker.training_job_request(modelling_config(prj), training_job, dataset, model_type)


def mk_model(
    prj: Any, model_name: str, training_job: str, model_type: str | None = None
) -> dict[str, Any]:
    """Return a single-container ``CreateModel`` request.

    See :func:`ml2p.sagemaker.single_model_request`.
    """
    cfg = modelling_config(prj)
    return sagemaker.single_model_request(cfg, model_name, training_job, model_type)


def mk_multimodel(prj: Any, model_name: str, model_type: str) -> dict[str, Any]:
    """Return a multi-container ``CreateModel`` request.

    See :func:`ml2p.sagemaker.multi_model_request`.
    """
    return sagemaker.multi_model_request(modelling_config(prj), model_name, model_type)


def mk_endpoint_config(prj: Any, endpoint_name: str, model_name: str) -> dict[str, Any]:
    """Return the ``CreateEndpointConfig`` request.

    See :func:`ml2p.sagemaker.endpoint_config_request`.
    """
    return sagemaker.endpoint_config_request(modelling_config(prj), endpoint_name, model_name)


def mk_notebook(prj: Any, notebook_name: str, repo_name: str | None = None) -> dict[str, Any]:
    """Return the ``CreateNotebookInstance`` request: :func:`ml2p.sagemaker.notebook_request`."""
    return sagemaker.notebook_request(modelling_config(prj), notebook_name, repo_name)


def mk_lifecycle_config(prj: Any, notebook_name: str) -> dict[str, Any]:
    """Return the lifecycle configuration request.

    See :func:`ml2p.sagemaker.lifecycle_config_request`.
    """
    return sagemaker.lifecycle_config_request(modelling_config(prj), notebook_name)


def mk_repo(prj: Any, repo_name: str) -> dict[str, Any]:
    """Return the ``CreateCodeRepository`` request.

    See :func:`ml2p.sagemaker.code_repository_request`.
    """
    return sagemaker.code_repository_request(modelling_config(prj), repo_name)


def mk_processing_job(prj: Any, dataset: str, model_type: str | None = None) -> dict[str, Any]:
    """Return the ``CreateProcessingJob`` request: :func:`ml2p.sagemaker.processing_job_request`."""
    return sagemaker.processing_job_request(modelling_config(prj), dataset, model_type)
