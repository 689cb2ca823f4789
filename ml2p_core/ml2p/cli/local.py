"""``ml2p local``: generate, train and serve in a local folder laid out like ``/opt/ml``.

No Docker and no SageMaker: the same container runtime and production server
run in this process (or its workers), on a folder with SageMaker's layout::

    <local folder>/input/config/hyperparameters.json   (training settings, ML2P_ENV)
    <local folder>/input/data/training/                (the training channel)
    <local folder>/model/                              (the trained model)
    <local folder>/output/model.tar.gz                 (model/ packed as SageMaker does)
    <local folder>/output/failure                      (why training failed)

AWS is used only to download a dataset (``--dataset``) or when the model
itself talks to S3.

A failed ``local train`` loses nothing: the trainer gets an empty
``<local folder>/model`` as in SageMaker (``env.model_folder()``), while the
last good model waits in ``<local folder>/.model-last-good`` and is put back
if training fails (``output/model.tar.gz`` is replaced only on success).
Likewise the training channel's files are replaced only once ``--dataset``
has downloaded (or ``--data-dir`` copied) the new ones. A run that was killed
outright is undone by the next ``local generate``, ``train`` or ``serve``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pathlib
import shutil
from collections.abc import Iterator, Sequence

import click

from ml2p import naming
from ml2p.cli.context import Project, pass_project
from ml2p.cli.local_support import (
    CHANNEL,
    MODEL,
    failure_reason,
    forget_training_config,
    load_plugins_first,
    local_environ,
    model_reference,
    prepare_folder,
    replaced_on_success,
    serving_environ,
    trained_model,
)
from ml2p.cli.local_transform import local_transform
from ml2p.cli.output import echo_json, progress
from ml2p.cli.params import (
    DEFAULT_LOCAL_FOLDER,
    hyperparameter_options,
    load_hyperparameters,
    local_folder_option,
    read_json_argument,
)
from ml2p.errors import ML2PError
from ml2p.variables import (
    ML2P_DATASET,
    ML2P_ENV,
    ML2P_MODEL_CLS,
    ML2P_TRAINING_JOB,
    SAGEMAKER_MODEL_SERVER_WORKERS,
)

__all__ = ["DEFAULT_LOCAL_FOLDER", "local"]


@contextlib.contextmanager
def _outcome_reported_by_us(debug: bool) -> Iterator[None]:
    """Keep the runtime's own log (started, failed with the traceback...) off the terminal.

    The command reports the outcome itself, once: the JSON result, or the
    one-line error naming ``output/failure``. The model's own logging is
    untouched; with ``--debug`` nothing is held back.
    """
    if debug:
        yield
        return
    runtime_logger = logging.getLogger("ml2p.runtime")
    runtime_logger.addFilter(_drop)
    try:
        yield
    finally:
        runtime_logger.removeFilter(_drop)


def _drop(record: logging.LogRecord) -> bool:
    return False


def _run(
    kind: str, prj: Project, root: pathlib.Path, model_ref: str, environ: dict[str, str]
) -> None:
    """Run training (``kind`` ``train``) or dataset generation with the container runtime.

    It runs in this process, with this command's plugin manager.
    """
    from ml2p import runtime
    from ml2p.logs import configure_logging

    # The model's logging and ML2P's go to stderr: stdout carries the JSON result.
    configure_logging(stream="stderr")
    func = runtime.train if kind == "train" else runtime.generate_dataset
    with _outcome_reported_by_us(prj.debug):
        code = func(
            str(root), model_ref=model_ref, environ=environ, plugin_manager=prj.plugin_manager
        )
    if code != 0:
        raise ML2PError(
            f"{kind} failed (exit status {code}): {failure_reason(root)} "
            f"(traceback in {root / 'output' / 'failure'})"
        )


@click.group("local")
def local() -> None:
    """Generate, train, serve and invoke models locally (no Docker, no SageMaker)."""


@local.command("generate")
@click.argument("model")
@click.argument("dataset")
@local_folder_option
@pass_project
def local_generate(prj: Project, model: str, dataset: str, local_folder: str) -> None:
    """Run MODEL's dataset generator for DATASET (ML2P_DATASET is set).

    Nothing is written to S3 unless the generator uploads (upload_to_s3).
    """
    from ml2p import sagemaker

    naming.validate_name("dataset", dataset)
    ref = model_reference(prj, model)
    root = prepare_folder(local_folder)
    forget_training_config(root)
    load_plugins_first(prj)
    env = {**sagemaker.base_environment(prj.config), ML2P_DATASET: dataset, ML2P_MODEL_CLS: ref}
    _run("generate", prj, root, ref, local_environ(env))
    echo_json({"dataset": dataset, "model": model, "local_folder": str(root)})


@local.command("train")
@click.argument("model")
@click.option("--dataset", default=None, help="Download this dataset from S3 to train on.")
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Copy this folder's files into the training channel.",
)
@click.option(
    "--training-job",
    default=None,
    help=f"The training job name {ML2P_TRAINING_JOB} is made from (default: local).",
)
@click.option(
    "--hosts",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Train on this many hosts: one process each, in <local folder>/hosts/algo-<n>/.",
)
@hyperparameter_options
@local_folder_option
@pass_project
def local_train(
    prj: Project,
    model: str,
    dataset: str | None,
    data_dir: str | None,
    training_job: str | None,
    hosts: int,
    hyperparameters_file: str | None,
    params: Sequence[str],
    local_folder: str,
) -> None:
    """Train MODEL locally and pack model/ into output/model.tar.gz.

    The trainer writes to an empty model/ folder, as in SageMaker. If training
    fails, the last good model/ and output/model.tar.gz are kept, the reason is
    one line (its traceback is in output/failure) and the exit status is 1.

    With --hosts N, N trainer processes run at once, each with its own
    resourceconfig.json and share of the data (train.input_distribution), as
    on N SageMaker instances; the first host's model/ is packed.
    """
    from ml2p import aws, sagemaker
    from ml2p import hyperparameters as hp
    from ml2p.core import LocalEnv
    from ml2p.packaging import MODEL_ARCHIVE, pack_model

    if dataset and data_dir:
        raise click.UsageError("give --dataset or --data-dir, not both")
    if dataset:
        naming.validate_name("dataset", dataset)
    if training_job:
        naming.validate_name("training-job", training_job)
    ref = model_reference(prj, model)
    user = load_hyperparameters(hyperparameters_file, params)
    hp.check_reserved(user)
    env = {
        **sagemaker.base_environment(prj.config),
        ML2P_TRAINING_JOB: prj.full_name(training_job or "local"),
        ML2P_MODEL_CLS: ref,
    }
    encoded = hp.encode({ML2P_ENV: dict(env), **user})
    root = prepare_folder(local_folder)
    load_plugins_first(prj)

    if dataset:
        prj.target("dataset", dataset)
        with (
            replaced_on_success(root, CHANNEL),
            progress(None, f"downloading {dataset}", prj.quiet) as advance,
        ):
            local_env = LocalEnv(root, prj.config, session=aws.session())
            local_env.download_dataset(dataset, progress=advance)
    elif data_dir:
        with replaced_on_success(root, CHANNEL) as channel:
            shutil.copytree(data_dir, channel, dirs_exist_ok=True)

    (root / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps(encoded, indent=2), encoding="utf-8"
    )
    # SageMaker starts training with an empty model folder and no failure file.
    failure = root / "output" / "failure"
    if failure.exists():
        failure.unlink()
    host_names = None
    with replaced_on_success(root, MODEL) as model_folder:
        if hosts > 1:
            from ml2p.cli.local_hosts import train_on_hosts

            host_names = train_on_hosts(root, ref, local_environ(env), hosts, prj.config)
        else:
            _run("train", prj, root, ref, local_environ(env))
        archive = pack_model(model_folder, root / "output" / MODEL_ARCHIVE)
    files = sorted(
        p.relative_to(root / "model").as_posix() for p in (root / "model").rglob("*") if p.is_file()
    )
    summary = {
        "model": model,
        "training_job": env[ML2P_TRAINING_JOB],
        "model_folder": str(root / "model"),
        "archive": str(archive),
        "files": files,
    }
    if host_names:
        summary["hosts"] = host_names
    echo_json(summary)


@local.command("serve")
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help=f"Worker processes (default: {SAGEMAKER_MODEL_SERVER_WORKERS} or the CPU count).",
)
@local_folder_option
@pass_project
def local_serve(
    prj: Project, model: str, host: str, port: int, workers: int | None, local_folder: str
) -> None:
    """Serve MODEL from the local folder's model/ with the production server.

    Runs until interrupted (Ctrl-C or SIGTERM). A port already in use is
    reported at once.
    """
    from ml2p import serving
    from ml2p.cli import ports
    from ml2p.plugins import resolve_model

    ref = model_reference(prj, model)
    root = pathlib.Path(local_folder)
    trained_model(root, model)
    forget_training_config(root)
    load_plugins_first(prj)
    environ = serving_environ(prj, ref, root)
    # Import the model first: the port is then checked just before the server binds it.
    resolve_model(ref, environ)
    ports.check_port_free(host, port)
    try:
        serving.serve(str(root), ref, host=host, port=port, workers=workers, environ=environ)
    except SystemExit as exc:
        # gunicorn exits after retrying a port that another process took since the check.
        taken = ports.port_taken_error(host, port) if exc.code else None
        if taken is None:
            raise
        raise taken from None


@local.command("invoke")
@click.argument("json_data", metavar="JSON|@FILE")
@click.option(
    "--url", default="http://127.0.0.1:8080", show_default=True, help="The server's base URL."
)
@click.option("--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True)
def local_invoke(json_data: str, url: str, timeout: float) -> None:
    """POST JSON_DATA (inline JSON or @file) to URL/invocations and print the response.

    An error answer ends the command with one line: the status, and the
    server's message and details.
    """
    import urllib.error
    import urllib.request

    body = read_json_argument(json_data)
    target = url.rstrip("/") + "/invocations"
    request = urllib.request.Request(
        target,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        from ml2p.cli.errors import http_error_message

        raise ML2PError(http_error_message(target, exc.code, exc.read())) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ML2PError(f"cannot reach {target}: {reason}; is `ml2p local serve` running?") from exc
    try:
        echo_json(json.loads(raw))
    except ValueError:
        raise ML2PError(
            f"{target} answered with something that is not JSON: {raw[:200]!r}"
        ) from None


local.add_command(local_transform)
