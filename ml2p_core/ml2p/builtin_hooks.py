"""The built-in plugin: the model's own methods, as hook implementations.

Registered by :func:`ml2p.plugins.make_plugin_manager` under the name
:data:`ml2p.plugins.BUILTIN_PLUGIN` with ``trylast=True``, so each of these
is the innermost implementation that plugins wrap. In the order of
:mod:`ml2p.hookspecs`; ``ml2p_cli_commands`` has no built-in implementation.
"""

from __future__ import annotations

from typing import Any

from ml2p import lifecycle
from ml2p.hookspecs import hookimpl


@hookimpl(trylast=True)
def ml2p_setup(predictor: Any) -> None:
    predictor.setup()


@hookimpl(trylast=True)
def ml2p_teardown(predictor: Any) -> None:
    predictor.teardown()


@hookimpl(trylast=True)
def ml2p_generate(generator: Any) -> Any:
    return generator.generate()


@hookimpl(trylast=True)
def ml2p_train(trainer: Any) -> Any:
    return trainer.train()


@hookimpl(trylast=True)
def ml2p_checkpoint(trainer: Any) -> None:
    trainer.checkpoint()


@hookimpl(trylast=True)
def ml2p_result(predictor: Any, data: Any) -> Any:
    return predictor.result(data)


@hookimpl(trylast=True)
def ml2p_batch_result(predictor: Any, data: list[Any]) -> list[Any]:
    return lifecycle.results_per_datum(predictor, data)


@hookimpl(trylast=True)
def ml2p_record_invoke_id(predictor: Any, datum: Any, prediction: Any) -> Any:
    return predictor.record_invoke_id(datum, prediction)
