"""``ml2p-docker``: the command a SageMaker container runs.

SageMaker starts the image with ``train`` or ``serve`` as its argument (with
``ENTRYPOINT ["ml2p-docker"]``); ML2P runs ``generate-dataset`` jobs the
same way::

    ml2p-docker [--ml-folder /opt/ml/] [--model NAME] train | serve | generate-dataset

``NAME`` is an ``ml2p.models`` entry-point name or a dotted path to a
:class:`ml2p.core.Model` subclass; without ``--model`` the environment
variable ``ML2P_MODEL_CLS`` names it; with neither the command fails with
exit code 2.

The model's log lines at INFO and above go to stdout as the bare message, as
ML2P 0.6 printed them, and ML2P's own to stderr with time, level and logger
(line-buffered; SageMaker ships both to CloudWatch): see :mod:`ml2p.logs`. As
ML2P 0.6 did, the commands print ``Starting training job <name>.``,
``Starting generation of dataset <name>.`` or ``Starting server for model
version <version>.`` on stdout once the model is loaded, and ``Done.`` when
they end successfully.

The group behaves as ``ml2p`` does (:mod:`ml2p.cli.group`): ``-h``,
``--version``, and an error that names the problem (no model, a bad server
setting) is one line on stderr, ``Error: <message>``; an unexpected one
prints its traceback, for the job's log. :func:`main` returns the exit
status. The click group is :data:`ml2p_docker` (its ML2P 0.6 name; also
``cli``); each command receives :class:`DockerOptions`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Sequence

import click

from ml2p import runtime
from ml2p.cli.errors import CommandError
from ml2p.cli.group import CommandGroup, run, version_option
from ml2p.core import SageMakerEnv
from ml2p.errors import ML2PError, ModelNotFoundError
from ml2p.logs import configure_logging
from ml2p.variables import ML2P_MODEL_CLS as MODEL_ENV
from ml2p.variables import SAGEMAKER_BIND_TO_PORT


@dataclasses.dataclass(frozen=True)
class DockerOptions:
    """What every ``ml2p-docker`` command receives: the group's options."""

    #: The SageMaker folder (``--ml-folder``).
    ml_folder: str
    #: The model named with ``--model``, if any.
    model: str | None = None

    def check_model(self) -> None:
        """Raise a usage error (exit status 2) if neither --model nor the environment names one."""
        if self.model:
            return
        try:
            # ML2P_MODEL_CLS may come from the process environment or, in a
            # training job, from the ML2P_ENV hyperparameter.
            env = SageMakerEnv(self.ml_folder)
        except ML2PError:
            return  # a broken environment is reported by the command itself
        try:
            runtime.model_reference(None, env)
        except ModelNotFoundError as exc:
            raise CommandError(str(exc), exit_code=runtime.EXIT_USAGE) from exc


pass_options = click.make_pass_decorator(DockerOptions)


class DockerGroup(CommandGroup):
    """The ``ml2p-docker`` group: an unexpected error's traceback goes to the job's log."""

    def shows_traceback(self, ctx: click.Context, exc: Exception) -> bool:
        return not isinstance(exc, ML2PError)


def _setup_logging(debug: bool = False) -> None:
    runtime.prepare_stdio()
    configure_logging(logging.DEBUG if debug else logging.INFO)


def _done(code: int) -> None:
    """End the command with ``code``, printing ML2P 0.6's ``Done.`` on success."""
    if code == 0:
        click.echo("Done.")
    click.get_current_context().exit(code)


@click.group(cls=DockerGroup)
@click.option(
    "--ml-folder",
    default="/opt/ml/",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The SageMaker folder.",
)
@click.option(
    "--model",
    default=None,
    metavar="NAME",
    help=f"An ml2p.models entry-point name or a dotted class path (default: ${MODEL_ENV}).",
)
@version_option("ml2p-docker")
@click.pass_context
def cli(ctx: click.Context, ml_folder: str, model: str | None) -> None:
    """Run a model's training, serving or dataset generation inside a SageMaker container."""
    ctx.obj = DockerOptions(ml_folder, model)


#: The ``ml2p-docker`` click group under its ML2P 0.6 name.
ml2p_docker = cli


@cli.command()
@pass_options
def train(options: DockerOptions) -> None:
    """Train the model; write output/failure and exit non-zero on failure."""
    options.check_model()
    _setup_logging()
    code = runtime.train(
        options.ml_folder,
        options.model,
        on_start=lambda env: click.echo(f"Starting training job {env.training_job_name}."),
    )
    _done(code)


@cli.command("generate-dataset")
@pass_options
def generate_dataset(options: DockerOptions) -> None:
    """Generate a dataset; write output/failure and exit non-zero on failure."""
    options.check_model()
    _setup_logging()
    code = runtime.generate_dataset(
        options.ml_folder,
        options.model,
        on_start=lambda env: click.echo(f"Starting generation of dataset {env.dataset_name}."),
    )
    _done(code)


@cli.command()
@click.option(
    "--host",
    default="0.0.0.0",
    show_default=True,
    help="The address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help=f"The port to listen on (default: ${SAGEMAKER_BIND_TO_PORT}, else 8080).",
)
@click.option(
    "--debug/--no-debug",
    default=False,
    show_default=True,
    help=(
        "Log at DEBUG level (the model's and ML2P's loggers; the AWS SDK's stay at INFO). "
        "Error responses never include tracebacks."
    ),
)
@pass_options
def serve(options: DockerOptions, host: str, port: int | None, debug: bool) -> None:
    """Serve predictions over HTTP until SIGTERM."""
    from ml2p.serving import serve as run_server

    options.check_model()
    _setup_logging(debug)
    master = os.getpid()
    try:
        version = SageMakerEnv(options.ml_folder).model_version
        click.echo(f"Starting server for model version {version}.")
        run_server(options.ml_folder, options.model, host=host, port=port)
    except SystemExit as exc:
        # gunicorn ends the server, and each forked worker, with SystemExit:
        # the server (not a worker) stopping cleanly is done.
        if os.getpid() == master and exc.code in (0, None):
            click.echo("Done.")
        raise
    _done(0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ml2p-docker`` with ``argv`` (default ``sys.argv[1:]``); return its exit status."""
    return run(cli, argv, "ml2p-docker")


if __name__ == "__main__":
    sys.exit(main())
