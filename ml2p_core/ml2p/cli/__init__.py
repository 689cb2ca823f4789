"""The ``ml2p`` command line: manage an ML2P project's resources on SageMaker.

``ml2p --help`` stays fast: the command modules are imported only when a
command is looked up, boto3 only when a command first needs a client, and
plugin entry points are scanned only when a name is not a built-in command
(plugins add commands through the ``ml2p_cli_commands`` hook, to that run of
``ml2p`` only).

Every error ends the command with one line on stderr, ``Error: <message>``,
and exit status 1 (2 for usage errors); ``--debug`` shows the traceback. The
group, ``-h``, ``--version`` and :func:`main` behave as ``ml2p-docker``'s do
(:mod:`ml2p.cli.group`).
Commands that load ``ml2p.yml`` print its warnings (keys ML2P does not use)
once on stderr, and make its folder importable for the project's plugins
(see :mod:`ml2p.cli.project_config`).

ML2P 0.6's names are here too, at their 0.6 paths: the group as ``ml2p``,
its command groups (``init``, ``dataset``, ``training_job``, ``model``,
``endpoint``, ``notebook``, ``repo``), ``ModellingProject``,
``ModellingProjectWithSagemakerClient`` and ``ml2p_version``. All but the
version are imported on first use, so that ``ml2p --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

import click

from ml2p import __version__ as ml2p_version
from ml2p import lifecycle
from ml2p.cli.group import CommandGroup, run, version_option
from ml2p.config import DEFAULT_CONFIG_FILE
from ml2p.errors import ConfigError

__all__ = [
    "BUILTIN_COMMANDS",
    "MainGroup",
    "ModellingProject",
    "ModellingProjectWithSagemakerClient",
    "cli",
    "dataset",
    "endpoint",
    "init",
    "main",
    "ml2p",
    "ml2p_version",
    "model",
    "notebook",
    "repo",
    "training_job",
]

#: Built-in command name -> (module, attribute), imported on first use.
BUILTIN_COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("ml2p.cli.project_folder", "init"),
    "dataset": ("ml2p.cli.datasets", "dataset"),
    "training-job": ("ml2p.cli.jobs", "training_job"),
    "model": ("ml2p.cli.models", "model"),
    "endpoint": ("ml2p.cli.endpoints", "endpoint"),
    "notebook": ("ml2p.cli.notebooks", "notebook"),
    "repo": ("ml2p.cli.repos", "repo"),
    "models": ("ml2p.cli.plugins", "models"),
    "plugins": ("ml2p.cli.plugins", "plugins"),
    "validate": ("ml2p.cli.plugins", "validate"),
    "local": ("ml2p.cli.local", "local"),
    "transform": ("ml2p.cli.transforms", "transform"),
    "predictions": ("ml2p.cli.predictions", "predictions"),
}


#: ML2P 0.6's commands, also attributes of this module as in 0.6 (``ml2p.cli.dataset``, ...).
_V06_COMMANDS = ("init", "dataset", "training-job", "model", "endpoint", "notebook", "repo")

#: Where a run of ``ml2p`` keeps its plugins' commands (in its root context's meta).
_PLUGIN_COMMANDS_KEY = "ml2p.plugin_commands"


class MainGroup(CommandGroup):
    """The top-level group: lazy built-in commands, plugin commands; ``--debug`` tracebacks.

    Plugin commands belong to one run of ``ml2p``: its plugins add them to a
    group made for that run (``ml2p_cli_commands``), so a command of one run's
    plugins never shows up in another run in the same process.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Listing never scans entry points: plugin commands only if this run loaded them.
        loaded = ctx.find_root().meta.get(_PLUGIN_COMMANDS_KEY, {})
        return sorted(set(BUILTIN_COMMANDS) | set(self.commands) | set(loaded))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in BUILTIN_COMMANDS:
            return self._builtin(cmd_name)
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        return self._plugin_commands(ctx).get(cmd_name)

    def _builtin(self, name: str) -> click.Command:
        module_name, attr = BUILTIN_COMMANDS[name]
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        """The commands this run's plugins add, loaded on first use."""
        meta = ctx.find_root().meta
        if _PLUGIN_COMMANDS_KEY not in meta:
            from ml2p.cli.context import command_plugin_manager
            from ml2p.cli.errors import translate

            added = click.Group(self.name)
            try:
                lifecycle.add_cli_commands(
                    command_plugin_manager(_project_plugins(ctx), ctx), added
                )
            except Exception as exc:
                raise translate(exc, ctx) from exc
            for name in sorted(set(added.commands) & set(BUILTIN_COMMANDS)):
                # A plugin may add commands, not replace the built-in ones.
                del added.commands[name]
                click.echo(
                    f"Warning: a plugin's {name!r} command hides a built-in; ignored", err=True
                )
            meta[_PLUGIN_COMMANDS_KEY] = added.commands
        commands: dict[str, click.Command] = meta[_PLUGIN_COMMANDS_KEY]
        return commands

    def shows_traceback(self, ctx: click.Context, exc: Exception) -> bool:
        return bool(ctx.params.get("debug"))


def _project_plugins(ctx: click.Context) -> Sequence[str]:
    """The config's ``plugins:`` if the config file loads, else none."""
    path = ctx.params.get("cfg") or DEFAULT_CONFIG_FILE
    if not os.path.exists(path):
        return ()
    from ml2p.cli.project_config import load_project_config

    try:
        return load_project_config(path).plugins
    except ConfigError:
        return ()


@click.group(cls=MainGroup, epilog="Plugins may add commands: see `ml2p plugins`.")
@click.option(
    "--cfg",
    default=DEFAULT_CONFIG_FILE,
    show_default=True,
    help="Project configuration file.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@version_option("ml2p")
@click.pass_context
def cli(ctx: click.Context, cfg: str, quiet: bool, debug: bool) -> None:
    """ML2P: a minimal framework for running models on AWS SageMaker.

    Commands that read the project (all but models, plugins and local
    invoke) load the configuration file given with --cfg.
    """
    from ml2p.cli.context import ModellingProjectWithSagemakerClient

    # ML2P 0.6's command object; the configuration is read when a command first needs it.
    ctx.obj = ModellingProjectWithSagemakerClient(cfg, quiet=quiet, debug=debug, load=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ml2p`` with ``argv`` (default ``sys.argv[1:]``); return its exit status."""
    return run(cli, argv, "ml2p")


#: The ``ml2p`` group under its ML2P 0.6 name.
ml2p = cli


#: ML2P 0.6's names of ``ml2p.cli`` that are imported on first use: name -> (module, attribute).
_LAZY_NAMES: dict[str, tuple[str, str]] = {
    "ModellingProject": ("ml2p.project", "ModellingProject"),
    "ModellingProjectWithSagemakerClient": (
        "ml2p.cli.context",
        "ModellingProjectWithSagemakerClient",
    ),
    # The command groups, under their Python names (``training_job`` is ``training-job``).
    **{name.replace("-", "_"): BUILTIN_COMMANDS[name] for name in _V06_COMMANDS},
}


def __getattr__(name: str) -> Any:
    # Without loading the command modules (or boto3) on start-up.
    if name in _LAZY_NAMES:
        module_name, attr = _LAZY_NAMES[name]
        return getattr(importlib.import_module(module_name), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
