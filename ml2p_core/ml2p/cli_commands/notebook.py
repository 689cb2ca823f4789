"""ML2P 0.6's ``ml2p.cli_commands.notebook``: the ``ml2p notebook`` commands.

With the helpers of :mod:`ml2p.cli_commands.utils` that 0.6's module imported.
"""

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
from ml2p.cli_commands.utils import (
    click_echo_json,
    mk_lifecycle_config,
    mk_notebook,
    mk_repo,
)

__all__ = [
    "click_echo_json",
    "mk_lifecycle_config",
    "mk_notebook",
    "mk_repo",
    "notebook",
    "notebook_create",
    "notebook_delete",
    "notebook_describe",
    "notebook_list",
    "notebook_presigned_url",
    "notebook_start",
    "notebook_stop",
]
