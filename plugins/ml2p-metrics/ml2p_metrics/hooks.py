"""The hook implementations of ml2p-metrics (the ``ml2p-metrics`` entry point).

All are wrappers with ``tryfirst=True``, so they are the outermost wrappers:
the latency includes every other plugin, and a rejection by another plugin
(a :class:`ml2p.errors.ClientError` from ml2p-validate, say) is counted.
Each writes one EMF line after the call, and returns the call's value or
re-raises its exception unchanged.

* ``ml2p_result``: one line per invocation: ``Latency`` (Milliseconds),
  ``Invocations`` (1), ``Errors`` and ``ClientErrors`` (0 or 1).
* ``ml2p_batch_result``: one line per batch: the same metrics plus
  ``BatchSize``. Because this plugin implements both hooks, ML2P keeps the
  model's batch path and does not call this plugin's ``ml2p_result`` per
  datum; a per-datum call inside a measured batch writes nothing.
* ``ml2p_train``: ``TrainingDuration`` (Seconds), ``TrainingFailed`` (0 or 1).
* ``ml2p_generate``: ``GenerationDuration`` (Seconds), ``GenerationFailed``.
* ``ml2p_setup`` (plain): checks the configuration before the model loads,
  so a bad variable fails the server's start, not each request.

Dimensions: ``Project`` and ``ModelVersion`` for invocations, ``Project``
for training and generation (whose job and dataset names are properties,
kept in the log line but not dimensions, so each job does not make new
metrics).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Generator
from typing import Any

from ml2p import hookimpl
from ml2p.errors import APIError
from ml2p_metrics import emf, sink

# The predictor whose batch this context is measuring.
_in_batch: contextvars.ContextVar[Any | None] = contextvars.ContextVar(
    "ml2p_metrics_in_batch", default=None
)


def _error_properties(exc: BaseException | None) -> dict[str, Any]:
    if exc is None:
        return {}
    props: dict[str, Any] = {"ErrorType": type(exc).__name__}
    if isinstance(exc, APIError):
        props["StatusCode"] = exc.status_code
    return props


def _is_client_error(exc: BaseException | None) -> bool:
    return isinstance(exc, APIError) and 400 <= exc.status_code < 500


def _emit_invocation(
    settings: sink.Settings,
    predictor: Any,
    started: float,
    exc: BaseException | None,
    batch_size: int | None = None,
) -> None:
    try:
        env = predictor.env
        metrics: list[emf.Metric] = [
            ("Latency", "Milliseconds", round((time.perf_counter() - started) * 1000.0, 3)),
            ("Invocations", "Count", 1),
            ("Errors", "Count", 0 if exc is None else 1),
            ("ClientErrors", "Count", 1 if _is_client_error(exc) else 0),
        ]
        if batch_size is not None:
            metrics.append(("BatchSize", "Count", batch_size))
        props = _error_properties(exc)
        props["Predictor"] = type(predictor).__name__
        doc = emf.document(
            settings.namespace,
            {"Project": env.project, "ModelVersion": env.model_version},
            metrics,
            props,
        )
        sink.write_line(emf.dumps(doc), settings)
    except Exception as error:  # metrics never change the outcome
        sink.logger.warning("ml2p-metrics: cannot build a metrics line: %s", error)


def _emit_run(
    settings: sink.Settings,
    runner: Any,
    prefix: str,
    started: float,
    exc: BaseException | None,
    props: dict[str, Any],
) -> None:
    try:
        metrics: list[emf.Metric] = [
            (f"{prefix}Duration", "Seconds", round(time.perf_counter() - started, 6)),
            (f"{prefix}Failed", "Count", 0 if exc is None else 1),
        ]
        props = {**props, **_error_properties(exc), "Runner": type(runner).__name__}
        doc = emf.document(settings.namespace, {"Project": runner.env.project}, metrics, props)
        sink.write_line(emf.dumps(doc), settings)
    except Exception as error:
        sink.logger.warning("ml2p-metrics: cannot build a metrics line: %s", error)


@hookimpl(tryfirst=True)
def ml2p_setup(predictor: Any) -> None:
    sink.settings()


@hookimpl(wrapper=True, tryfirst=True)
def ml2p_result(predictor: Any, data: Any) -> Generator[None, Any, Any]:
    if _in_batch.get() is predictor:
        return (yield)
    settings = sink.settings()
    started = time.perf_counter()
    try:
        result = yield
    except BaseException as exc:
        _emit_invocation(settings, predictor, started, exc)
        raise
    _emit_invocation(settings, predictor, started, None)
    return result


@hookimpl(wrapper=True, tryfirst=True)
def ml2p_batch_result(predictor: Any, data: list[Any]) -> Generator[None, Any, Any]:
    settings = sink.settings()
    size = len(data) if hasattr(data, "__len__") else None
    started = time.perf_counter()
    token = _in_batch.set(predictor)
    try:
        result = yield
    except BaseException as exc:
        _emit_invocation(settings, predictor, started, exc, size)
        raise
    finally:
        _in_batch.reset(token)
    _emit_invocation(settings, predictor, started, None, size)
    return result


def _timed_run(runner: Any, prefix: str, props: dict[str, Any]) -> Generator[None, Any, Any]:
    """The body of the train and generate wrappers: time the run, emit one line, pass it on."""
    settings = sink.settings()
    started = time.perf_counter()
    try:
        result = yield
    except BaseException as exc:
        _emit_run(settings, runner, prefix, started, exc, props)
        raise
    _emit_run(settings, runner, prefix, started, None, props)
    return result


@hookimpl(wrapper=True, tryfirst=True)
def ml2p_train(trainer: Any) -> Generator[None, Any, Any]:
    props = {"TrainingJob": trainer.env.training_job_name}
    return (yield from _timed_run(trainer, "Training", props))


@hookimpl(wrapper=True, tryfirst=True)
def ml2p_generate(generator: Any) -> Generator[None, Any, Any]:
    props = {"Dataset": generator.env.dataset_name}
    return (yield from _timed_run(generator, "Generation", props))
