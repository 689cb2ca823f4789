"""ML2P 0.6's command modules: the ``ml2p`` command groups under their 0.6 paths.

Each module re-exports today's commands (from :mod:`ml2p.cli`) under the
names ML2P 0.6 gave them; :mod:`ml2p.cli_commands.utils` holds 0.6's helpers.
As in 0.6, this package's attributes ``dataset``, ``endpoint``, ... are the
command groups themselves.
"""

from __future__ import annotations

from ml2p.cli_commands.dataset import dataset
from ml2p.cli_commands.endpoint import endpoint
from ml2p.cli_commands.init import init
from ml2p.cli_commands.model import model
from ml2p.cli_commands.notebook import notebook
from ml2p.cli_commands.repo import repo
from ml2p.cli_commands.training_job import training_job

__all__ = ["dataset", "endpoint", "init", "model", "notebook", "repo", "training_job"]
