"""ML2P 0.6's ``ml2p.cli_commands.dataset``: the ``ml2p dataset`` commands."""

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

__all__ = [
    "dataset",
    "dataset_create",
    "dataset_delete",
    "dataset_dn",
    "dataset_generate",
    "dataset_list",
    "dataset_ls",
    "dataset_rm",
    "dataset_up",
]
