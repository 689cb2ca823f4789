"""Every hook call ML2P makes, phase by phase.

This module is where the hooks of :mod:`ml2p.hookspecs` are called, in the
same order: setup and teardown, generate, train, predict, record, and the
command line. Each function calls one hook through the plugin manager of the
object it is given (:attr:`ml2p.core.ModelPredictor.plugin_manager`, which its
host handed it; see :mod:`ml2p.plugin_host`), so that every plugin of that
manager wraps the model's own method, and no other's.

Who calls what: the server calls :func:`setup` in each worker before it
answers ``/ping`` and :func:`teardown` when it stops; ``ml2p-docker`` (and
``ml2p local``) call :func:`generate`, or :func:`train` and, on SIGTERM,
:func:`checkpoint`; :meth:`~ml2p.core.ModelPredictor.invoke` and
:meth:`~ml2p.core.ModelPredictor.batch_invoke` call :func:`result` and
:func:`batch_result`; the ``ml2p`` command calls :func:`add_cli_commands`.
Tests and scripts call them too, to run an object as ML2P would.

The ``ml2p_record_invoke_id`` hook is called through :func:`record_id_parts`
when a record is made (:mod:`ml2p.recording`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ml2p.core import ModelDatasetGenerator, ModelPredictor, ModelTrainer
    from ml2p.plugins import PluginManager

# -- Setup and teardown -------------------------------------------------------------


def setup(predictor: ModelPredictor) -> None:
    """Set a predictor up through the ``ml2p_setup`` hook."""
    predictor.plugin_manager.hook.ml2p_setup(predictor=predictor)


def teardown(predictor: ModelPredictor) -> None:
    """Tear a predictor down through the ``ml2p_teardown`` hook."""
    predictor.plugin_manager.hook.ml2p_teardown(predictor=predictor)


# -- Generate -----------------------------------------------------------------------


def generate(generator: ModelDatasetGenerator) -> Any:
    """Generate a dataset through the ``ml2p_generate`` hook; return what it returns."""
    return generator.plugin_manager.hook.ml2p_generate(generator=generator)


# -- Train --------------------------------------------------------------------------


def train(trainer: ModelTrainer) -> Any:
    """Train through the ``ml2p_train`` hook; return what it returns."""
    return trainer.plugin_manager.hook.ml2p_train(trainer=trainer)


def checkpoint(trainer: ModelTrainer) -> None:
    """Save a trainer's checkpoint through the ``ml2p_checkpoint`` hook."""
    trainer.plugin_manager.hook.ml2p_checkpoint(trainer=trainer)


# -- Predict ------------------------------------------------------------------------


def result(predictor: ModelPredictor, data: Any) -> Any:
    """Return the prediction for one datum, made through the ``ml2p_result`` hook."""
    return predictor.plugin_manager.hook.ml2p_result(predictor=predictor, data=data)


def batch_result(predictor: ModelPredictor, data: list[Any]) -> Any:
    """Return the predictions for a batch, made through the ``ml2p_batch_result`` hook.

    The hook's value is returned as it is: the caller checks that it holds
    one prediction per datum.
    """
    return predictor.plugin_manager.hook.ml2p_batch_result(predictor=predictor, data=data)


def results_per_datum(predictor: ModelPredictor, data: list[Any]) -> list[Any]:
    """Return the predictions for a batch, one ``ml2p_result`` call per datum.

    What the built-in ``ml2p_batch_result`` does when a plugin implements
    ``ml2p_result`` alone (see
    :meth:`ml2p.plugins.PluginManager.per_datum_result_caller`): plugins that
    also implement ``ml2p_batch_result`` have seen the batch already and are
    left out. When no plugin needs it, the model's ``batch_result`` gets the
    batch in one call.
    """
    per_datum = predictor.plugin_manager.per_datum_result_caller()
    if per_datum is None:
        return predictor.batch_result(data)
    return [per_datum(predictor=predictor, data=datum) for datum in data]


# -- Record -----------------------------------------------------------------------


def record_id_parts(predictor: ModelPredictor, datum: Any, prediction: Any) -> list[Any]:
    """Return the parts of a record's id, through the ``ml2p_record_invoke_id`` hook.

    In order: the model's own (:meth:`~ml2p.core.ModelPredictor.record_invoke_id`,
    the built-in implementation), then every plugin's in registration order;
    :func:`ml2p.record_ids.merge_parts` makes the id of them. Called by
    :class:`ml2p.recording.RecordingPlan` only when a plugin implements the
    hook: otherwise the model's method is the id.
    """
    parts = predictor.plugin_manager.hook.ml2p_record_invoke_id(
        predictor=predictor, datum=datum, prediction=prediction
    )
    # pluggy returns the built-in (trylast) part last and the others newest
    # first: the model's part first, then registration order.
    return parts[-1:] + parts[-2::-1] if parts else []


# -- Command line -------------------------------------------------------------------


def add_cli_commands(plugin_manager: PluginManager, cli: Any) -> None:
    """Let the plugins of ``plugin_manager`` add commands to ``cli`` (``ml2p_cli_commands``)."""
    plugin_manager.hook.ml2p_cli_commands.call_historic(kwargs={"cli": cli})
