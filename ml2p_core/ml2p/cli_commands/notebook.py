"""ML2P 0.6's ``ml2p.cli_commands.notebook``: the ``ml2p notebook`` commands."""

from __future__ import annotations

from ml2p.cli.notebooks import (
    notebook,
    notebook_create,
    notebook_delete,
    notebook_describe,
    notebook_list,
    notebook_presigned_url,
    notebook_start,
    notebook_stop,
)

__all__ = [
    "notebook",
    "notebook_create",
    "notebook_delete",
    "notebook_describe",
    "notebook_list",
    "notebook_presigned_url",
    "notebook_start",
    "notebook_stop",
]
