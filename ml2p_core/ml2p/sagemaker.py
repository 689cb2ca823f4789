"""Build SageMaker API requests from an ML2P project configuration.

Every function here takes a :class:`ml2p.config.Config` and returns a new
dict of keyword arguments for one boto3 SageMaker call. The configuration is
never changed (``Config`` hands out copies, and nothing here writes into what
it hands out). Nothing here talks to AWS or imports boto3.

For an ML2P 0.6 ``ml2p.yml`` the requests are the ones ML2P 0.6.0 sent, field
for field, except where noted in a function's description. The settings that
are new here (``train.instance_count``, ``deploy.instance_count``, ...) only
add to them, and their defaults are 0.6's fixed values.

Resource names are ``<project>-<name>`` (:mod:`ml2p.naming`); short names are
used as given (the ``ml2p`` command checks them against the naming rules
first), but a full name longer than SageMaker's 63 characters is refused.
Every resource but a lifecycle configuration is tagged
``ml2p-project=<project>`` (code repositories too, which ML2P 0.6 left
untagged). Containers get the ML2P environment variables (``ML2P_PROJECT``,
``ML2P_S3_URL``, ``ML2P_MODEL_CLS``, one of ``ML2P_TRAINING_JOB``,
``ML2P_MODEL_VERSION`` or ``ML2P_DATASET``, and ``ML2P_PROJECT_PLUGINS`` when
the project lists plugins).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from ml2p import naming
from ml2p.config import Config
from ml2p.errors import ConfigError
from ml2p.variables import (
    ML2P_DATASET,
    ML2P_MODEL_CLS,
    ML2P_MODEL_VERSION,
    ML2P_PROJECT,
    ML2P_PROJECT_PLUGINS,
    ML2P_RECORD_INVOKES,
    ML2P_RECORD_KMS_KEY_ID,
    ML2P_S3_URL,
    ML2P_TRAINING_JOB,
)

__all__ = [
    "DATASET_MAX_RUNTIME_SECONDS",
    "DATASET_VOLUME_SIZE_GB",
    "TRAIN_INSTANCE_COUNT",
    "TRAIN_MAX_RUNTIME_SECONDS",
    "TRAIN_VOLUME_SIZE_GB",
    "base_environment",
    "code_repository_request",
    "endpoint_config_request",
    "endpoint_request",
    "lifecycle_config_request",
    "model_artifact_url",
    "model_class",
    "model_request",
    "multi_model_request",
    "notebook_request",
    "processing_job_request",
    "resolve_model_type",
    "single_model_request",
    "training_job_request",
    "vpc_config",
    "vpc_request",
]

#: ML2P 0.6's training defaults, used when ``train`` does not set them.
TRAIN_INSTANCE_COUNT = 1
TRAIN_VOLUME_SIZE_GB = 20
TRAIN_MAX_RUNTIME_SECONDS = 60 * 60
#: ML2P 0.6's dataset generation (processing job) limits.
DATASET_VOLUME_SIZE_GB = 20
DATASET_MAX_RUNTIME_SECONDS = 10 * 60 * 60


def _require(cfg: Config, section: str, key: str) -> Any:
    settings = cfg.section(section)
    if settings.get(key) in (None, ""):
        raise ConfigError(
            f"is required to create a {section} resource (set it in '{section}' or 'defaults')",
            path=cfg.path,
            key=f"{section}.{key}",
        )
    return settings[key]


def vpc_config(cfg: Config, section: str) -> dict[str, list[str]] | None:
    """Return ``VpcConfig`` (``SecurityGroupIds``, ``Subnets``) for ``section``, or ``None``."""
    return vpc_request(cfg.section(section).get("vpc_config"))


def vpc_request(vpc: Mapping[str, Any] | None) -> dict[str, list[str]] | None:
    """Return ``VpcConfig`` for a validated ``vpc_config`` setting (``None`` for none)."""
    if vpc is None:
        return None
    return {"SecurityGroupIds": list(vpc["security_groups"]), "Subnets": list(vpc["subnets"])}


def resolve_model_type(cfg: Config, model_type: str | None) -> str | None:
    """Decide which ``models`` entry of ``cfg`` a resource uses, as ML2P 0.6 did.

    ``model_type`` if given (it must be defined); else the only defined model;
    else ``None`` if no model is defined.

    :raises ConfigError: if ``model_type`` is not defined
        (:meth:`~ml2p.config.Config.check_model_defined`), or several models are
        defined and none was chosen.
    """
    models = cfg.models
    if model_type is not None:
        cfg.check_model_defined(model_type)
        return model_type
    if not models:
        return None
    if len(models) == 1:
        return next(iter(models))
    raise ConfigError(
        f"several models are defined: choose one with --model-type ({', '.join(sorted(models))})",
        path=cfg.path,
        key="models",
    )


def base_environment(cfg: Config) -> dict[str, str]:
    """Return the variables every ML2P container gets (project, S3 URL, plugins)."""
    return _environment(cfg, {}, {})


def _environment(cfg: Config, first: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    # ML2P 0.6's order: the variable that sets the environment type, the
    # project's, then the model's; the plugins (new here) come last.
    from ml2p.core import S3URL

    env = {**first, ML2P_PROJECT: cfg.project, ML2P_S3_URL: S3URL(cfg.s3folder).url()}
    env.update(extra)
    if cfg.plugins:
        env[ML2P_PROJECT_PLUGINS] = ",".join(cfg.plugins)
    return env


def model_class(cfg: Config, model_type: str | None) -> str | None:
    """Return the ``ML2P_MODEL_CLS`` of a training job, processing job or single model.

    ``None`` when no model type is chosen, or when the model names no class;
    otherwise :meth:`ml2p.config.Config.model_class` (for a multi-container
    model, its ``model-defaults.cls``, as ML2P 0.6 did).

    :raises ConfigError: if the model is not defined, its reference is
        unusable, or it is a multi-container model without ``model-defaults.cls``.
    """
    return None if model_type is None else cfg.model_class(model_type)


def _model_cls_env(cfg: Config, model_type: str | None) -> dict[str, str]:
    cls = model_class(cfg, model_type)
    return {} if cls is None else {ML2P_MODEL_CLS: cls}


def _record_invokes_env(cfg: Config) -> dict[str, str]:
    deploy = cfg.section("deploy")
    # As ML2P 0.6: set only when recording is on (absent means off).
    env = {ML2P_RECORD_INVOKES: "true"} if deploy.get("record_invokes") else {}
    kms_key_id = deploy.get("record_kms_key_id")
    if kms_key_id:
        # New here: the KMS key records are encrypted with; absent without one.
        env[ML2P_RECORD_KMS_KEY_ID] = str(kms_key_id)
    return env


def model_artifact_url(cfg: Config, training_job: str) -> str:
    """Return the S3 URL of a training job's ``model.tar.gz``."""
    from ml2p.core import S3URL

    job = naming.full_name(cfg.project, training_job)
    return S3URL(cfg.s3folder).url(f"models/{job}/output/model.tar.gz")


