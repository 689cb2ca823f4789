"""ML2P 0.6's ``ml2p.cli_commands.endpoint``: the ``ml2p endpoint`` commands.

With the helpers of :mod:`ml2p.cli_commands.utils` that 0.6's module imported.
"""

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
from ml2p.cli_commands.utils import (
    click_echo_json,
    endpoint_url_for_arn,
    mk_endpoint_config,
    model_name_for_endpoint,
    validate_name,
)

__all__ = [
    "click_echo_json",
    "endpoint",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_describe",
    "endpoint_invoke",
    "endpoint_list",
    "endpoint_url_for_arn",
    "endpoint_wait",
    "mk_endpoint_config",
    "model_name_for_endpoint",
    "validate_name",
]
