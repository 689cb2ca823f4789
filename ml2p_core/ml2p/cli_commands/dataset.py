"""ML2P 0.6's ``ml2p.cli_commands.dataset``: the ``ml2p dataset`` commands.

With the helpers of :mod:`ml2p.cli_commands.utils` that 0.6's module imported.
"""

from __future__ import annotations

from ml2p.cli.datasets import (
    dataset,
    dataset_create,
    dataset_delete,
    dataset_dn,
    dataset_generate,
    dataset_list,
    dataset_ls,
    dataset_rm,
    dataset_up,
)
from ml2p.cli_commands.utils import (
    click_echo_json,
    mk_processing_job,
    validate_model_type,
    validate_name,
)

__all__ = [
    "click_echo_json",
    "dataset",
    "dataset_create",
    "dataset_delete",
    "dataset_dn",
    "dataset_generate",
    "dataset_list",
    "dataset_ls",
    "dataset_rm",
    "dataset_up",
    "mk_processing_job",
    "validate_model_type",
    "validate_name",
]
