"""``ml2p training-job stop`` and ``ml2p training-job logs``.

Registered on the ``training-job`` group by :mod:`ml2p.cli.jobs`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

from ml2p.cli.context import Project, pass_project
from ml2p.cli.output import echo_json, echo_log_events

__all__ = ["training_job_logs", "training_job_stop"]

#: Training job states in which more log lines may still come.
_RUNNING = ("InProgress", "Stopping")


@click.command("stop")
@click.argument("name", metavar="TRAINING_JOB")
@pass_project
def training_job_stop(prj: Project, name: str) -> None:
    """Stop TRAINING_JOB.

    SageMaker sends the training container SIGTERM and stops it 120 s later:
    ML2P then calls the ml2p_checkpoint hook (the trainer's checkpoint()).
    """
    prj.target("training job", name)
    echo_json(prj.sagemaker.stop_training_job(TrainingJobName=prj.full_name(name)))


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
@pass_project
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
