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
import os
import pathlib
import shutil
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence

import click

from ml2p import naming, variables
from ml2p.cli.context import Project
from ml2p.cli.output import echo_json, progress
from ml2p.cli.params import (
    DEFAULT_LOCAL_FOLDER,
    hyperparameter_options,
    load_hyperparameters,
    read_json_argument,
)
from ml2p.errors import ML2PError
from ml2p.variables import (
    ML2P_DATASET,
    ML2P_ENV,
    ML2P_MODEL_CLS,
    ML2P_MODEL_VERSION,
    ML2P_RECORD_INVOKES,
    ML2P_RECORD_KMS_KEY_ID,
    ML2P_RECORD_SPILL_DIR,
    ML2P_TRAINING_JOB,
    SAGEMAKER_MODEL_SERVER_WORKERS,
)

__all__ = ["DEFAULT_LOCAL_FOLDER", "local"]


def _folder_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--local-folder",
        type=click.Path(file_okay=False),
        default=DEFAULT_LOCAL_FOLDER,
        show_default=True,
        help="The folder standing in for /opt/ml.",
    )(func)


# What ``local train`` replaces, relative to the local folder: the model, and
# the training channel when --dataset or --data-dir gives new data.
_MODEL = "model"
_CHANNEL = "input/data/training"


def _kept(root: pathlib.Path, part: str) -> pathlib.Path:
    """Where the last good copy of ``part`` waits while it is being replaced."""
    return root / f".{pathlib.PurePath(part).name}-last-good"


def _discarded(root: pathlib.Path, part: str) -> pathlib.Path:
    return root / f".{pathlib.PurePath(part).name}-discarded"


def _restore_interrupted_runs(root: pathlib.Path) -> None:
    """Undo replacements that were killed: the partial new copy goes, the last good returns."""
    for part in (_MODEL, _CHANNEL):
        shutil.rmtree(_discarded(root, part), ignore_errors=True)
        kept = _kept(root, part)
        if kept.is_dir():
            shutil.rmtree(root / part, ignore_errors=True)
            kept.rename(root / part)


@contextlib.contextmanager
def _replaced_on_success(root: pathlib.Path, part: str) -> Iterator[pathlib.Path]:
    """Empty ``root/part`` to fill; its last good contents come back if the block raises."""
    folder, kept = root / part, _kept(root, part)
    _restore_interrupted_runs(root)
    if folder.is_dir():
        folder.rename(kept)
    else:
        kept.mkdir()  # nothing yet: a failure leaves an empty folder
    folder.mkdir(parents=True)
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        kept.rename(folder)
        raise
    # Renamed first, so a run killed while deleting cannot bring the old copy back.
    kept.rename(_discarded(root, part))
    shutil.rmtree(_discarded(root, part), ignore_errors=True)


