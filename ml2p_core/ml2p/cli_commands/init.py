"""ML2P 0.6's ``ml2p.cli_commands.init``: the ``ml2p init`` command."""

from __future__ import annotations

from ml2p.cli.project_folder import init

__all__ = ["init"]
