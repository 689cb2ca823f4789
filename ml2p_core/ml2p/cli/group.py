"""What ``ml2p`` and ``ml2p-docker`` share: the group class, ``--version`` and ``main()``.

Both command lines are click groups of :class:`CommandGroup`, and so behave
alike:

* ``-h`` and ``--help`` show the help of every command, ``--version`` prints
  ``<program>, version <version>`` (as ML2P 0.6 did);
* each group keeps one object in the click context (``ctx.obj``) that its
  commands receive through a pass decorator (``ml2p``: the project,
  :func:`ml2p.cli.context.pass_project`; ``ml2p-docker``: its options);
* a command reports an error by raising it: click's usage errors exit with
  status 2, :class:`~ml2p.cli.errors.CommandError` with its own status, and
  any other exception becomes one line, ``Error: <message>``, with status 1
  (:func:`~ml2p.cli.errors.translate`), unless the group shows its traceback
  (:meth:`CommandGroup.shows_traceback`);
* :func:`run` runs a group as its console script does and returns the exit
  status: each module's ``main(argv=None) -> int`` is ``run`` of its group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import click

from ml2p import __version__
from ml2p.cli.errors import translate

__all__ = ["HELP_OPTION_NAMES", "CommandGroup", "run", "version_option"]

#: The options that show a command's help.
HELP_OPTION_NAMES: list[str] = ["-h", "--help"]


class CommandGroup(click.Group):
    """A click group with ``-h`` and one error path (see the module's description)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        settings = kwargs.setdefault("context_settings", {})
        settings.setdefault("help_option_names", HELP_OPTION_NAMES)
        super().__init__(*args, **kwargs)

    def shows_traceback(self, ctx: click.Context, exc: Exception) -> bool:
        """Whether ``exc``, raised by a command, is shown with its traceback.

        By default never: it is reported as one line.
        """
        return False

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if self.shows_traceback(ctx, exc):
                raise
            raise translate(exc, ctx) from exc


def version_option(prog_name: str) -> Callable[[Any], Any]:
    """``--version``: print ``<prog_name>, version <ML2P's version>`` and exit."""
    return click.version_option(__version__, "--version", prog_name=prog_name)


def run(group: click.Command, argv: Sequence[str] | None, prog_name: str) -> int:
    """Run ``group`` on ``argv`` (default ``sys.argv[1:]``) as a console script; return its status.

    click prints what the command reports; nothing is raised but an
    exception the group shows with its traceback.
    """
    try:
        group.main(args=list(argv) if argv is not None else None, prog_name=prog_name)
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        click.echo(code, err=True)  # sys.exit("message") prints it and exits with 1
        return 1
    return 0
