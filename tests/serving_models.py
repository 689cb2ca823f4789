"""Models for the server tests, importable by the server subprocess (``tests.serving_models``).

Behaviour is steered by files and environment variables so one model
covers several tests:

* ``SERVING_SETUP_SLEEP``: seconds ``setup`` sleeps (default 0);
* ``SERVING_SETUP_FAIL``: if set, ``setup`` raises ``RuntimeError`` with it;
* ``SERVING_TEARDOWN_MARKER``: a path ``teardown`` writes ``torn down`` to.
"""

from __future__ import annotations

import math
import os
import time

from ml2p.core import Model, ModelDatasetGenerator, ModelPredictor, ModelTrainer
from ml2p.errors import APIError, ClientError


class ScalePredictor(ModelPredictor):
    """Answers ``{"y": 2 * x}``; a few special inputs exercise the server's error paths.

    ``{"x": n}`` with a finite number ``n`` is a normal input;
    ``{"sleep": s}`` sleeps ``s`` seconds (a slow, CPU-blocking prediction
    when ``"spin": true``); ``{"fail": "client"}`` raises ClientError(422),
    ``{"fail": "api"}`` APIError(503), ``{"fail": "crash"}`` ZeroDivisionError;
    ``{"fail": "nan"}`` returns a result JSON cannot carry; ``{"pid": true}``
    answers the worker's process id. Anything else is
    rejected with a ClientError (400).
    """

    def setup(self):
        delay = float(os.environ.get("SERVING_SETUP_SLEEP", "0"))
        if delay:
            time.sleep(delay)
        message = os.environ.get("SERVING_SETUP_FAIL")
        if message:
            raise RuntimeError(message)
        self.factor = 2

    def teardown(self):
        marker = os.environ.get("SERVING_TEARDOWN_MARKER")
        if marker:
            with open(marker, "a") as f:
                f.write(f"torn down {os.getpid()}\n")

    def result(self, data):
        if isinstance(data, list):
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
                return {"sum": sum(data), "count": len(data)}
            raise ClientError("a row must hold numbers only")
        if not isinstance(data, dict):
            raise ClientError("expected an object")
        if "sleep" in data:
            return self._sleep(data)
        if data.get("pid") is True:
            return {"pid": os.getpid()}
        fail = data.get("fail")
        if fail == "client":
            raise ClientError("rejected on purpose", status_code=422, details={"field": "fail"})
        if fail == "api":
            raise APIError("unavailable on purpose", status_code=503)
        if fail == "crash":
            return 1 / 0
        if fail == "nan":
            return {"y": float("nan")}
        x = data.get("x")
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ClientError("'x' must be a number")
        if not math.isfinite(x) or abs(x) > 1e100:
            raise ClientError("'x' is out of range")
        return {"y": self.factor * x}

    def _sleep(self, data):
        seconds = data["sleep"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ClientError("'sleep' must be a number")
        end = time.monotonic() + min(float(seconds), 30.0)
        if data.get("spin"):
            # CPU-bound: holds the GIL but for the interpreter's switch interval.
            while time.monotonic() < end:
                sum(range(1000))
        else:
            time.sleep(max(0.0, end - time.monotonic()))
        return {"slept": seconds}


class ScaleModel(Model):
    PREDICTOR = ScalePredictor


class BrokenPredictorModel(Model):
    PREDICTOR = None


class FailingTrainer(ModelTrainer):
    def train(self):
        raise ValueError(f"bad training data: {os.environ.get('SERVING_FAIL_DETAIL', 'none')}")


class FailingGenerator(ModelDatasetGenerator):
    def generate(self):
        raise ValueError("source table is empty")


class FailingModel(Model):
    TRAINER = FailingTrainer
    DATASET_GENERATOR = FailingGenerator