def training_job_request(
    cfg: Config,
    training_job: str,
    dataset: str,
    model_type: str | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the ``CreateTrainingJob`` request.

    The ML2P variables are the container ``Environment``, as in ML2P 0.6.
    ``hyperparameters``, if any, are encoded with
    :func:`ml2p.hyperparameters.encode` as ``HyperParameters`` (absent
    otherwise, as in 0.6). Instance count, volume size and maximum runtime
    come from the ``train`` section (``instance_count``, ``volume_size_gb``,
    ``max_runtime_seconds``), defaulting to 0.6's 1, 20 GB and one hour. A
    multi-container ``model_type`` trains its ``model-defaults.cls``.

    :raises HyperparameterError: if the hyperparameters cannot be encoded or
        use ``ML2P_ENV``, the key :class:`ml2p.core.SageMakerEnv` reads ML2P's
        own settings from.
    """
    from ml2p import hyperparameters as hp
    from ml2p.core import S3URL

    train = cfg.section("train")
    s3 = S3URL(cfg.s3folder)
    job_name = naming.full_name(cfg.project, training_job)
    env = _environment(cfg, {ML2P_TRAINING_JOB: job_name}, _model_cls_env(cfg, model_type))
    user = dict(hyperparameters or {})
    hp.check_reserved(user)
    request: dict[str, Any] = {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {
            "TrainingImage": _require(cfg, "train", "image"),
            "TrainingInputMode": "File",
        },
        # Training reads its data from the channel and writes the model folder.
        "EnableNetworkIsolation": True,
        "InputDataConfig": [
            {
                "ChannelName": "training",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": s3.url(f"datasets/{dataset}"),
                    }
                },
            }
        ],
        "Environment": env,
        "OutputDataConfig": {"S3OutputPath": s3.url("models/")},
        "ResourceConfig": {
            "InstanceCount": train.get("instance_count", TRAIN_INSTANCE_COUNT),
            "InstanceType": _require(cfg, "train", "instance_type"),
            "VolumeSizeInGB": train.get("volume_size_gb", TRAIN_VOLUME_SIZE_GB),
        },
        "RoleArn": _require(cfg, "train", "role"),
        "StoppingCondition": {
            "MaxRuntimeInSeconds": train.get("max_runtime_seconds", TRAIN_MAX_RUNTIME_SECONDS)
        },
        "Tags": naming.project_tags(cfg.project),
    }
    if user:
        request["HyperParameters"] = hp.encode(user)
    vpc = vpc_config(cfg, "train")
    if vpc:
        request["VpcConfig"] = vpc
    return request


def processing_job_request(
    cfg: Config, dataset: str, model_type: str | None = None
) -> dict[str, Any]:
    """Return the ``CreateProcessingJob`` request that generates ``dataset``.

    The container runs ``generate-dataset`` with ``ML2P_DATASET`` set to
    the dataset name. A multi-container ``model_type`` runs its
    ``model-defaults.cls``.
    """
    network: dict[str, Any] = {
        "EnableInterContainerTrafficEncryption": False,
        # The generator reads its sources and uploads the dataset itself.
        "EnableNetworkIsolation": False,
    }
    vpc = vpc_config(cfg, "dataset")
    if vpc:
        network["VpcConfig"] = vpc
    return {
        "ProcessingJobName": naming.full_name(cfg.project, dataset),
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": _require(cfg, "dataset", "instance_type"),
                "VolumeSizeInGB": DATASET_VOLUME_SIZE_GB,
            }
        },
        "AppSpecification": {
            "ImageUri": _require(cfg, "dataset", "image"),
            "ContainerArguments": ["generate-dataset"],
        },
        "Environment": _environment(cfg, {ML2P_DATASET: dataset}, _model_cls_env(cfg, model_type)),
        "NetworkConfig": network,
        "RoleArn": _require(cfg, "dataset", "role"),
        "StoppingCondition": {"MaxRuntimeInSeconds": DATASET_MAX_RUNTIME_SECONDS},
        "Tags": naming.project_tags(cfg.project),
    }


def _is_multi_container(cfg: Config, model_type: str | None) -> bool:
    return model_type is not None and isinstance(cfg.models.get(model_type), dict)


def model_request(
    cfg: Config,
    model_name: str,
    training_job: str | None = None,
    model_type: str | None = None,
) -> dict[str, Any]:
    """Return the ``CreateModel`` request for ``model_name``.

    :func:`multi_model_request` if ``model_type`` is a multi-container model,
    else :func:`single_model_request`.
    """
    if _is_multi_container(cfg, model_type):
        assert model_type is not None
        return multi_model_request(cfg, model_name, model_type)
    return single_model_request(cfg, model_name, training_job, model_type)


def _model_request(
    cfg: Config, full_name: str, containers: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "ModelName": full_name,
        **containers,
        "ExecutionRoleArn": _require(cfg, "deploy", "role"),
        "Tags": naming.project_tags(cfg.project),
        "EnableNetworkIsolation": False,
        **extra,
    }
    vpc = vpc_config(cfg, "deploy")
    if vpc:
        request["VpcConfig"] = vpc
    return request


def single_model_request(
    cfg: Config,
    model_name: str,
    training_job: str | None = None,
    model_type: str | None = None,
) -> dict[str, Any]:
    """Return the ``CreateModel`` request of a single-container model.

    The container serves ``training_job``'s artifact (default:
    :func:`ml2p.naming.training_job_for_model`) with ``model_type``'s class
    (:func:`model_class`; a multi-container type gives its
    ``model-defaults.cls``, as in ML2P 0.6).
    """
    full = naming.full_name(cfg.project, model_name)
    job = training_job or naming.training_job_for_model(model_name)
    env = _environment(
        cfg,
        {ML2P_MODEL_VERSION: full},
        {**_model_cls_env(cfg, model_type), **_record_invokes_env(cfg)},
    )
    container = {
        "Image": _require(cfg, "deploy", "image"),
        "ModelDataUrl": model_artifact_url(cfg, job),
        "Environment": env,
    }
    return _model_request(cfg, full, {"PrimaryContainer": container}, {})


def multi_model_request(cfg: Config, model_name: str, model_type: str) -> dict[str, Any]:
    """Return the ``CreateModel`` request of the multi-container model ``model_type``.

    One container per entry of the model, in configured order, each serving
    its own training job's artifact with its own class, and the ``deploy``
    image with the container's ``image_tag``; invoked directly
    (``InferenceExecutionConfig`` mode ``Direct``: pick one with
    ``TargetContainerHostname``). As in ML2P 0.6, each container's
    ``ML2P_MODEL_VERSION`` is ``<project>-<container>``, so its predictions
    are recorded under the container's name. Unlike 0.6, an image whose
    registry has a port (``host:5000/repo:1.0``) keeps it.
    """
    full = naming.full_name(cfg.project, model_name)
    image = _require(cfg, "deploy", "image")
    containers = []
    for hostname, spec in cfg.model_containers(model_type).items():
        env = _environment(
            cfg,
            {ML2P_MODEL_VERSION: naming.full_name(cfg.project, hostname)},
            {**_record_invokes_env(cfg), ML2P_MODEL_CLS: spec["cls"]},
        )
        containers.append(
            {
                "ContainerHostname": hostname,
                "Image": naming.image_with_tag(image, spec.get("image_tag")),
                "ModelDataUrl": model_artifact_url(cfg, spec["training_job"]),
                "Environment": env,
            }
        )
    return _model_request(
        cfg, full, {"Containers": containers}, {"InferenceExecutionConfig": {"Mode": "Direct"}}
    )


def endpoint_config_request(cfg: Config, endpoint: str, model_name: str) -> dict[str, Any]:
    """Return the ``CreateEndpointConfig`` request: one variant serving ``model_name``."""
    deploy = cfg.section("deploy")
    return {
        "EndpointConfigName": naming.endpoint_config_name(cfg.project, endpoint),
        "ProductionVariants": [
            {
                "VariantName": naming.variant_name(cfg.project, model_name),
                "ModelName": naming.full_name(cfg.project, model_name),
                "InitialInstanceCount": deploy.get("instance_count", 1),
                "InstanceType": _require(cfg, "deploy", "instance_type"),
                "InitialVariantWeight": 1.0,
            }
        ],
        "Tags": naming.project_tags(cfg.project),
    }


def endpoint_request(cfg: Config, endpoint: str) -> dict[str, Any]:
    """Return the ``CreateEndpoint`` request for ``endpoint`` and its configuration."""
    return {
        "EndpointName": naming.full_name(cfg.project, endpoint),
        "EndpointConfigName": naming.endpoint_config_name(cfg.project, endpoint),
        "Tags": naming.project_tags(cfg.project),
    }


def _script(cfg: Config, key: str, path: str) -> list[dict[str, str]]:
    # Read as text with universal newlines, as ML2P 0.6 did: a script saved
    # with CRLF line ends is sent with LF ones, which the shell can run.
    try:
        with open(path, encoding="utf-8") as f:
            content = f.read()
    except OSError as exc:
        raise ConfigError(
            f"cannot read lifecycle script {path!r}: {exc.strerror or exc}",
            path=cfg.path,
            key=f"notebook.{key}",
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"lifecycle script {path!r} is not UTF-8 text: {exc}",
            path=cfg.path,
            key=f"notebook.{key}",
        ) from exc
    return [{"Content": base64.b64encode(content.encode("utf-8")).decode("ascii")}]


def lifecycle_config_request(cfg: Config, notebook: str) -> dict[str, Any]:
    """Return the ``CreateNotebookInstanceLifecycleConfig`` request.

    ``notebook.on_start`` and ``notebook.on_create`` are paths of scripts:
    their contents are read as UTF-8 text (line ends become LF) and
    base64-encoded.
    """
    settings = cfg.section("notebook")
    request: dict[str, Any] = {
        "NotebookInstanceLifecycleConfigName": naming.lifecycle_config_name(cfg.project, notebook)
    }
    if settings.get("on_start"):
        request["OnStart"] = _script(cfg, "on_start", settings["on_start"])
    if settings.get("on_create"):
        request["OnCreate"] = _script(cfg, "on_create", settings["on_create"])
    return request


def code_repository_request(cfg: Config, repo: str) -> dict[str, Any]:
    """Return the ``CreateCodeRepository`` request from ``notebook.repo_*`` settings.

    Unlike ML2P 0.6, the repository is tagged ``ml2p-project=<project>``
    (listings tell projects apart by it), and ``repo_branch`` and
    ``repo_secret_arn`` are optional, as they are for SageMaker.
    """
    settings = cfg.section("notebook")
    git: dict[str, str] = {"RepositoryUrl": _require(cfg, "notebook", "repo_url")}
    if settings.get("repo_branch"):
        git["Branch"] = settings["repo_branch"]
    if settings.get("repo_secret_arn"):
        git["SecretArn"] = settings["repo_secret_arn"]
    return {
        "CodeRepositoryName": naming.full_name(cfg.project, repo),
        "GitConfig": git,
        "Tags": naming.project_tags(cfg.project),
    }


def notebook_request(cfg: Config, notebook: str, repo: str | None = None) -> dict[str, Any]:
    """Return the ``CreateNotebookInstance`` request.

    ``repo`` (a short code repository name) becomes ``DefaultCodeRepository``.
    ``notebook.volume_size`` is required, as in ML2P 0.6.

    :raises ConfigError: if ``direct_internet_access`` is ``Disabled`` (the
        default) without a ``subnet_id``, which SageMaker refuses.
    """
    settings = cfg.section("notebook")
    access = settings.get("direct_internet_access", "Disabled")
    if isinstance(access, bool):
        access = "Enabled" if access else "Disabled"
    request: dict[str, Any] = {
        "NotebookInstanceName": naming.full_name(cfg.project, notebook),
        "InstanceType": _require(cfg, "notebook", "instance_type"),
        "RoleArn": _require(cfg, "notebook", "role"),
        "Tags": naming.project_tags(cfg.project),
        "LifecycleConfigName": naming.lifecycle_config_name(cfg.project, notebook),
        "VolumeSizeInGB": _require(cfg, "notebook", "volume_size"),
        "DirectInternetAccess": access,
    }
    if repo is not None:
        request["DefaultCodeRepository"] = naming.full_name(cfg.project, repo)
    if settings.get("subnet_id"):
        request["SubnetId"] = settings["subnet_id"]
    if settings.get("security_group_ids"):
        request["SecurityGroupIds"] = list(settings["security_group_ids"])
    if access == "Disabled" and "SubnetId" not in request:
        raise ConfigError(
            "is Disabled (the default), which SageMaker only allows together with "
            "notebook.subnet_id: set subnet_id or set direct_internet_access to true",
            path=cfg.path,
            key="notebook.direct_internet_access",
        )
    return request
