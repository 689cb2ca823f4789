"""The hook implementations of ml2p-validate (the ``ml2p-validate`` entry point).

* ``ml2p_setup`` (wrapper): checks ``ML2P_VALIDATE_SCHEMA`` before the model
  loads, and compiles the predictor's schema once it has loaded, so a bad
  schema fails the setup (the server never reports healthy) rather than
  every request.
* ``ml2p_result`` (wrapper): checks one datum before the prediction.
* ``ml2p_batch_result`` (wrapper): checks every datum of a batch once, before
  the prediction. Because this plugin implements both hooks, ML2P keeps the
  model's batch path (``batch_result``) and does not call this plugin's
  ``ml2p_result`` per datum; if another plugin does, the data are not
  checked a second time.

Invalid input raises :class:`ml2p.errors.ClientError` (HTTP 400) and the
model is not called.
"""

from __future__ import annotations

import contextvars
from collections.abc import Generator
from typing import Any

from ml2p import hookimpl
from ml2p_validate import report, schemas

# The predictor whose batch this context has already checked.
_checked_batch: contextvars.ContextVar[Any | None] = contextvars.ContextVar(
    "ml2p_validate_checked_batch", default=None
)


@hookimpl(wrapper=True)
def ml2p_setup(predictor: Any) -> Generator[None, Any, Any]:
    schemas.env_schema()
    result = yield
    # The model folder (and any input_schema set by setup()) is final now.
    schemas.forget(predictor)
    schemas.schema_for(predictor)
    return result


@hookimpl(wrapper=True)
def ml2p_result(predictor: Any, data: Any) -> Generator[None, Any, Any]:
    if _checked_batch.get() is not predictor:
        compiled = schemas.schema_for(predictor)
        if compiled is not None:
            report.check_datum(compiled, data)
    return (yield)


@hookimpl(wrapper=True)
def ml2p_batch_result(predictor: Any, data: list[Any]) -> Generator[None, Any, Any]:
    compiled = schemas.schema_for(predictor)
    if compiled is not None:
        report.check_batch(compiled, data)
    token = _checked_batch.set(predictor)
    try:
        return (yield)
    finally:
        _checked_batch.reset(token)
