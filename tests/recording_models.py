"""Models and a plugin naming records every way ML2P allows (``tests.recording_models``).

Importable by the server subprocess: serve ``tests.recording_models.OwnIdModel`` and
so on, and register this module as a project plugin (``ML2P_PROJECT_PLUGINS``)
for its ``ml2p_record_invoke_id`` hook.

* :class:`OwnIdPredictor` overrides ``record_invoke_id``: the default id, then ``x``;
* :class:`OwnRecordInvokePredictor` overrides ``record_invoke`` and passes each
  datum on to the default one (it counts the calls in ``calls``);
* :class:`OwnInvokePredictor` and :class:`OwnBatchInvokePredictor` override
  ``invoke`` or ``batch_invoke`` and pass the call on to the default one;
* the plugin hook adds ``region`` (the datum's, or ``none``) after the model's id.
"""

from __future__ import annotations

from ml2p import hookimpl
from ml2p.core import Model
from tests.serving_models import ScalePredictor


@hookimpl
def ml2p_record_invoke_id(predictor, datum, prediction):
    region = datum.get("region", "none") if isinstance(datum, dict) else "none"
    return [("region", region)]


class OwnIdPredictor(ScalePredictor):
    def record_invoke_id(self, datum, prediction):
        return {**super().record_invoke_id(datum, prediction), "x": datum["x"]}


class OwnRecordInvokePredictor(ScalePredictor):
    calls = 0

    def record_invoke(self, datum, prediction):
        type(self).calls += 1
        return super().record_invoke(datum, prediction)


class OwnInvokePredictor(ScalePredictor):
    def invoke(self, data):
        return super().invoke(data)


class OwnBatchInvokePredictor(ScalePredictor):
    def batch_invoke(self, data):
        return super().batch_invoke(data)


class PlainModel(Model):
    PREDICTOR = ScalePredictor


class OwnIdModel(Model):
    PREDICTOR = OwnIdPredictor


class OwnRecordInvokeModel(Model):
    PREDICTOR = OwnRecordInvokePredictor


class OwnInvokeModel(Model):
    PREDICTOR = OwnInvokePredictor


class OwnBatchInvokeModel(Model):
    PREDICTOR = OwnBatchInvokePredictor
