"""Hook specifications: what a plugin can implement.

A plugin is a module (or any object) with functions marked ``@hookimpl``
whose names are the hooks below. ML2P ships the model's own behaviour as the
built-in plugin ``ml2p.builtin`` (see :mod:`ml2p.builtin_hooks`), registered
through these same hooks with ``trylast=True``, so the model's own method is
always the innermost implementation and every other plugin can:

* **wrap** it with ``@hookimpl(wrapper=True)``: code before ``yield`` runs
  first, ``yield`` returns the inner result (or raises the inner exception),
  and the wrapper returns the value the caller sees (or raises);
* **replace** it, for ``firstresult`` hooks, by returning a value that is not
  ``None`` from a plain implementation: the chain stops there and the model's
  own method is not called (a cache, say);
* **add** to it, for hooks whose results are collected (``ml2p_setup``,
  ``ml2p_teardown``, ``ml2p_record_invoke_id``).

The hooks are listed in the order of a model's life: setup and teardown,
generate, train, predict, record, then the command line. Each is called from
one function of :mod:`ml2p.lifecycle`, through the plugin manager of the
object it runs: the one the program running the model built for it (see
:mod:`ml2p.plugin_host`).

Hook arguments are passed by keyword; an implementation may accept any
subset of a hook's parameters. All hooks are new in ML2P 0.7.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Union

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from ml2p.core import ModelDatasetGenerator, ModelPredictor, ModelTrainer

PROJECT_NAME = "ml2p"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: What an ``ml2p_record_invoke_id`` implementation may return.
RecordIdParts = Union[Mapping[str, Any], Iterable[tuple[str, Any]]]


# -----------------------------------------------------------------------------
# Setup and teardown: once when a predictor starts, once when it stops
# -----------------------------------------------------------------------------


@hookspec
def ml2p_setup(predictor: ModelPredictor) -> None:
    """Prepare ``predictor`` to answer invocations.

    Called once per predictor, by :func:`ml2p.lifecycle.setup` (in the
    server: once in every worker, before it answers ``/ping`` with 200). The
    built-in implementation calls ``predictor.setup()``, which loads the model.

    :param predictor: The :class:`ml2p.core.ModelPredictor` being set up.
    :returns: Ignored.

    All implementations are called. The built-in one runs last, so a plain
    implementation runs *before* the model is loaded; to act after it, use a
    wrapper and do the work after ``yield``. An exception from any
    implementation fails the setup, and the server does not become healthy.

    .. versionadded:: 0.7
    """


@hookspec
def ml2p_teardown(predictor: ModelPredictor) -> None:
    """Release what ``ml2p_setup`` acquired.

    Called once per predictor when it stops, by :func:`ml2p.lifecycle.teardown`
    (in the server: on SIGTERM, after in-flight requests are answered). The
    built-in implementation calls ``predictor.teardown()``.

    :param predictor: The :class:`ml2p.core.ModelPredictor` being torn down.
    :returns: Ignored.

    All implementations are called; the built-in one runs last.

    .. versionadded:: 0.7
    """


# -----------------------------------------------------------------------------
# Generate: a dataset generation job
# -----------------------------------------------------------------------------


@hookspec(firstresult=True)
def ml2p_generate(generator: ModelDatasetGenerator) -> Any | None:
    """Generate a dataset.

    Called by :func:`ml2p.lifecycle.generate`, once per dataset generation
    job. The built-in implementation calls ``generator.generate()`` and
    returns its value.

    :param generator: The :class:`ml2p.core.ModelDatasetGenerator` to run.
    :returns: Whatever ``generator.generate()`` returns (usually ``None``).

    ``firstresult``: a plain implementation that returns something other than
    ``None`` stops the call, and ``generator.generate()`` is not called.

    .. versionadded:: 0.7
    """


# -----------------------------------------------------------------------------
# Train: a training job, and SIGTERM while it runs
# -----------------------------------------------------------------------------


@hookspec(firstresult=True)
def ml2p_train(trainer: ModelTrainer) -> Any | None:
    """Train a model.

    Called by :func:`ml2p.lifecycle.train`, once per training job. The
    built-in implementation calls ``trainer.train()`` and returns its
    value. Wrappers observe or change the outcome (time it, log it, turn an
    exception into another); exceptions fail the training job, and
    ``ml2p-docker train`` writes them to ``output/failure``.

    :param trainer: The :class:`ml2p.core.ModelTrainer` to run.
    :returns: Whatever ``trainer.train()`` returns (usually ``None``).

    ``firstresult``: a plain implementation that returns something other than
    ``None`` stops the call, and ``trainer.train()`` is not called.

    .. versionadded:: 0.7
    """


@hookspec
def ml2p_checkpoint(trainer: ModelTrainer) -> None:
    """Save what ``trainer`` needs to resume, because its job is being stopped.

    Called by :func:`ml2p.lifecycle.checkpoint` when the training process
    gets SIGTERM, which SageMaker sends 120
    seconds before it kills the container: when it reclaims a spot instance,
    when the job reaches its maximum runtime, and on ``ml2p training-job stop``.
    The built-in implementation calls ``trainer.checkpoint()``, which writes to
    ``trainer.env.checkpoint_folder()``; with ``train.spot`` SageMaker copies
    that folder to S3 and back into a restarted job, where ``train()`` resumes
    from it. Training then ends with
    :class:`ml2p.checkpoints.TrainingInterrupted`.

    :param trainer: The :class:`ml2p.core.ModelTrainer` being stopped.
    :returns: Ignored.

    All implementations are called; the built-in one runs last. They run on the
    main thread, between two Python statements of the training code, so save
    state that is whole at any point (the last finished epoch, say). An
    exception is reported in ``output/failure``.

    .. versionadded:: 0.7
    """


# -----------------------------------------------------------------------------
# Predict: every invocation (invoke, batch_invoke, the server's /invocations)
# -----------------------------------------------------------------------------


@hookspec(firstresult=True)
def ml2p_result(predictor: ModelPredictor, data: Any) -> Any:
    """Make the prediction for one datum.

    Called by :func:`ml2p.lifecycle.result` for
    :meth:`ml2p.core.ModelPredictor.invoke`, and by
    :func:`ml2p.lifecycle.results_per_datum` for
    :meth:`~ml2p.core.ModelPredictor.batch_invoke`, for every datum of a batch
    when a plugin implements this hook but not ``ml2p_batch_result`` (so
    wrapping this hook alone covers batches too). The built-in
    implementation returns ``predictor.result(data)``.

    :param predictor: The :class:`ml2p.core.ModelPredictor` invoked.
    :param data: The input datum (the decoded JSON object).
    :returns: The prediction (JSON-serialisable).

    ``firstresult``: the first implementation to return something other than
    ``None`` provides the prediction, and the inner ones, the model's
    included, are not called: that is how a cache short-circuits the model.
    A wrapper may raise :class:`ml2p.errors.ClientError` to reject the input
    (the server answers with its status, 400 by default).

    .. versionadded:: 0.7
    """


@hookspec(firstresult=True)
def ml2p_batch_result(predictor: ModelPredictor, data: list[Any]) -> list[Any]:
    """Make the predictions for a batch of data.

    Called by :func:`ml2p.lifecycle.batch_result` for
    :meth:`ml2p.core.ModelPredictor.batch_invoke`. The built-in
    implementation keeps the batch-level path whenever it can: if no plugin
    needs a per-datum ``ml2p_result`` call it returns
    ``predictor.batch_result(data)`` in one call; otherwise it calls the
    ``ml2p_result`` hook once per datum, leaving out the plugins that also
    implement this hook (they have already seen the whole batch here).

    :param predictor: The :class:`ml2p.core.ModelPredictor` invoked.
    :param data: The list of input data.
    :returns: One prediction per datum, in order.

    ``firstresult``: as for ``ml2p_result``. A plugin that implements both
    hooks keeps the model's batch path: it is called once per batch here
    rather than once per datum.

    .. versionadded:: 0.7
    """


# -----------------------------------------------------------------------------
# Record: every invocation recorded (env.record_invokes)
# -----------------------------------------------------------------------------


@hookspec
def ml2p_record_invoke_id(
    predictor: ModelPredictor, datum: Any, prediction: Any
) -> RecordIdParts | None:
    """Add key-value pairs to the id of an invocation record.

    Called when an invocation is recorded (``env.record_invokes``; see
    :meth:`ml2p.core.ModelPredictor.record_invoke`), once per datum.

    The record of an invocation is stored at
    ``predictions/<model_version>/<id>.json``, where ``<id>`` joins each
    key and value with ``-`` and the pairs with ``--``. The built-in
    implementation contributes ``predictor.record_invoke_id(datum,
    prediction)`` (``ts`` and ``uuid`` by default); the pairs of every other
    implementation follow, in registration order.

    :param predictor: The :class:`ml2p.core.ModelPredictor` invoked.
    :param datum: The input datum.
    :param prediction: The full prediction made for it, as ``invoke``
        returns it: ``{"metadata": {...}, "result": ...}`` (for a batch, the
        datum's own prediction).
    :returns: An ordered mapping or a sequence of ``(key, value)`` pairs, or
        ``None`` to add nothing.

    All implementations are called. Keys and values are used as ``str()``
    writes them, except that every ``/``, control character and dot of a
    ``..`` run becomes ``_`` (see :func:`ml2p.record_ids.safe_part`); a key
    already used keeps its first value. An id too long for an S3 key is
    shortened and ends with a hash of the whole id
    (:func:`ml2p.record_ids.record_key`).

    .. versionadded:: 0.7
    """


# -----------------------------------------------------------------------------
# Command line: the ml2p command
# -----------------------------------------------------------------------------


@hookspec(historic=True)
def ml2p_cli_commands(cli: Any) -> None:
    """Add commands to the ``ml2p`` command line.

    Called by :func:`ml2p.lifecycle.add_cli_commands` when ``ml2p`` is asked
    for a command that is not built in, once per run of ``ml2p``.

    :param cli: A :class:`click.Group` for this run of ``ml2p``: the
        commands added to it (``cli.add_command(...)`` or ``@cli.command()``)
        are the run's plugin commands; one named like a built-in command is
        ignored, with a warning.
    :returns: Ignored.

    Called for every plugin, including one registered with the run's plugin
    manager after the call (``historic``).

    .. versionadded:: 0.7
    """
