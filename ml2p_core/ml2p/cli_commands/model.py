"""ML2P 0.6's ``ml2p.cli_commands.model``: the ``ml2p model`` commands."""

from __future__ import annotations

from ml2p.cli.models import model, model_create, model_delete, model_describe, model_list

__all__ = ["model", "model_create", "model_delete", "model_describe", "model_list"]
