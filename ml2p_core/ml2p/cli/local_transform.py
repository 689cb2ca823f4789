"""``ml2p local transform``: batch transform on the local model, without Docker or AWS.

Registered on the ``local`` group by :mod:`ml2p.cli.local`; the work is done by
:mod:`ml2p.local_transform` against the production server
(:mod:`ml2p.server_process`).
"""

from __future__ import annotations

import pathlib
from typing import Any

import click

from ml2p.cli.context import Project, pass_project
from ml2p.cli.local_support import (
    forget_training_config,
    load_plugins_first,
    model_reference,
    serving_environ,
    trained_model,
)
from ml2p.cli.output import echo_json, progress
from ml2p.cli.params import local_folder_option
from ml2p.errors import ML2PError
from ml2p.variables import (
    SAGEMAKER_BATCH_STRATEGY,
    SAGEMAKER_MAX_PAYLOAD_IN_MB,
    SAGEMAKER_MODEL_SERVER_WORKERS,
)

__all__ = ["local_transform"]

#: The server's log, in the local folder's output/.
SERVER_LOG = "transform-server.log"


def _server_settings(settings: Any, workers: int | None) -> dict[str, str]:
    """The SageMaker variables a transform container gets from the job's settings."""
    env: dict[str, str] = {}
    if settings.batch_strategy:
        env[SAGEMAKER_BATCH_STRATEGY] = (
            "SINGLE_RECORD" if settings.batch_strategy == "SingleRecord" else "MULTI_RECORD"
        )
    if settings.max_payload_mb:
        env[SAGEMAKER_MAX_PAYLOAD_IN_MB] = str(settings.max_payload_mb)
    workers = workers or settings.max_concurrent_transforms
    if workers:
        env[SAGEMAKER_MODEL_SERVER_WORKERS] = str(workers)
    return env


@click.command("transform")
@click.argument("model")
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("output_dir", type=click.Path(file_okay=False))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Server worker processes (default: transform.max_concurrent_transforms, "
    f"else {SAGEMAKER_MODEL_SERVER_WORKERS} or the CPU count).",
)
@local_folder_option
@pass_project
def local_transform(
    prj: Project,
    model: str,
    input_dir: str,
    output_dir: str,
    workers: int | None,
    local_folder: str,
) -> None:
    """Run MODEL over every file in INPUT_DIR as SageMaker batch transform does.

    Serves the local folder's model/ with the production server, splits each
    file (JSON Lines, CSV) into records by line, sends mini-batches as the
    transform settings and the server's /execution-parameters say, and
    writes OUTPUT_DIR/<file>.out. A file with a failed mini-batch gets no
    .out; the others keep theirs. Prints a JSON summary; exits 1 if a file
    failed.
    """
    from ml2p import local_transform as engine
    from ml2p.server_process import ServerProcess
    from ml2p.transforms import TransformSettings

    ref = model_reference(prj, model)
    root = pathlib.Path(local_folder)
    trained_model(root, model)
    settings = TransformSettings.from_config(prj.config)
    # Refuse what cannot run locally before starting the server.
    engine.make_plan(settings, {})
    engine.check_folders(input_dir, output_dir)
    forget_training_config(root)
    load_plugins_first(prj)
    environ = {**serving_environ(prj, ref), **_server_settings(settings, workers)}
    files = [p for p in pathlib.Path(input_dir).rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    (root / "output").mkdir(parents=True, exist_ok=True)
    log = root / "output" / SERVER_LOG
    with ServerProcess(root, ref, environ, log) as server:
        parameters = server.get_json("/execution-parameters")
        plan = engine.make_plan(settings, parameters)
        with progress(total, "transforming", prj.quiet) as advance:
            results = engine.transform_folder(server.url, input_dir, output_dir, plan, advance)
    echo_json(
        {
            "model": model,
            "input": str(input_dir),
            "output": str(output_dir),
            "execution_parameters": parameters,
            "settings": plan.summary(),
            "files": [result.as_dict() for result in results],
            "server_log": str(log),
        }
    )
    failed = [result for result in results if result.error]
    if failed:
        raise ML2PError(
            f"{len(failed)} of {len(results)} files failed, and got no .out file (the others "
            f"did): {'; '.join(str(r.error) for r in failed)}"
        )
