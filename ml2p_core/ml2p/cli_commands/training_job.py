"""ML2P 0.6's ``ml2p.cli_commands.training_job``: the ``ml2p training-job`` commands.

With the helpers of :mod:`ml2p.cli_commands.utils` that 0.6's module imported.
"""

from __future__ import annotations

from ml2p.cli.jobs import (
    training_job,
    training_job_create,
    training_job_describe,
    training_job_list,
    training_job_wait,
)
from ml2p.cli_commands.utils import (
    click_echo_json,
    mk_training_job,
    validate_model_type,
    validate_name,
)

__all__ = [
    "click_echo_json",
    "mk_training_job",
    "training_job",
    "training_job_create",
    "training_job_describe",
    "training_job_list",
    "training_job_wait",
    "validate_model_type",
    "validate_name",
]
