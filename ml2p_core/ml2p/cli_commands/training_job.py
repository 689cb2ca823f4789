"""ML2P 0.6's ``ml2p.cli_commands.training_job``: the ``ml2p training-job`` commands."""

from __future__ import annotations

from ml2p.cli.jobs import (
    training_job,
    training_job_create,
    training_job_describe,
    training_job_list,
    training_job_wait,
)

__all__ = [
    "training_job",
    "training_job_create",
    "training_job_describe",
    "training_job_list",
    "training_job_wait",
]
