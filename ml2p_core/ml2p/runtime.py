"""Running a model's trainer and dataset generator as SageMaker does.

``ml2p-docker train`` and ``ml2p-docker generate-dataset`` (and ``ml2p local``)
call :func:`train` and :func:`generate_dataset`. Each returns an exit code
instead of raising: on failure it writes ``output/failure``, whose first
1024 characters SageMaker shows as the job's FailureReason, starting with
``ExceptionType: message`` and followed by the traceback, logs the error
with its traceback, and returns non-zero.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Any, Callable, Mapping, Optional

from ml2p.core import SageMakerEnv
from ml2p.errors import ModelNotFoundError, PluginError

logger = logging.getLogger("ml2p.runtime")

#: Exit code of a failed job.
EXIT_FAILURE = 1
#: Exit code when no model was named (a usage error).
EXIT_USAGE = 2

#: SageMaker shows this many characters of ``output/failure``.
FAILURE_REASON_CHARS = 1024


def prepare_stdio() -> None:
    """Make stdout and stderr line-buffered, for this process and its children.

    Container logs then get every line as it is written, even when the
    process is killed.
    """
    os.environ["PYTHONUNBUFFERED"] = "1"
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(line_buffering=True)
            except (ValueError, OSError):  # pragma: no cover - detached or closed
                pass


def plugin_of(exc: BaseException, plugin_manager: Any = None) -> Optional[str]:
    """Return the name of the plugin that raised ``exc``, if one can be told."""
    if isinstance(exc, PluginError):
        return exc.plugin
    if plugin_manager is None:
        return None
    try:
        return plugin_manager.plugin_for_exception(exc)
    except Exception:  # naming the culprit must never hide the error itself
        return None


def failure_summary(exc: BaseException, plugin_manager: Any = None) -> str:
    """Return ``ExceptionType: message`` for ``exc``, naming the plugin that raised it.

    A :class:`~ml2p.errors.PluginError` names its plugin in its message
    already; for other exceptions raised from a plugin's code
    `` (raised by plugin 'name')`` is appended.
    """
    message = str(exc)
    summary = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    plugin = None if isinstance(exc, PluginError) else plugin_of(exc, plugin_manager)
    if plugin:
        summary += f" (raised by plugin {plugin!r})"
    return summary


def traceback_text(exc: BaseException) -> str:
    """Return the formatted traceback of ``exc``."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def failure_report(exc: BaseException, plugin_manager: Any = None) -> str:
    """Return the text of ``output/failure``: the summary line, then the traceback."""
    return f"{failure_summary(exc, plugin_manager)}\n\n{traceback_text(exc)}"


def model_reference(model_ref: Optional[str], env: SageMakerEnv) -> str:
    """Return the model to run: ``model_ref``, else ``ML2P_MODEL_CLS``.

    :raises ml2p.errors.ModelNotFoundError: if neither names one.
    """
    ref = model_ref or env.model_cls
    if not ref:
        raise ModelNotFoundError(
            "no model given: pass --model NAME (an ml2p.models entry point or a dotted "
            "path) or set ML2P_MODEL_CLS"
        )
    return ref


def load_model(model_ref: Optional[str], env: SageMakerEnv) -> type:
    """Return the :class:`ml2p.core.Model` subclass to run (see :func:`model_reference`)."""
    from ml2p.plugins import resolve_model

    return resolve_model(model_reference(model_ref, env), env.environ)


#: Called with the environment once the model is loaded, before its job is made.
OnStart = Callable[[SageMakerEnv], None]


def _run_job(
    what: str,
    factory: str,
    run: Callable[[Any], Any],
    ml_folder: Any,
    model_ref: Optional[str],
    environ: Optional[Mapping[str, str]],
    on_start: Optional[OnStart],
) -> int:
    env: Optional[SageMakerEnv] = None
    job: Any = None
    try:
        env = SageMakerEnv(ml_folder, environ)
        model_cls = load_model(model_ref, env)
        if on_start is not None:
            on_start(env)
        # Through the model's own factory method (trainer, dataset_generator),
        # so that a model overriding it is honoured, as in ML2P 0.6.
        job = getattr(model_cls(), factory)(env)
        job_cls = type(job)
        logger.info("%s started: %s.%s", what, job_cls.__module__, job_cls.__qualname__)
        run(job)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            logger.error("%s interrupted", what)
        pm = getattr(job, "_plugin_manager", None)
        report = failure_report(exc, pm)
        summary = report.split("\n", 1)[0]
        logger.error("%s failed: %s", what, summary, exc_info=exc)
        if env is None:
            env = _FallbackEnv(ml_folder)
        try:
            path = env.write_failure(report)
            logger.error("failure reason written to %s", path)
        except OSError as write_error:
            logger.error("cannot write output/failure: %s", write_error)
        if isinstance(exc, ModelNotFoundError) and "no model given" in str(exc):
            return EXIT_USAGE
        return EXIT_FAILURE
    logger.info("%s finished", what)
    return 0


class _FallbackEnv(SageMakerEnv):
    """Only the folders, for writing ``output/failure`` when the environment itself failed."""

    def __init__(self, ml_folder: Any):
        import pathlib

        self._ml_folder = pathlib.Path(ml_folder)


def train(
    ml_folder: Any,
    model_ref: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
    *,
    on_start: Optional[OnStart] = None,
) -> int:
    """Run the model's trainer through the ``ml2p_train`` hook.

    The trainer is ``model_cls().trainer(env)``. SIGTERM during training
    saves a checkpoint through the ``ml2p_checkpoint`` hook, then fails the
    job (see :mod:`ml2p.checkpoints`).

    :param ml_folder: The SageMaker folder (``/opt/ml/``).
    :param model_ref: An ``ml2p.models`` entry-point name or a dotted path
        (default: ``ML2P_MODEL_CLS``).
    :param environ: The environment variables (default ``os.environ``).
    :param on_start: Called with the environment once the model is loaded,
        before the trainer is made (``ml2p-docker`` prints ML2P 0.6's
        ``Starting training job <name>.`` there).
    :returns: 0 on success; 1 on failure, with ``output/failure`` written;
        2 if no model was named.
    """
    from ml2p.checkpoints import train_with_checkpoints

    return _run_job(
        "training", "trainer", train_with_checkpoints, ml_folder, model_ref, environ, on_start
    )


def generate_dataset(
    ml_folder: Any,
    model_ref: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
    *,
    on_start: Optional[OnStart] = None,
) -> int:
    """Run the model's dataset generator through the ``ml2p_generate`` hook.

    The generator is ``model_cls().dataset_generator(env)``.

    Parameters and return value as for :func:`train`.
    """
    from ml2p import lifecycle

    return _run_job(
        "dataset generation",
        "dataset_generator",
        lifecycle.generate,
        ml_folder,
        model_ref,
        environ,
        on_start,
    )
