"""ML2P 0.6's ``ml2p.cli_commands.repo``: the ``ml2p repo`` commands.

0.6 had ``list`` and ``describe``; ``repo`` here also has ``create`` and ``delete``.
With the helper of :mod:`ml2p.cli_commands.utils` that 0.6's module imported.
"""

from __future__ import annotations

from ml2p.cli.repos import repo, repo_create, repo_delete, repo_describe, repo_list
from ml2p.cli_commands.utils import click_echo_json

__all__ = ["click_echo_json", "repo", "repo_create", "repo_delete", "repo_describe", "repo_list"]
