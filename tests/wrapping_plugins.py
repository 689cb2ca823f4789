"""A project plugin that wraps the model's predictions and training.

Its wrappers let the model's own exceptions pass through, except when asked
to fail themselves (``{"fail": "wrapper"}``) or to turn the model's
ZeroDivisionError into an error of their own (``{"convert": true}``): only
then did this plugin raise.
"""

from __future__ import annotations

from ml2p import hookimpl


@hookimpl(wrapper=True)
def ml2p_result(predictor, data):
    if isinstance(data, dict) and data.get("fail") == "wrapper":
        raise RuntimeError("the wrapper refused")
    try:
        return (yield)
    except ZeroDivisionError as exc:
        if isinstance(data, dict) and data.get("convert"):
            raise LookupError("converted by the wrapper") from exc
        raise


@hookimpl(wrapper=True)
def ml2p_train(trainer):
    return (yield)