def _prepare(folder: str) -> pathlib.Path:
    root = pathlib.Path(folder)
    _restore_interrupted_runs(root)
    for sub in ("input/config", "input/data", "model", "output"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def _model_ref(prj: Project, model: str) -> str:
    """The class reference of ``model``: a key of the config's ``models``.

    :raises ml2p.errors.ConfigError: naming the defined models, if ``model``
        is not one of them.
    """
    return prj.config.model_reference(model)


# What SageMakerEnv reads its type and identity from.
_CORE_VARIABLES = frozenset(variables.ENV_SETTINGS.values())


def _environ(ml2p_vars: Mapping[str, str]) -> Dict[str, str]:
    """The process environment without the core's stale variables, plus ``ml2p_vars``.

    Only the variables that decide the environment's type and identity are
    dropped (a shell's leftover ``ML2P_TRAINING_JOB`` would turn a serving
    run into a training one); plugin settings such as ``ML2P_METRICS_FILE``
    pass through.
    """
    env = {k: v for k, v in os.environ.items() if k not in _CORE_VARIABLES}
    env.update(ml2p_vars)
    return env


def _serving_environ(
    prj: Project, model_ref: str, root: Optional[pathlib.Path] = None
) -> Dict[str, str]:
    """The environment of a server for the local model, as its SageMaker model gets.

    With the local folder ``root``, records S3 cannot take spill into its
    ``record-spill`` folder (unless ``ML2P_RECORD_SPILL_DIR`` says otherwise),
    where the next ``ml2p local serve`` of that folder sends them.
    """
    from ml2p import sagemaker

    deploy = prj.config.section("deploy")
    env = {
        **sagemaker.base_environment(prj.config),
        ML2P_MODEL_VERSION: prj.full_name("local"),
        ML2P_RECORD_INVOKES: "true" if deploy.get("record_invokes") else "false",
        ML2P_MODEL_CLS: model_ref,
    }
    kms_key_id = deploy.get("record_kms_key_id")
    if kms_key_id:
        env[ML2P_RECORD_KMS_KEY_ID] = str(kms_key_id)
    environ = _environ(env)
    if root is not None and not environ.get(ML2P_RECORD_SPILL_DIR):
        environ[ML2P_RECORD_SPILL_DIR] = str(root.resolve() / "record-spill")
    return environ


def _trained_model(root: pathlib.Path, model: str) -> pathlib.Path:
    """The local folder's ``model/``; an error says to train first if it is empty."""
    if root.is_dir():
        _restore_interrupted_runs(root)
    model_folder = root / "model"
    if not model_folder.is_dir() or not any(model_folder.iterdir()):
        raise ML2PError(
            f"no trained model in {str(model_folder)!r}: run `ml2p local train {model}` first"
        )
    return model_folder


def _forget_training_config(root: pathlib.Path) -> None:
    # A hyperparameters.json left by `local train` would make the env a training one.
    path = root / "input" / "config" / "hyperparameters.json"
    if path.exists():
        path.unlink()


def _failure(root: pathlib.Path) -> str:
    path = root / "output" / "failure"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return "no failure reason written"
    return text.splitlines()[0] if text else "no failure reason written"


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


def _load_plugins_first(prj: Project) -> None:
    """Build the command's plugin manager now, to report a plugin that fails to load first.

    Before anything is downloaded, trained, generated or served. (Training on
    several hosts and the server's workers run in processes of their own, each
    building its manager from the same ``ML2P_PROJECT_PLUGINS``.)
    """
    _ = prj.plugin_manager


def _run(
    kind: str, prj: Project, root: pathlib.Path, model_ref: str, environ: Dict[str, str]
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
            f"{kind} failed (exit status {code}): {_failure(root)} "
            f"(traceback in {root / 'output' / 'failure'})"
        )


@click.group("local")
def local() -> None:
    """Generate, train, serve and invoke models locally (no Docker, no SageMaker)."""


@local.command("generate")
@click.argument("model")
@click.argument("dataset")
@_folder_option
@click.pass_obj
def local_generate(prj: Project, model: str, dataset: str, local_folder: str) -> None:
    """Run MODEL's dataset generator for DATASET (ML2P_DATASET is set).

    Nothing is written to S3 unless the generator uploads (upload_to_s3).
    """
    from ml2p import sagemaker

    naming.validate_name("dataset", dataset)
    ref = _model_ref(prj, model)
    root = _prepare(local_folder)
    _forget_training_config(root)
    _load_plugins_first(prj)
    env = {**sagemaker.base_environment(prj.config), ML2P_DATASET: dataset, ML2P_MODEL_CLS: ref}
    _run("generate", prj, root, ref, _environ(env))
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
@_folder_option
@click.pass_obj
def local_train(
    prj: Project,
    model: str,
    dataset: Optional[str],
    data_dir: Optional[str],
    training_job: Optional[str],
    hosts: int,
    hyperparameters_file: Optional[str],
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
    ref = _model_ref(prj, model)
    user = load_hyperparameters(hyperparameters_file, params)
    hp.check_reserved(user)
    env = {
        **sagemaker.base_environment(prj.config),
        ML2P_TRAINING_JOB: prj.full_name(training_job or "local"),
        ML2P_MODEL_CLS: ref,
    }
    encoded = hp.encode({ML2P_ENV: dict(env), **user})
    root = _prepare(local_folder)
    _load_plugins_first(prj)

    if dataset:
        prj.target("dataset", dataset)
        with (
            _replaced_on_success(root, _CHANNEL),
            progress(None, f"downloading {dataset}", prj.quiet) as advance,
        ):
            local_env = LocalEnv(root, prj.config, session=aws.session())
            local_env.download_dataset(dataset, progress=advance)
    elif data_dir:
        with _replaced_on_success(root, _CHANNEL) as channel:
            shutil.copytree(data_dir, channel, dirs_exist_ok=True)

    (root / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps(encoded, indent=2), encoding="utf-8"
    )
    # SageMaker starts training with an empty model folder and no failure file.
    failure = root / "output" / "failure"
    if failure.exists():
        failure.unlink()
    host_names = None
    with _replaced_on_success(root, _MODEL) as model_folder:
        if hosts > 1:
            from ml2p.cli.local_hosts import train_on_hosts

            host_names = train_on_hosts(root, ref, _environ(env), hosts, prj.config)
        else:
            _run("train", prj, root, ref, _environ(env))
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
@_folder_option
@click.pass_obj
def local_serve(
    prj: Project, model: str, host: str, port: int, workers: Optional[int], local_folder: str
) -> None:
    """Serve MODEL from the local folder's model/ with the production server.

    Runs until interrupted (Ctrl-C or SIGTERM). A port already in use is
    reported at once.
    """
    from ml2p import serving
    from ml2p.cli import ports
    from ml2p.plugins import resolve_model

    ref = _model_ref(prj, model)
    root = pathlib.Path(local_folder)
    _trained_model(root, model)
    _forget_training_config(root)
    _load_plugins_first(prj)
    environ = _serving_environ(prj, ref, root)
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


# Commands defined in their own modules.
from ml2p.cli.local_transform import local_transform  # noqa: E402

local.add_command(local_transform)
