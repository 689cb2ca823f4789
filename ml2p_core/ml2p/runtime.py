"""Running a model's trainer and dataset generator as SageMaker does.

``ml2p-docker train`` and ``ml2p-docker generate-dataset`` (and ``ml2p local``)
call :func:`train` and :func:`generate_dataset`. Each job is a plugin host
(:mod:`ml2p.plugin_host`): it builds its plugin manager, makes the model's
trainer or generator and hands it the manager. Each returns an exit code
instead of raising: on failure it writes ``output/failure``, whose first
1024 characters SageMaker shows as the job's FailureReason: the line
``ExceptionType: message`` (shortened to fit there if it is longer), then the
traceback. It also logs the error with its traceback, and returns non-zero.
"""

from __future__ import annotations

import logging
import os
import pathlib
import sys
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable

from ml2p import lifecycle
from ml2p.core import SageMakerEnv
from ml2p.errors import ModelNotFoundError, PluginError
from ml2p.variables import ML2P_MODEL_CLS

if TYPE_CHECKING:  # pragma: no cover
    from ml2p.plugin_host import PluginHost
    from ml2p.plugins import PluginManager

logger = logging.getLogger("ml2p.runtime")

#: Exit code of a failed job.
EXIT_FAILURE = 1
#: Exit code when no model was named (a usage error).
EXIT_USAGE = 2

#: SageMaker shows this many characters of ``output/failure`` (the job's FailureReason).
FAILURE_REASON_CHARS = 1024
#: Ends a summary shortened to fit in :data:`FAILURE_REASON_CHARS`.
CUT_MARK = " [...; the whole message ends the traceback below]"


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


def plugin_of(exc: BaseException, plugin_manager: Any = None) -> str | None:
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
    """Return the text of ``output/failure``: the summary, then the traceback.

    The summary (:func:`failure_summary`) comes first and, so that SageMaker's
    FailureReason holds all of it, is cut to :data:`FAILURE_REASON_CHARS`
    characters if it is longer, ending with :data:`CUT_MARK`. The traceback
    ends with the whole message.
    """
    summary = failure_summary(exc, plugin_manager)
    if len(summary) > FAILURE_REASON_CHARS:
        summary = summary[: FAILURE_REASON_CHARS - len(CUT_MARK)] + CUT_MARK
    return f"{summary}\n\n{traceback_text(exc)}"


def model_reference(model_ref: str | None, env: SageMakerEnv) -> str:
    """Return the model to run: ``model_ref``, else ``ML2P_MODEL_CLS``.

    :raises ml2p.errors.ModelNotFoundError: if neither names one (a usage
        error: the jobs exit with :data:`EXIT_USAGE`).
    """
    ref = model_ref or env.model_cls
    if not ref:
        raise ModelNotFoundError(
            "no model given: pass --model NAME (an ml2p.models entry point or a dotted "
            f"path) or set {ML2P_MODEL_CLS}"
        )
    return ref


def load_model(model_ref: str | None, env: SageMakerEnv) -> type:
    """Return the :class:`ml2p.core.Model` subclass to run (see :func:`model_reference`)."""
    from ml2p.plugins import resolve_model

    return resolve_model(model_reference(model_ref, env), env.environ)


#: Called with the environment once the model is loaded, before its job is made.
OnStart = Callable[[SageMakerEnv], None]


def _run_job(
    what: str,
    make: str,
    run: Callable[[Any], Any],
    ml_folder: Any,
    model_ref: str | None,
    environ: Mapping[str, str] | None,
    on_start: OnStart | None,
    plugin_manager: PluginManager | None,
) -> int:
    # The plugins are imported here: ml2p-docker --help imports this module.
    from ml2p.plugin_host import PluginHost
    from ml2p.plugins import resolve_model

    env: SageMakerEnv | None = None
    ref: str | None = None
    host: PluginHost | None = None
    try:
        env = SageMakerEnv(ml_folder, environ)
        ref = model_reference(model_ref, env)
        model_cls = resolve_model(ref, env.environ)
        if on_start is not None:
            on_start(env)
        host = PluginHost(plugin_manager) if plugin_manager is not None else PluginHost.for_env(env)
        # Made through the model's own factory method (Model.trainer...), which
        # a model may override, as in ML2P 0.6.
        job = getattr(host, make)(model_cls, env)
        job_cls = type(job)
        logger.info("%s started: %s.%s", what, job_cls.__module__, job_cls.__qualname__)
        run(job)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            logger.error("%s interrupted", what)
        # Neither --model nor ML2P_MODEL_CLS named a model: a usage error.
        no_model = env is not None and ref is None
        report = failure_report(exc, host.plugin_manager if host is not None else None)
        summary = report.split("\n", 1)[0]
        logger.error("%s failed: %s", what, summary, exc_info=exc)
        if env is None:
            env = _FallbackEnv(ml_folder)
        try:
            path = env.write_failure(report)
            logger.error("failure reason written to %s", path)
        except OSError as write_error:
            logger.error("cannot write output/failure: %s", write_error)
        return EXIT_USAGE if no_model else EXIT_FAILURE
    logger.info("%s finished", what)
    return 0


class _FallbackEnv(SageMakerEnv):
    """Only the folders, for writing ``output/failure`` when the environment itself failed."""

    def __init__(self, ml_folder: Any):
        self._ml_folder = pathlib.Path(ml_folder)


def train(
    ml_folder: Any,
    model_ref: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    on_start: OnStart | None = None,
    plugin_manager: PluginManager | None = None,
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
    :param plugin_manager: The plugin manager the trainer runs with (default:
        a new one, as :meth:`ml2p.plugin_host.PluginHost.for_env` builds;
        ``ml2p local train`` passes its command's).
    :returns: 0 on success; 1 on failure, with ``output/failure`` written;
        2 if no model was named.
    """
    from ml2p.checkpoints import train_with_checkpoints

    return _run_job(
        "training",
        "make_trainer",
        train_with_checkpoints,
        ml_folder,
        model_ref,
        environ,
        on_start,
        plugin_manager,
    )


def generate_dataset(
    ml_folder: Any,
    model_ref: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    on_start: OnStart | None = None,
    plugin_manager: PluginManager | None = None,
) -> int:
    """Run the model's dataset generator through the ``ml2p_generate`` hook.

    The generator is ``model_cls().dataset_generator(env)``.

    Parameters and return value as for :func:`train`.
    """
    return _run_job(
        "dataset generation",
        "make_generator",
        lifecycle.generate,
        ml_folder,
        model_ref,
        environ,
        on_start,
        plugin_manager,
    )
