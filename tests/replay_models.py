"""Two versions of one model for the replay tests (importable by server subprocesses).

Version B answers as version A does except on known inputs: ``x == 3``
(``y`` up by 1.5), ``x == 7`` (``y`` down by 4) and ``x == 5`` (``label``
changes). Both say how many data their call got (``n``), so that a batch
replayed as the same batch answers with the same ``n``.
"""

from __future__ import annotations

from ml2p.core import Model, ModelPredictor

CHANGED_Y = {3: 1.5, 7: -4.0}
CHANGED_LABEL = {5: "five"}


class VersionA(ModelPredictor):
    def answer(self, datum, n):
        x = datum["x"] if isinstance(datum, dict) else datum[0]
        return {"y": 2 * x, "label": "even" if x % 2 == 0 else "odd", "n": n}

    def result(self, data):
        return self.answer(data, 1)

    def batch_result(self, data):
        return [self.answer(datum, len(data)) for datum in data]


class VersionB(VersionA):
    def answer(self, datum, n):
        out = super().answer(datum, n)
        x = datum["x"] if isinstance(datum, dict) else datum[0]
        out["y"] += CHANGED_Y.get(x, 0)
        out["label"] = CHANGED_LABEL.get(x, out["label"])
        return out


class ModelA(Model):
    PREDICTOR = VersionA


class ModelB(Model):
    PREDICTOR = VersionB
