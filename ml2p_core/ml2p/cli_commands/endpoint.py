"""ML2P 0.6's ``ml2p.cli_commands.endpoint``: the ``ml2p endpoint`` commands."""

from __future__ import annotations

from ml2p.cli.endpoints import (
    endpoint,
    endpoint_create,
    endpoint_delete,
    endpoint_describe,
    endpoint_invoke,
    endpoint_list,
    endpoint_wait,
)

__all__ = [
    "endpoint",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_describe",
    "endpoint_invoke",
    "endpoint_list",
    "endpoint_wait",
]
