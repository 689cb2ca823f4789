"""Training past one machine: managed spot training and input distribution.

:func:`training_job_request` is ``ml2p.sagemaker.training_job_request`` plus
what the ``train`` section's ``spot`` and ``input_distribution`` settings ask for;
without them the two return the same request.

``train.spot: {max_wait_seconds: N}``
    ``EnableManagedSpotTraining``, ``StoppingCondition.MaxWaitTimeInSeconds`` and a
    ``CheckpointConfig`` whose S3 folder is ``checkpoints/<project>-<training job>/``
    under ``s3folder``. SageMaker keeps the container's checkpoint folder
    (:meth:`ml2p.core.SageMakerEnv.checkpoint_folder`, ``/opt/ml/checkpoints``) in
    sync with it and copies it back when it restarts an interrupted job.
``train.input_distribution``
    ``FullyReplicated`` (every instance gets the whole dataset) or
    ``ShardedByS3Key`` (each instance gets about 1/N of the files), for the
    ``training`` channel, as a string or as ``{training: ...}``.

Nothing here talks to AWS or imports boto3; the configuration is never changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml2p import naming, sagemaker
from ml2p.config import Config
from ml2p.scaling_config import TRAINING_CHANNEL

__all__ = ["checkpoint_url", "input_distribution", "training_job_request"]


def checkpoint_url(cfg: Config, training_job: str) -> str:
    """Return the S3 folder a training job's checkpoints are kept in."""
    from ml2p.core import S3URL

    job = naming.full_name(cfg.project, training_job)
    return S3URL(cfg.s3folder).url(f"checkpoints/{job}/")


def input_distribution(cfg: Config, channel: str = TRAINING_CHANNEL) -> str | None:
    """Return the configured ``S3DataDistributionType`` of ``channel``, or ``None``."""
    setting = cfg.section("train").get("input_distribution")
    if isinstance(setting, Mapping):
        return setting.get(channel)
    return setting


def training_job_request(
    cfg: Config,
    training_job: str,
    dataset: str,
    model_type: str | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the ``CreateTrainingJob`` request, with spot training and input distribution.

    Parameters and errors as for ``ml2p.sagemaker.training_job_request``.
    """
    request = sagemaker.training_job_request(
        cfg, training_job, dataset, model_type, hyperparameters
    )
    spot = cfg.section("train").get("spot")
    if spot:
        request["EnableManagedSpotTraining"] = True
        request["StoppingCondition"] = {
            **request["StoppingCondition"],
            "MaxWaitTimeInSeconds": spot["max_wait_seconds"],
        }
        request["CheckpointConfig"] = {"S3Uri": checkpoint_url(cfg, training_job)}
    for channel in request["InputDataConfig"]:
        distribution = input_distribution(cfg, channel["ChannelName"])
        if distribution:
            channel["DataSource"]["S3DataSource"]["S3DataDistributionType"] = distribution
    return request
