"""``ml2p-docker``: the command a SageMaker container runs.

SageMaker starts the image with ``train`` or ``serve`` as its argument (with
``ENTRYPOINT ["ml2p-docker"]``); ML2P runs ``generate-dataset`` jobs the
same way::

    ml2p-docker [--ml-folder /opt/ml/] [--model NAME] train | serve | generate-dataset

``NAME`` is an ``ml2p.models`` entry-point name or a dotted path to a
:class:`ml2p.core.Model` subclass; without ``--model`` the environment
variable ``ML2P_MODEL_CLS`` names it; with neither the command fails with
exit code 2.

Every logger's lines at INFO and above, the model's own included, go to
stdout (line-buffered), which SageMaker ships to CloudWatch: the model's as
the bare message, ML2P's own with time, level and logger; see
:mod:`ml2p.logs`. As ML2P 0.6 did, the commands print ``Starting training
job <name>.``, ``Starting generation of dataset <name>.`` or ``Starting
server for model version <version>.`` once the model is loaded, and
``Done.`` when they end successfully.

The click group is :data:`ml2p_docker` (its ML2P 0.6 name; also ``cli``).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Optional, Sequence

import click

from ml2p.runtime import EXIT_USAGE, model_reference
from ml2p.variables import ML2P_MODEL_CLS as MODEL_ENV
from ml2p.variables import SAGEMAKER_BIND_TO_PORT


def _setup_logging(debug: bool = False) -> None:
    import logging

    from ml2p.logs import configure_logging
    from ml2p.runtime import prepare_stdio

    prepare_stdio()
    configure_logging(logging.DEBUG if debug else logging.INFO)


def _version() -> str:
    from ml2p import __version__

    return __version__


def _require_model(ctx: click.Context) -> None:
    """Exit with code 2 if neither --model nor the environment names the model."""
    from ml2p.core import SageMakerEnv
    from ml2p.errors import ML2PError, ModelNotFoundError

    if ctx.obj["model"]:
        return
    try:
        # ML2P_MODEL_CLS may come from the process environment or, in a
        # training job, from the ML2P_ENV hyperparameter.
        env = SageMakerEnv(ctx.obj["ml_folder"])
    except ML2PError:
        return  # a broken environment is reported by the command itself
    try:
        model_reference(None, env)
    except ModelNotFoundError as exc:
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
@click.version_option(version=_version(), prog_name="ml2p-docker")
@click.pass_context
def cli(ctx: click.Context, ml_folder: str, model: Optional[str]) -> None:
    """Run a model's training, serving or dataset generation inside a SageMaker container."""
    ctx.obj = {"ml_folder": ml_folder, "model": model}


#: The ``ml2p-docker`` click group under its ML2P 0.6 name.
ml2p_docker = cli


def _done(code: int) -> int:
    if code == 0:
        click.echo("Done.")
    return code


@cli.command()
@click.pass_context
def train(ctx: click.Context) -> None:
    """Train the model; write output/failure and exit non-zero on failure."""
    from ml2p import runtime

    _require_model(ctx)
    _setup_logging()
    code = runtime.train(
        ctx.obj["ml_folder"],
        ctx.obj["model"],
        on_start=lambda env: click.echo(f"Starting training job {env.training_job_name}."),
    )
    ctx.exit(_done(code))


@cli.command("generate-dataset")
@click.pass_context
def generate_dataset(ctx: click.Context) -> None:
    """Generate a dataset; write output/failure and exit non-zero on failure."""
    from ml2p import runtime

    _require_model(ctx)
    _setup_logging()
    code = runtime.generate_dataset(
        ctx.obj["ml_folder"],
        ctx.obj["model"],
        on_start=lambda env: click.echo(f"Starting generation of dataset {env.dataset_name}."),
    )
    ctx.exit(_done(code))


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
@click.pass_context
def serve(ctx: click.Context, host: str, port: Optional[int], debug: bool) -> None:
    """Serve predictions over HTTP until SIGTERM."""
    from ml2p.core import SageMakerEnv
    from ml2p.errors import ML2PError
    from ml2p.serving import serve as run_server

    _require_model(ctx)
    _setup_logging(debug)
    master = os.getpid()
    try:
        version = SageMakerEnv(ctx.obj["ml_folder"]).model_version
        click.echo(f"Starting server for model version {version}.")
        run_server(ctx.obj["ml_folder"], ctx.obj["model"], host=host, port=port)
    except ML2PError as exc:
        click.echo(f"Error: {type(exc).__name__}: {exc}", err=True)
        ctx.exit(1)
    except SystemExit as exc:
        # gunicorn ends the server, and each forked worker, with SystemExit:
        # the server (not a worker) stopping cleanly is done.
        if os.getpid() == master and exc.code in (0, None):
            _done(0)
        raise
    _done(0)


def main(argv: Optional[Sequence[str]] = None) -> Any:
    """Run ``ml2p-docker`` with ``argv`` (default ``sys.argv[1:]``); return its exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="ml2p-docker")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
