"""Loading ``ml2p.yml`` for a command: warnings about it, and its folder on ``sys.path``.

Every command that reads the project's configuration loads it through
:func:`load_project_config`, which also

* prints each of the config's warnings (keys ML2P does not use, with the
  closest known key suggested) once per run, on stderr, as
  ``Warning: <file>: key '<key>': ...``;
* makes the project folder (where ``ml2p.yml`` is) importable, so that the
  modules listed under ``plugins:`` load without ``PYTHONPATH=.``, as pytest
  does for ``conftest.py``. The folder goes last on ``sys.path``: installed
  packages keep precedence, and a project plugin hidden by an installed module
  of the same name is warned about.
"""

from __future__ import annotations

import os
from typing import Any

import click

from ml2p.config import Config, load_config

__all__ = ["load_project_config", "warn"]

_SHOWN_KEY = "ml2p.warnings_shown"


def warn(message: str) -> None:
    """Print ``Warning: <message>`` on stderr, unless this run printed it already."""
    ctx = click.get_current_context(silent=True)
    shown: set[str] = ctx.find_root().meta.setdefault(_SHOWN_KEY, set()) if ctx else set()
    if message in shown:
        return
    shown.add(message)
    click.echo(f"Warning: {message}", err=True)


def load_project_config(path: Any) -> Config:
    """Load the ``ml2p.yml`` at ``path`` for a command (see the module's description).

    :raises ml2p.errors.ConfigError: as :func:`ml2p.config.load_config`.
    """
    from ml2p.plugins import add_project_folder, shadowed_project_modules

    cfg = load_config(path)
    for message in cfg.warnings:
        warn(message)
    folder = os.path.dirname(os.path.abspath(cfg.path))
    add_project_folder(folder)
    for name, location in shadowed_project_modules(folder, cfg.plugins).items():
        warn(
            f"{cfg.path}: key 'plugins': the project's module {name!r} in {folder} is hidden "
            f"by the installed module {location}; rename the project's module"
        )
    return cfg
