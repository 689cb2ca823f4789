"""ML2P 0.6's ``ml2p.cli_commands.model``: the ``ml2p model`` commands.

With the helpers of :mod:`ml2p.cli_commands.utils` that 0.6's module imported.
"""

from __future__ import annotations

from ml2p.cli.models import model, model_create, model_delete, model_describe, model_list
from ml2p.cli_commands.utils import (
    click_echo_json,
    mk_model,
    mk_multimodel,
    training_job_name_for_model,
    validate_model_type,
    validate_name,
)

__all__ = [
    "click_echo_json",
    "mk_model",
    "mk_multimodel",
    "model",
    "model_create",
    "model_delete",
    "model_describe",
    "model_list",
    "training_job_name_for_model",
    "validate_model_type",
    "validate_name",
]
