"""``ml2p training-job stop`` and ``ml2p training-job logs``.

Registered on the ``training-job`` group by :mod:`ml2p.cli.jobs`.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable

import click

from ml2p.cli.context import Project
from ml2p.cli.output import echo_json
from ml2p.errors import ML2PError

__all__ = ["echo_log_events", "training_job_logs", "training_job_stop"]

#: Training job states in which more log lines may still come.
_RUNNING = ("InProgress", "Stopping")


@click.command("stop")
@click.argument("name", metavar="TRAINING_JOB")
@click.pass_obj
def training_job_stop(prj: Project, name: str) -> None:
    """Stop TRAINING_JOB.

    SageMaker sends the training container SIGTERM and stops it 120 s later:
    ML2P then calls the ml2p_checkpoint hook (the trainer's checkpoint()).
    """
    prj.target("training job", name)
    echo_json(prj.sagemaker.stop_training_job(TrainingJobName=prj.full_name(name)))


def echo_log_events(
    prj: Project, what: str, group: str, read: Callable[[Any], Iterable[Any]]
) -> None:
    """Print each event ``read(logs_client)`` yields as one JSON line.

    :raises ML2PError: naming ``what`` when the log group does not exist yet.
    """
    from botocore.exceptions import ClientError

    from ml2p.cloudwatch import event_record

    client = prj.aws_client("logs")
    try:
        for event in read(client):
            click.echo(json.dumps(event_record(event)))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        raise ML2PError(
            f"no CloudWatch logs for {what} yet: log group {group!r} does not exist"
        ) from exc


@click.command("logs")
@click.argument("name", metavar="TRAINING_JOB")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the job ends.")
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds between reads with --follow.",
)
@click.pass_obj
def training_job_logs(prj: Project, name: str, follow: bool, delay: float) -> None:
    """Print TRAINING_JOB's CloudWatch log lines, one JSON object per line.

    Each line is {"timestamp", "stream", "message"}; a stream per instance
    (<job>/algo-<n>-...).
    """
    from ml2p import cloudwatch

    full = prj.full_name(name)
    prefix = f"{full}/"
    group = cloudwatch.TRAINING_JOB_GROUP

    def running() -> bool:
        prj.target("training job", name)
        status = prj.sagemaker.describe_training_job(TrainingJobName=full)["TrainingJobStatus"]
        return status in _RUNNING

    def read(client: Any) -> Iterable[Any]:
        if follow:
            return cloudwatch.follow(client, group, prefix, running, delay)
        return cloudwatch.log_events(client, group, prefix)

    echo_log_events(prj, f"training job {name!r}", group, read)
